package driver

import (
	"context"
	"os"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"k8s.io/klog/v2"
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
		size, err := d.deps.Mounter.DeviceSize(a.volumePath)
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

// NodeGetVolumeHealth checks the paths it is given: a missing or stale mount makes the
// volume INACCESSIBLE from this node. Without paths nothing is known to be wrong.
func (d *Driver) NodeGetVolumeHealth(ctx context.Context, req *csi.NodeGetVolumeHealthRequest) (*csi.NodeGetVolumeHealthResponse, error) {
	if err := checkVolumeID(req.GetVolumeId()); err != nil {
		return nil, err
	}
	h := &csi.VolumeHealth{VolumeId: req.GetVolumeId()}
	for _, p := range []struct{ field, path string }{
		{"volume_publish_path", req.GetVolumePublishPath()}, {"staging_target_path", req.GetStagingTargetPath()},
	} {
		if p.path == "" {
			continue
		}
		if err := checkPath(p.field, p.path); err != nil {
			return nil, err
		}
		if msg := d.pathProblem(p.path); msg != "" {
			h.HealthStatuses = append(h.HealthStatuses, &csi.VolumeHealth_VolumeHealthEntry{
				Status: csi.VolumeHealthErrorType_INACCESSIBLE, Reason: "NotMounted", Message: p.field + " " + p.path + ": " + msg})
		}
	}
	return &csi.NodeGetVolumeHealthResponse{VolumeHealth: h}, nil
}

func (d *Driver) pathProblem(path string) string {
	ok, err := d.deps.Mounter.PathExists(path)
	switch {
	case err != nil:
		return "stale or corrupt mount: " + err.Error()
	case !ok:
		return "does not exist"
	}
	mounted, err := d.deps.Mounter.IsMountPoint(path)
	if err != nil {
		return err.Error()
	}
	if !mounted {
		return "is not a mount point"
	}
	return ""
}

// NodeExpandVolume grows the filesystem to the (already grown) device.
func (d *Driver) NodeExpandVolume(ctx context.Context, req *csi.NodeExpandVolumeRequest) (*csi.NodeExpandVolumeResponse, error) {
	a, err := validateVolumePath(req.GetVolumeId(), req.GetVolumePath(), req.GetStagingTargetPath())
	if err != nil {
		return nil, err
	}
	if c := req.GetVolumeCapability(); c != nil {
		if _, err := parseCapability(c); err != nil {
			return nil, err
		}
	}
	unlock, err := d.lockNodeVolume(a.volumeID)
	if err != nil {
		return nil, err
	}
	defer unlock()
	if err := d.existing("volume_path", a.volumePath); err != nil {
		return nil, err
	}
	if isBlockTarget(a.volumePath) || req.GetVolumeCapability().GetBlock() != nil {
		size, err := d.deps.Mounter.DeviceSize(a.volumePath)
		if err != nil {
			return nil, toStatus(err, "getting the size of block volume %s", a.volumeID)
		}
		return &csi.NodeExpandVolumeResponse{CapacityBytes: size}, nil
	}
	device, err := d.deps.Mounter.DeviceForMount(a.volumePath)
	if err != nil {
		return nil, toStatus(err, "finding the device mounted at %s", a.volumePath)
	}
	grown, err := d.deps.Mounter.ResizeFS(device, a.volumePath)
	if err != nil {
		return nil, toStatus(d.nodeFailed("expand", "filesystem", "resize", err), "growing the filesystem of volume %s on %s", a.volumeID, device)
	}
	size, err := d.deps.Mounter.DeviceSize(device)
	if err != nil {
		return nil, toStatus(err, "getting the size of %s", device)
	}
	if want := req.GetCapacityRange().GetRequiredBytes(); want > size {
		return nil, failedPrecondition("device %s of volume %s is %s, smaller than the requested %s: the cloud has not grown it yet; retry",
			device, a.volumeID, fmtBytes(size), fmtBytes(want))
	}
	klog.InfoS("Expanded filesystem", "volumeID", a.volumeID, "device", device, "grown", grown, "bytes", size)
	return &csi.NodeExpandVolumeResponse{CapacityBytes: size}, nil
}
