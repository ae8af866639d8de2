package driver

import (
	"context"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"k8s.io/klog/v2"
)

// ControllerModifyVolume applies a VolumeAttributesClass: a new volume type is a
// Cinder retype, migrating the data when the backend must.
func (d *Driver) ControllerModifyVolume(ctx context.Context, req *csi.ControllerModifyVolumeRequest) (*csi.ControllerModifyVolumeResponse, error) {
	if req.GetVolumeId() == "" {
		return nil, invalid("volume_id is required")
	}
	volumeType, err := parseMutableParams(req.GetMutableParameters())
	if err != nil {
		return nil, err
	}
	if err := checkID("volume_id", req.GetVolumeId()); err != nil {
		return nil, err
	}
	id := req.GetVolumeId()
	unlock, err := d.lockVolume(id)
	if err != nil {
		return nil, err
	}
	defer unlock()
	vol, err := d.deps.Cloud.GetVolume(ctx, id)
	if err != nil {
		return nil, toStatus(err, "getting volume %s", id)
	}
	if volumeType != "" && vol.VolumeType != volumeType {
		if _, err := d.deps.Cloud.RetypeVolume(ctx, id, volumeType); err != nil {
			return nil, toStatus(err, "retyping volume %s from %q to %q", id, vol.VolumeType, volumeType)
		}
		klog.InfoS("Retyped volume", "volumeID", id, "from", vol.VolumeType, "to", volumeType)
	}
	return &csi.ControllerModifyVolumeResponse{}, nil
}
