package driver

import (
	"context"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"k8s.io/klog/v2"
)

// ControllerExpandVolume grows the Cinder volume; the node then grows the filesystem.
func (d *Driver) ControllerExpandVolume(ctx context.Context, req *csi.ControllerExpandVolumeRequest) (*csi.ControllerExpandVolumeResponse, error) {
	a, err := validateControllerExpand(req)
	if err != nil {
		return nil, err
	}
	unlock, err := d.lockVolume(a.volumeID)
	if err != nil {
		return nil, err
	}
	defer unlock()
	vol, err := d.deps.Cloud.GetVolume(ctx, a.volumeID)
	if err != nil {
		return nil, toStatus(err, "getting volume %s", a.volumeID)
	}
	if vol.SizeGiB < a.sizeGiB {
		if len(vol.Attachments) > 0 && !d.opts.ExpandInUse {
			return nil, failedPrecondition("volume %s is attached to %v and this cloud's backend cannot extend attached volumes (--expand-in-use=false): it is extended once detached",
				a.volumeID, vol.Nodes())
		}
		if vol, err = d.deps.Cloud.ExpandVolume(ctx, vol, a.sizeGiB); err != nil {
			return nil, toStatus(err, "expanding volume %s to %d GiB", a.volumeID, a.sizeGiB)
		}
		klog.InfoS("Expanded volume", "volumeID", a.volumeID, "sizeGiB", vol.SizeGiB)
	}
	return &csi.ControllerExpandVolumeResponse{CapacityBytes: int64(vol.SizeGiB) * gib, NodeExpansionRequired: !a.block}, nil
}
