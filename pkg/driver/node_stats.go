package driver

import (
	"context"
	"os"

	"github.com/container-storage-interface/spec/lib/go/csi"
)

// isBlockTarget reports whether path is a device file (a published raw block volume).
func isBlockTarget(path string) bool {
	st, err := os.Stat(path)
	return err == nil && st.Mode()&os.ModeDevice != 0
}

// existing returns NotFound when path is not there, as the CSI spec asks.
func (d *Driver) existing(field, path string) error {
	ok, err := d.deps.Mounter.PathExists(path)
	if err != nil {
		return toStatus(err, "checking %s %s", field, path)
	}
	if !ok {
		return notFound("%s %s does not exist: is the volume published there?", field, path)
	}
	return nil
}

// NodeGetVolumeStats reports bytes and inodes of a filesystem volume, or the size of a
// raw block volume.
func (d *Driver) NodeGetVolumeStats(ctx context.Context, req *csi.NodeGetVolumeStatsRequest) (*csi.NodeGetVolumeStatsResponse, error) {
	a, err := validateVolumePath(req.GetVolumeId(), req.GetVolumePath(), req.GetStagingTargetPath())
	if err != nil {
		return nil, err
	}
	if err := d.existing("volume_path", a.volumePath); err != nil {
		return nil, err
	}
	if isBlockTarget(a.volumePath) {
		size, err := d.deps.Mounter.DeviceSize(ctx, a.volumePath)
		if err != nil {
			return nil, toStatus(err, "getting the size of block volume %s", a.volumeID)
		}
		return &csi.NodeGetVolumeStatsResponse{Usage: []*csi.VolumeUsage{{Unit: csi.VolumeUsage_BYTES, Total: size}}}, nil
	}
	s, err := d.deps.Mounter.FSStats(a.volumePath)
	if err != nil {
		return nil, toStatus(err, "getting filesystem stats of volume %s at %s", a.volumeID, a.volumePath)
	}
	return &csi.NodeGetVolumeStatsResponse{Usage: []*csi.VolumeUsage{
		{Unit: csi.VolumeUsage_BYTES, Total: s.TotalBytes, Available: s.AvailableBytes, Used: s.UsedBytes},
		{Unit: csi.VolumeUsage_INODES, Total: s.TotalInodes, Available: s.FreeInodes, Used: s.UsedInodes},
	}}, nil
}
