package cinder

import "time"

// Volume states that matter to the driver, as Cinder spells them.
const (
	StatusCreating        = "creating"
	StatusAvailable       = "available"
	StatusInUse           = "in-use"
	StatusReserved        = "reserved"
	StatusAttaching       = "attaching"
	StatusDetaching       = "detaching"
	StatusDeleting        = "deleting"
	StatusExtending       = "extending"
	StatusRetyping        = "retyping"
	StatusError           = "error"
	StatusErrorDeleting   = "error_deleting"
	StatusErrorExtending  = "error_extending"
	StatusErrorRestoring  = "error_restoring"
	StatusDownloading     = "downloading"
	StatusRestoringBackup = "restoring-backup"
	StatusBackingUp       = "backing-up"
)

// Volume is a Cinder volume as the driver sees it.
type Volume struct {
	ID               string
	Name             string
	Status           string
	SizeGiB          int
	VolumeType       string
	AvailabilityZone string
	Multiattach      bool
	SnapshotID       string
	SourceVolID      string
	BackupID         string
	Metadata         map[string]string
	Attachments      []VolumeAttachment
	CreatedAt        time.Time
	// UpdatedAt is when Cinder last changed the volume; it tells a stuck transition
	// (reserved, attaching, detaching) from one in progress.
	UpdatedAt time.Time
}

// VolumeAttachment is one entry of a volume's "attachments" list.
type VolumeAttachment struct {
	AttachmentID string
	// ServerID is the Nova instance UUID for Nova attachments; for attachments made
	// without Nova it is empty and HostName carries the node.
	ServerID string
	HostName string
	Device   string
}

// AttachedTo reports whether the volume has an attachment for node (server ID or host).
func (v *Volume) AttachedTo(node string) bool {
	for _, a := range v.Attachments {
		if a.ServerID == node || (a.ServerID == "" && a.HostName == node) {
			return true
		}
	}
	return false
}

// Nodes returns the node IDs the volume is attached to.
func (v *Volume) Nodes() []string {
	var out []string
	for _, a := range v.Attachments {
		if a.ServerID != "" {
			out = append(out, a.ServerID)
		} else if a.HostName != "" {
			out = append(out, a.HostName)
		}
	}
	return out
}

// CreateVolumeOpts describes a new volume. At most one source is set.
type CreateVolumeOpts struct {
	Name             string
	SizeGiB          int
	VolumeType       string
	AvailabilityZone string
	SnapshotID       string
	SourceVolID      string
	BackupID         string
	Metadata         map[string]string
}

// Snapshot is a Cinder snapshot, or a Cinder backup used as a snapshot.
type Snapshot struct {
	ID        string
	Name      string
	VolumeID  string
	Status    string
	SizeGiB   int
	CreatedAt time.Time
	Metadata  map[string]string
	// IsBackup is true when the object is a Cinder backup rather than a snapshot.
	IsBackup bool
	// GroupSnapshotID is set on a member of a group snapshot, which Cinder deletes
	// only with its group snapshot.
	GroupSnapshotID string
}

// Ready reports whether the snapshot (or backup) can be used as a volume source.
func (s *Snapshot) Ready() bool { return s.Status == StatusAvailable }

// Failed reports whether Cinder gave up on the snapshot (or backup).
func (s *Snapshot) Failed() bool { return s.Status == StatusError || s.Status == StatusErrorDeleting }

// ListOpts pages through a listing. Marker is the ID of the last item of the
// previous page; Limit 0 means no limit.
type ListOpts struct {
	Marker string
	Limit  int
}

// SnapshotListOpts filters and pages a snapshot listing.
type SnapshotListOpts struct {
	ListOpts
	Name     string
	VolumeID string
}

// Limits are the project's block-storage limits in GiB; MaxTotalGiB < 0 means unlimited.
type Limits struct {
	MaxTotalGiB  int
	UsedTotalGiB int
}

// ConnectionInfo is what the storage backend tells a host to reach a volume
// (Cinder's "connection_info"): a driver_volume_type and its data.
type ConnectionInfo struct {
	DriverVolumeType string         `json:"driver_volume_type"`
	Data             map[string]any `json:"data"`
}

// Attachment is the result of attaching a volume to a node.
type Attachment struct {
	VolumeID string
	NodeID   string
	// AttachmentID is the Cinder attachment ID (both paths have one).
	AttachmentID string
	// DevicePath is the hypervisor's device name (Nova path), a hint only.
	DevicePath string
	// Connection is set on the Cinder-attachments path: how the node reaches the volume.
	Connection *ConnectionInfo
}
