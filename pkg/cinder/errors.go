package cinder

import "errors"

// Sentinel errors returned (wrapped) by every Cloud and Attacher implementation.
// pkg/driver maps them to gRPC codes in exactly one place.
var (
	// ErrNotFound: the volume, snapshot, backup, attachment or server does not exist.
	ErrNotFound = errors.New("not found")
	// ErrInvalidState: the resource exists but its state forbids the operation
	// (an in-use volume to delete, a volume with snapshots, a volume still creating).
	ErrInvalidState = errors.New("invalid state")
	// ErrAttachedElsewhere: a volume that is not multiattach is attached to another node.
	ErrAttachedElsewhere = errors.New("attached to another node")
	// ErrQuotaExceeded: the project's quota does not allow the operation (HTTP 413).
	ErrQuotaExceeded = errors.New("quota exceeded")
	// ErrAttachLimit: the server has as many disks as Nova allows
	// ([compute] max_disk_devices_to_attach; HTTP 403 TooManyDiskDevices).
	ErrAttachLimit = errors.New("attach limit reached")
	// ErrInvalidInput: Cinder rejected a parameter (HTTP 400), for example an unknown
	// volume type or availability zone.
	ErrInvalidInput = errors.New("invalid input")
	// ErrBackend: the operation was accepted but the resource ended in an error state
	// (for example a volume in "error" after create, or "error_extending").
	ErrBackend = errors.New("backend failed the operation")
	// ErrUnavailable: the cloud could not be reached or answered 5xx/429 past retries.
	ErrUnavailable = errors.New("cloud unavailable")
	// ErrNotSupported: the cloud or backend cannot do this at all (for example online
	// extension on a backend that only extends detached volumes).
	ErrNotSupported = errors.New("not supported")
)
