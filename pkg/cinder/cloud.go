package cinder

import "context"

// Cloud is the block-storage API the controller needs. Every method is a whole
// operation and returns errors wrapping this package's sentinels.
type Cloud interface {
	// CreateVolume creates a volume and returns it once it is available. The wait is
	// bounded by ctx. A volume that ends in an error state is deleted and ErrBackend is
	// returned. Cinder names are not unique: callers serialise creates per name.
	CreateVolume(ctx context.Context, opts CreateVolumeOpts) (*Volume, error)
	// GetVolume returns ErrNotFound for a missing volume.
	GetVolume(ctx context.Context, id string) (*Volume, error)
	// FindVolumesByName returns every volume with exactly this name (maybe none).
	FindVolumesByName(ctx context.Context, name string) ([]Volume, error)
	// FindVolumesByMetadata returns every volume whose metadata holds all of md: one
	// filtered query, however many volumes the project has.
	FindVolumesByMetadata(ctx context.Context, md map[string]string) ([]Volume, error)
	// ListVolumes returns one page and the marker of the next page ("" at the end).
	// An unknown marker is ErrInvalidInput.
	ListVolumes(ctx context.Context, opts ListOpts) ([]Volume, string, error)
	// DeleteVolume deletes a volume and waits until it is gone; a missing volume is
	// not an error. A volume still being made is waited for first. An attached volume
	// or one with snapshots is ErrInvalidState. A volume left in the temporary group
	// of an unfinished group snapshot is taken out of it first.
	DeleteVolume(ctx context.Context, id string) error
	// ExpandVolume grows volume v (as just read by the caller) to sizeGiB and waits
	// until Cinder reports the new size. An in-use volume needs online extension
	// (microversion 3.42). A backend that fails it leaves the volume in
	// error_extending: ErrBackend is returned.
	ExpandVolume(ctx context.Context, v *Volume, sizeGiB int) (*Volume, error)
	// RetypeVolume changes the volume type (migration on demand) and waits for it.
	RetypeVolume(ctx context.Context, id, volumeType string) (*Volume, error)

	// CreateSnapshot makes a snapshot and returns it once available, or after a
	// brief wait (about 2 s) still "creating".
	CreateSnapshot(ctx context.Context, name, volumeID string, metadata map[string]string) (*Snapshot, error)
	// GetSnapshot returns ErrNotFound for a missing snapshot.
	GetSnapshot(ctx context.Context, id string) (*Snapshot, error)
	// ListSnapshots returns one page of snapshots and the next marker.
	ListSnapshots(ctx context.Context, opts SnapshotListOpts) ([]Snapshot, string, error)
	// DeleteSnapshot deletes a snapshot and waits until it is gone (one still being
	// made is waited for first); a missing one is not an error.
	DeleteSnapshot(ctx context.Context, id string) error

	// CreateBackup starts a backup of a volume and returns at once.
	CreateBackup(ctx context.Context, name, volumeID string, metadata map[string]string) (*Snapshot, error)
	// GetBackup returns ErrNotFound for a missing backup.
	GetBackup(ctx context.Context, id string) (*Snapshot, error)
	// ListBackups returns one page of backups and the next marker.
	ListBackups(ctx context.Context, opts SnapshotListOpts) ([]Snapshot, string, error)
	// DeleteBackup deletes a backup and waits until it is gone (one still being made
	// is waited for first); a missing one is not an error.
	DeleteBackup(ctx context.Context, id string) error

	// GetLimits returns the project's gigabyte limits.
	GetLimits(ctx context.Context) (*Limits, error)
}

// Node is where Attach attaches a volume. ID is the node as Detach and
// AttachedVolumes know it: a Nova server UUID, or a host name on the Cinder
// attachments path, where IP and Initiator describe the node to the backend in the
// attachment's connector (backends that export per initiator or address use them).
type Node struct {
	ID string
	// IP is the node's address; empty sends 127.0.0.1.
	IP string
	// Initiator is the node's iSCSI initiator name; empty when it has none.
	Initiator string
}

// Attacher attaches volumes to nodes. There are two implementations: Nova (the node
// ID is a Nova instance UUID) and Cinder attachments without Nova (the node ID is a
// host name and the node reaches the volume through the returned connection info).
type Attacher interface {
	// Attach attaches the volume to the node and waits until Cinder shows it attached.
	// v is the volume as the caller just read it (GetVolume), which spares a read.
	// It is idempotent: an existing attachment to this node is returned as is.
	// A missing volume or node is ErrNotFound; a non-multiattach volume attached to
	// another node is ErrAttachedElsewhere.
	Attach(ctx context.Context, v *Volume, node Node) (*Attachment, error)
	// Detach removes the node's attachment and waits until it is gone. A missing
	// volume, node or attachment is not an error.
	Detach(ctx context.Context, volumeID, nodeID string) error
	// AttachedVolumes lists the IDs of the volumes attached to the node through this
	// path, so the controller can enforce the node's attach limit. A missing node is
	// ErrNotFound (Nova) or simply has none (Cinder attachments). An attacher may
	// answer from what it already knows; fresh asks it to read the cloud (before a
	// refusal that rests on the answer).
	AttachedVolumes(ctx context.Context, nodeID string, fresh bool) ([]string, error)
}

// GroupSnapshotter makes group snapshots: a Cinder group snapshot of a temporary
// generic volume group (microversions 3.13/3.14). Its members are ordinary Cinder
// snapshots, named after it, which restore like any other but are deleted only with it.
type GroupSnapshotter interface {
	// GroupType resolves a group type by ID or name; "" is Cinder's default group
	// type. A missing one is ErrNotFound.
	GroupType(ctx context.Context, nameOrID string) (*GroupType, error)
	// CreateGroupSnapshot returns the group snapshot named opts.Name once Cinder
	// has cut it, making whatever is missing: it is idempotent by name and resumes
	// an interrupted create. A failed cut is cleaned up and is ErrBackend. Volumes
	// that Cinder cannot group (other backends, types the group type lacks, busy
	// states) are ErrInvalidInput or ErrInvalidState.
	CreateGroupSnapshot(ctx context.Context, opts GroupSnapshotOpts) (*GroupSnapshot, error)
	// GetGroupSnapshot returns a group snapshot with its members; ErrNotFound if missing.
	GetGroupSnapshot(ctx context.Context, id string) (*GroupSnapshot, error)
	// DeleteGroupSnapshot deletes a group snapshot, its members and its group, and
	// waits until they are gone; a missing one is not an error.
	DeleteGroupSnapshot(ctx context.Context, id string) error
}
