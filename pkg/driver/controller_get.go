package driver

import (
	"context"

	"github.com/container-storage-interface/spec/lib/go/csi"

	"github.com/cinder-csi/cinder-csi-driver/pkg/cinder"
)

// ControllerGetVolume returns the volume and the nodes it is published to.
func (d *Driver) ControllerGetVolume(ctx context.Context, req *csi.ControllerGetVolumeRequest) (*csi.ControllerGetVolumeResponse, error) {
	v, err := d.getVolumeChecked(ctx, req.GetVolumeId())
	if err != nil {
		return nil, err
	}
	return &csi.ControllerGetVolumeResponse{Volume: d.csiVolume(v, nil, volumeParams{}),
		Status: &csi.ControllerGetVolumeResponse_VolumeStatus{PublishedNodeIds: v.Nodes()}}, nil
}

func (d *Driver) getVolumeChecked(ctx context.Context, id string) (*cinder.Volume, error) {
	if id == "" {
		return nil, invalid("volume_id is required")
	}
	if err := checkID("volume_id", id); err != nil {
		return nil, err
	}
	v, err := d.deps.Cloud.GetVolume(ctx, id)
	if err != nil {
		return nil, toStatus(err, "getting volume %s", id)
	}
	return v, nil
}
