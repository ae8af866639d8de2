package driver

import (
	"context"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"k8s.io/klog/v2"
)

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
		size, err := d.deps.Mounter.DeviceSize(ctx, a.volumePath)
		if err != nil {
			return nil, toStatus(err, "getting the size of block volume %s", a.volumeID)
		}
		return &csi.NodeExpandVolumeResponse{CapacityBytes: size}, nil
	}
	device, err := d.deps.Mounter.DeviceForMount(a.volumePath)
	if err != nil {
		return nil, toStatus(err, "finding the device mounted at %s", a.volumePath)
	}
	grown, err := d.deps.Mounter.ResizeFS(ctx, device, a.volumePath)
	if err != nil {
		return nil, toStatus(d.nodeFailed("expand", "filesystem", "resize", err), "growing the filesystem of volume %s on %s", a.volumeID, device)
	}
	size, err := d.deps.Mounter.DeviceSize(ctx, device)
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
