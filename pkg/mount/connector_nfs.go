package mount

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
)

// DriverVolumeTypeNFS is the driver_volume_type of Cinder's NFS (and other remotefs)
// drivers. Its data names a share and a file in it: {"export": "host:/path", "name":
// "volume-<id>", "format": "raw", "mount_point_base": "/var/lib/cinder/mnt"}.
const DriverVolumeTypeNFS = "nfs"

// NFSConnector exposes a raw volume file on an NFS share as a loop device. It does not
// mount shares: the share must already be mounted where os-brick would mount it,
// <mount base>/<md5 hex of the export>, as on a host that also runs cinder-volume or
// that mounts the share by other means.
type NFSConnector struct {
	loop      *LoopDevices
	mountBase string
}

var _ Connector = (*NFSConnector)(nil)

// NewNFSConnector returns a connector finding shares under mountBase, or, when
// mountBase is empty, under the mount_point_base Cinder reports (right when the node
// shares cinder-volume's mounts).
func NewNFSConnector(loop *LoopDevices, mountBase string) *NFSConnector {
	return &NFSConnector{loop: loop, mountBase: mountBase}
}

func (n *NFSConnector) Connect(ctx context.Context, volumeID string, data map[string]any) (string, error) {
	export, _ := data["export"].(string)
	name, _ := data["name"].(string)
	if export == "" || name == "" {
		return "", fmt.Errorf("%w: nfs connection data of volume %s needs string \"export\" and \"name\"", ErrInvalidArgument, volumeID)
	}
	if format, _ := data["format"].(string); format != "" && format != "raw" {
		// A qcow2 image (Cinder switches to qcow2 overlays once a volume has a
		// snapshot) needs a qemu export, not a loop device.
		return "", fmt.Errorf("%w: volume %s is a %s image on its NFS share; only raw images can be attached",
			ErrUnsupported, volumeID, format)
	}
	base := n.mountBase
	if base == "" {
		base, _ = data["mount_point_base"].(string)
	}
	if !filepath.IsAbs(base) || filepath.Clean(base) != base {
		return "", fmt.Errorf("%w: NFS mount base %q of volume %s must be absolute and clean", ErrInvalidArgument, base, volumeID)
	}
	share := filepath.Join(base, shareDirName(export))
	path := filepath.Join(share, name)
	if filepath.Dir(path) != share {
		return "", fmt.Errorf("%w: nfs volume name %q of volume %s is not a plain file name", ErrInvalidArgument, name, volumeID)
	}
	if err := checkVolumeFile(volumeID, path); err != nil {
		return "", err
	}
	if _, err := os.Stat(share); err != nil {
		return "", fmt.Errorf("%w: NFS share %s of volume %s is not available at %s (this node plugin does not mount shares): %v",
			ErrDeviceNotFound, export, volumeID, share, err)
	}
	return attachVolumeFile(ctx, n.loop, volumeID, path)
}

func (n *NFSConnector) Disconnect(ctx context.Context, volumeID string) error {
	return detachVolumeFiles(ctx, n.loop, volumeID)
}

// shareDirName is os-brick's directory name for a share: the MD5 hex digest of the
// export string. MD5 here names a directory; it protects nothing.
func shareDirName(export string) string {
	sum := md5.Sum([]byte(export))
	return hex.EncodeToString(sum[:])
}
