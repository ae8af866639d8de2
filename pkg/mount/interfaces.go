package mount

import "context"

// Stats are a filesystem's or block device's usage figures.
type Stats struct {
	TotalBytes, AvailableBytes, UsedBytes int64
	TotalInodes, FreeInodes, UsedInodes   int64
	// Block is true for a raw block device: only TotalBytes is meaningful.
	Block bool
}

// Mounter changes and inspects the host's mounts. Every method is idempotent.
type Mounter interface {
	// FormatAndMount formats device with fsType when it holds no filesystem and mounts
	// it at target (created if missing). formatOptions go to mkfs.
	//
	// ctx, in this and the other methods that run filesystem tools (ResizeFS,
	// GrowUnmounted): once it has ended no tool is started and the method returns
	// its error; probes (dumpe2fs, losetup) are killed with it. A tool that writes
	// the filesystem (mkfs, e2fsck -p, resize2fs, xfs_growfs) runs to its end once
	// started: killed half-way it leaves a filesystem that is neither the old one
	// nor the new, which the retry would then meet.
	FormatAndMount(ctx context.Context, device, target, fsType string, mountOptions, formatOptions []string) error
	// BindMount bind-mounts source at target, read-only if asked. target is created as
	// a directory, or as an empty file when source is not a directory (raw block).
	BindMount(source, target string, readOnly bool, mountOptions []string) error
	// Unmount unmounts target if it is mounted and removes it. A missing target is not
	// an error.
	Unmount(target string) error
	// IsMountPoint reports whether path is a mount point; a missing path is false, nil.
	IsMountPoint(path string) (bool, error)
	// DeviceForMount returns the source device mounted at path (error if not mounted).
	DeviceForMount(path string) (string, error)
	// ResizeFS grows the filesystem on device mounted at mountPath to the device's size,
	// when it is smaller. It reports whether it grew anything.
	ResizeFS(ctx context.Context, device, mountPath string) (bool, error)
	// GrowUnmounted grows an ext filesystem on an unmounted device to the device's size
	// (fsck, then resize2fs offline) and reports whether it grew. Other filesystems and
	// blank devices are left alone: they grow mounted, through ResizeFS.
	GrowUnmounted(ctx context.Context, device string) (bool, error)
	// FSStats returns usage of the filesystem holding path.
	FSStats(path string) (*Stats, error)
	// DeviceSize returns a block device's size in bytes.
	DeviceSize(ctx context.Context, device string) (int64, error)
	// MountRefs returns the other mount points of what is mounted at path (the bind
	// mounts of a staged volume), path itself excluded; for a block device node, the
	// places where that node is bind-mounted (raw block publishes).
	MountRefs(path string) ([]string, error)
	// PathExists reports whether a path exists; a corrupt (stale) mount counts as
	// existing with a non-nil error.
	PathExists(path string) (bool, error)
}

// Attachment is what the node knows of an attached volume: the controller's
// publish context, as the driver parsed it.
type Attachment struct {
	// DevicePath is the hypervisor's name for the disk (Nova path). A hint only:
	// the disk is found by the volume ID.
	DevicePath string
	// DriverVolumeType and Data are Cinder's connection_info (Cinder attachments
	// path): Data as decoded from JSON, numbers as json.Number, credentials
	// included.
	DriverVolumeType string
	Data             map[string]any
}

// DeviceLocator turns an attachment into a local block device and back.
type DeviceLocator interface {
	// Connect returns the block device of the volume, making it appear when this
	// locator must (a loop device for a file). Idempotent; bounded by ctx.
	Connect(ctx context.Context, volumeID string, att Attachment) (string, error)
	// Disconnect undoes what Connect made for the volume, deriving what to undo from
	// the system (not from memory), so it also works after a restart. Idempotent.
	Disconnect(ctx context.Context, volumeID string) error
}
