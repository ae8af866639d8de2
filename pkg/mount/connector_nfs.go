package mount

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	mountutils "k8s.io/mount-utils"
)

// DriverVolumeTypeNFS is the driver_volume_type of Cinder's NFS (and other remotefs)
// drivers. Its data names a share and a file in it: {"export": "host:/path", "name":
// "volume-<id>", "format": "raw", "mount_point_base": "/var/lib/cinder/mnt"}.
const DriverVolumeTypeNFS = "nfs"

// NFSConnector exposes a volume file on an NFS share as a loop device: a raw file
// directly, a qcow2 image (what Cinder makes the active file once a volume has a
// snapshot) through a qemu export. It does not mount shares: the share must already be
// mounted where os-brick would mount it, <mount base>/<md5 hex of the export>, as on a
// host that also runs cinder-volume or that mounts the share by other means.
type NFSConnector struct {
	loop      *LoopDevices
	mountBase string
	qcow2     *QemuExports
	mounts    mountutils.Interface
}

var _ Connector = (*NFSConnector)(nil)

// NewNFSConnector returns a connector finding shares under mountBase, or, when
// mountBase is empty, under the mount_point_base Cinder reports (right when the node
// shares cinder-volume's mounts). It attaches qcow2 images through qemu exports kept
// under DefaultStateDir; WithQemuExports changes that.
func NewNFSConnector(loop *LoopDevices, mountBase string) *NFSConnector {
	return &NFSConnector{loop: loop, mountBase: mountBase, qcow2: NewQemuExports(loop.exec, loop, DefaultStateDir),
		mounts: mountutils.NewWithoutSystemd("")}
}

// WithMounter makes the connector mount shares through m (tests pass a FakeMounter).
func (n *NFSConnector) WithMounter(m mountutils.Interface) *NFSConnector {
	n.mounts = m
	return n
}

// WithQemuExports makes the connector attach qcow2 images through q, or refuse them
// (ErrUnsupported) when q is nil. Call it before the connector is used.
func (n *NFSConnector) WithQemuExports(q *QemuExports) *NFSConnector {
	n.qcow2 = q
	return n
}

func (n *NFSConnector) Connect(ctx context.Context, volumeID string, data map[string]any) (string, error) {
	export, _ := data["export"].(string)
	name, _ := data["name"].(string)
	if export == "" || name == "" {
		return "", fmt.Errorf("%w: nfs connection data of volume %s needs string \"export\" and \"name\"", ErrInvalidArgument, volumeID)
	}
	format, _ := data["format"].(string)
	if isSnapshotOverlay(volumeID, name) {
		// Cinder's GET /attachments/{id} reports the format the volume was created
		// with (its admin metadata), not the active image's: a repeated publish
		// would map a qcow2 overlay as raw. An overlay is qcow2 by construction.
		format = "qcow2"
	}
	switch {
	case format == "" || format == "raw":
	case format == "qcow2" && n.qcow2 != nil:
	default:
		return "", fmt.Errorf("%w: volume %s is a %s image on its NFS share; this node attaches: %s",
			ErrUnsupported, volumeID, format, n.formats())
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
	if err := n.ensureShare(export, share, data); err != nil {
		return "", fmt.Errorf("%w: NFS share %s of volume %s is not available at %s: %v", ErrDeviceNotFound, export, volumeID, share, err)
	}
	if format == "qcow2" {
		return n.qcow2.Attach(ctx, volumeID, path)
	}
	return attachVolumeFile(ctx, n.loop, volumeID, path)
}

// ensureShare mounts the export at share unless something is mounted there already
// (another volume of the share, or cinder-volume on the same host): shares are
// shared, so they are mounted once and left mounted, as os-brick does.
func (n *NFSConnector) ensureShare(export, share string, data map[string]any) error {
	notMounted, err := n.mounts.IsLikelyNotMountPoint(share)
	if err == nil && !notMounted {
		return nil
	}
	if err != nil && !os.IsNotExist(err) {
		return err
	}
	if err := os.MkdirAll(share, 0o750); err != nil {
		return err
	}
	return n.mounts.Mount(export, share, "nfs", nfsOptions(data))
}

// nfsOptions turns Cinder's "options" (nfs_mount_options, e.g. "-o vers=4.1,proto=tcp")
// into mount options.
func nfsOptions(data map[string]any) []string {
	raw, _ := data["options"].(string)
	raw = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(raw), "-o"))
	var out []string
	for _, o := range strings.Split(raw, ",") {
		if o = strings.TrimSpace(o); o != "" {
			out = append(out, o)
		}
	}
	return out
}

// Disconnect detaches both kinds: the format the volume had is not known any more.
func (n *NFSConnector) Disconnect(ctx context.Context, volumeID string) error {
	err := detachVolumeFiles(ctx, n.loop, volumeID)
	if n.qcow2 != nil {
		err = errors.Join(err, n.qcow2.Detach(ctx, volumeID))
	}
	return err
}

func (n *NFSConnector) formats() string {
	if n.qcow2 == nil {
		return "raw"
	}
	return "raw, qcow2"
}

// shareDirName is os-brick's directory name for a share: the MD5 hex digest of the
// export string. MD5 here names a directory; it protects nothing.
func shareDirName(export string) string {
	sum := md5.Sum([]byte(export))
	return hex.EncodeToString(sum[:])
}

// snapshotOverlayRE matches the active image Cinder's RemoteFS drivers make when they
// snapshot a volume: "volume-<volume id>.<snapshot id>", always a qcow2 file backed by
// the previous image (the volume's own file, "volume-<volume id>", keeps its format).
var snapshotOverlayRE = regexp.MustCompile(`^volume-([0-9a-f-]{36})\.[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

// isSnapshotOverlay reports whether name is a snapshot overlay of this volume. The
// name, not the file's content, decides: a raw volume's guest can write a qcow2 header.
func isSnapshotOverlay(volumeID, name string) bool {
	m := snapshotOverlayRE.FindStringSubmatch(name)
	return m != nil && m[1] == volumeID
}
