package mount

import "errors"

// Sentinel errors returned (wrapped with %w) by the Mounter and DeviceLocator
// implementations of this package. pkg/driver maps them to gRPC codes with errors.Is,
// so it never has to parse messages or import k8s.io/mount-utils.
var (
	// ErrInvalidArgument: the caller handed something malformed: an empty volume ID, a
	// publish context without the keys the locator needs, connection data that is not
	// a JSON object, a volume file path that is relative, unclean or not the volume's.
	ErrInvalidArgument = errors.New("invalid argument")
	// ErrUnsupported: the request is well formed but this node cannot serve it, for
	// example a Cinder driver_volume_type without a connector.
	ErrUnsupported = errors.New("unsupported")
	// ErrDeviceNotFound: the volume's block device did not appear on this node in
	// time, or what it is made from is missing: its backing file or share, the device
	// handed to FormatAndMount, a BindMount source.
	ErrDeviceNotFound = errors.New("device not found")
	// ErrNotMounted: a path that must be a mount point is not one.
	ErrNotMounted = errors.New("not mounted")
	// ErrMountConflict: the target is already mounted, but not the way the caller asked
	// (another device, or read-write where read-only was asked, or the reverse).
	ErrMountConflict = errors.New("mounted differently")
	// ErrFilesystemMismatch: the device already holds a filesystem of another type than
	// the one asked for, and mounting it as the asked type failed.
	ErrFilesystemMismatch = errors.New("filesystem type mismatch")
	// ErrFilesystemCorrupt: fsck found errors on the device it could not correct.
	ErrFilesystemCorrupt = errors.New("filesystem has uncorrectable errors")
	// ErrFormatFailed: mkfs (or the probe for an existing filesystem) failed.
	ErrFormatFailed = errors.New("format failed")
	// ErrUnformattedReadOnly: the device holds no filesystem and a read-only mount was
	// asked, so it cannot be formatted.
	ErrUnformattedReadOnly = errors.New("unformatted device cannot be mounted read-only")
)
