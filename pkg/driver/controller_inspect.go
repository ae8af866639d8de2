package driver

import (
	"context"
	"fmt"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/status"

	"github.com/cinder-csi/cinder-csi-driver/pkg/cinder"
)

// stuckAfter is how long a volume may sit in reserved/attaching/detaching before it is
// reported abnormal: Nova and Cinder finish these in seconds when healthy.
const stuckAfter = 5 * time.Minute

// volumeHealth reports a volume's health as CSI VolumeHealth entries: none when
// healthy, INACCESSIBLE when Cinder reports an error state, DEGRADED when an
// attachment looks stuck.
func volumeHealth(v *cinder.Volume, now time.Time) *csi.VolumeHealth {
	h := &csi.VolumeHealth{VolumeId: v.ID}
	switch {
	case v.Failed():
		h.HealthStatuses = append(h.HealthStatuses, &csi.VolumeHealth_VolumeHealthEntry{
			Status: csi.VolumeHealthErrorType_INACCESSIBLE, Reason: "CinderErrorState",
			Message: fmt.Sprintf("Cinder reports the volume as %q", v.Status)})
	case v.InFlight():
		if !v.UpdatedAt.IsZero() && now.Sub(v.UpdatedAt) > stuckAfter {
			h.HealthStatuses = append(h.HealthStatuses, &csi.VolumeHealth_VolumeHealthEntry{
				Status: csi.VolumeHealthErrorType_DEGRADED, Reason: "AttachmentStuck",
				Message: fmt.Sprintf("the volume has been %q since %s: the attachment looks stuck", v.Status, v.UpdatedAt.UTC().Format(time.RFC3339))})
		}
	}
	return h
}

// ControllerGetVolume returns the volume and the nodes it is published to.
func (d *Driver) ControllerGetVolume(ctx context.Context, req *csi.ControllerGetVolumeRequest) (*csi.ControllerGetVolumeResponse, error) {
	v, err := d.getVolumeChecked(ctx, req.GetVolumeId())
	if err != nil {
		return nil, err
	}
	return &csi.ControllerGetVolumeResponse{Volume: d.csiVolume(v, nil, volumeParams{}),
		Status: &csi.ControllerGetVolumeResponse_VolumeStatus{PublishedNodeIds: v.Nodes()}}, nil
}

// ControllerGetVolumeHealth reports the volume's health from Cinder's point of view.
func (d *Driver) ControllerGetVolumeHealth(ctx context.Context, req *csi.ControllerGetVolumeHealthRequest) (*csi.ControllerGetVolumeHealthResponse, error) {
	v, err := d.getVolumeChecked(ctx, req.GetVolumeId())
	if err != nil {
		return nil, err
	}
	return &csi.ControllerGetVolumeHealthResponse{VolumeHealth: volumeHealth(v, time.Now())}, nil
}

// ControllerListVolumeHealth pages through the volumes and lists the abnormal ones, as
// the spec asks: a page may hold fewer entries than max_entries, or none.
func (d *Driver) ControllerListVolumeHealth(ctx context.Context, req *csi.ControllerListVolumeHealthRequest) (*csi.ControllerListVolumeHealthResponse, error) {
	vols, next, err := d.listVolumesPage(ctx, req.GetMaxEntries(), req.GetStartingToken())
	if err != nil {
		return nil, err
	}
	now := time.Now()
	out := &csi.ControllerListVolumeHealthResponse{NextToken: next}
	for i := range vols {
		if h := volumeHealth(&vols[i], now); len(h.HealthStatuses) > 0 {
			out.Entries = append(out.Entries, h)
		}
	}
	return out, nil
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

func (d *Driver) listVolumesPage(ctx context.Context, maxEntries int32, token string) ([]cinder.Volume, string, error) {
	if err := checkMaxEntries(maxEntries); err != nil {
		return nil, "", err
	}
	_, marker, err := checkToken(token)
	if err != nil {
		return nil, "", err
	}
	vols, next, err := d.deps.Cloud.ListVolumes(ctx, cinder.ListOpts{Marker: marker, Limit: int(maxEntries)})
	if err != nil {
		return nil, "", listFailed(err, marker, token, "volume")
	}
	return vols, next, nil
}

// ListVolumes pages with Cinder markers: the token is the last volume ID of a page.
func (d *Driver) ListVolumes(ctx context.Context, req *csi.ListVolumesRequest) (*csi.ListVolumesResponse, error) {
	vols, next, err := d.listVolumesPage(ctx, req.GetMaxEntries(), req.GetStartingToken())
	if err != nil {
		return nil, err
	}
	out := &csi.ListVolumesResponse{NextToken: next}
	for i := range vols {
		out.Entries = append(out.Entries, &csi.ListVolumesResponse_Entry{Volume: d.csiVolume(&vols[i], nil, volumeParams{}),
			Status: &csi.ListVolumesResponse_VolumeStatus{PublishedNodeIds: vols[i].Nodes()}})
	}
	return out, nil
}

// ValidateVolumeCapabilities confirms the capabilities this volume can serve.
func (d *Driver) ValidateVolumeCapabilities(ctx context.Context, req *csi.ValidateVolumeCapabilitiesRequest) (*csi.ValidateVolumeCapabilitiesResponse, error) {
	if req.GetVolumeId() == "" {
		return nil, invalid("volume_id is required")
	}
	caps, err := parseCapabilities(req.GetVolumeCapabilities())
	if err != nil {
		return nil, err
	}
	if err := checkID("volume_id", req.GetVolumeId()); err != nil {
		return nil, err
	}
	v, err := d.deps.Cloud.GetVolume(ctx, req.GetVolumeId())
	if err != nil {
		return nil, toStatus(err, "getting volume %s", req.GetVolumeId())
	}
	if anyMultiNode(caps) && !v.Multiattach {
		return &csi.ValidateVolumeCapabilitiesResponse{Message: fmt.Sprintf("volume type %q is not multiattach: multi-node access modes are not possible", v.VolumeType)}, nil
	}
	if _, err := parseVolumeParams(req.GetParameters()); err != nil {
		return &csi.ValidateVolumeCapabilitiesResponse{Message: status.Convert(err).Message()}, nil
	}
	return &csi.ValidateVolumeCapabilitiesResponse{Confirmed: &csi.ValidateVolumeCapabilitiesResponse_Confirmed{
		VolumeCapabilities: req.GetVolumeCapabilities(), VolumeContext: req.GetVolumeContext(),
		Parameters: req.GetParameters(), MutableParameters: req.GetMutableParameters()}}, nil
}

// GetCapacity reports the project's remaining gigabytes quota.
func (d *Driver) GetCapacity(ctx context.Context, req *csi.GetCapacityRequest) (*csi.GetCapacityResponse, error) {
	if len(req.GetVolumeCapabilities()) > 0 {
		if _, err := parseCapabilities(req.GetVolumeCapabilities()); err != nil {
			return nil, err
		}
	}
	l, err := d.deps.Cloud.GetLimits(ctx)
	if err != nil {
		return nil, toStatus(err, "getting the project's block storage limits")
	}
	if l.MaxTotalGiB < 0 {
		// An unlimited quota: report the largest size the CSI message can carry.
		return &csi.GetCapacityResponse{AvailableCapacity: 1<<63 - 1}, nil
	}
	free := int64(l.MaxTotalGiB - l.UsedTotalGiB)
	if free < 0 {
		free = 0
	}
	return &csi.GetCapacityResponse{AvailableCapacity: free * gib}, nil
}

// ControllerGetCapabilities lists what the controller does.
func (d *Driver) ControllerGetCapabilities(context.Context, *csi.ControllerGetCapabilitiesRequest) (*csi.ControllerGetCapabilitiesResponse, error) {
	var caps []*csi.ControllerServiceCapability
	for _, t := range []csi.ControllerServiceCapability_RPC_Type{
		csi.ControllerServiceCapability_RPC_CREATE_DELETE_VOLUME,
		csi.ControllerServiceCapability_RPC_PUBLISH_UNPUBLISH_VOLUME,
		csi.ControllerServiceCapability_RPC_LIST_VOLUMES,
		csi.ControllerServiceCapability_RPC_LIST_VOLUMES_PUBLISHED_NODES,
		csi.ControllerServiceCapability_RPC_GET_VOLUME,
		csi.ControllerServiceCapability_RPC_GET_VOLUME_HEALTH,
		csi.ControllerServiceCapability_RPC_LIST_VOLUME_HEALTH,
		csi.ControllerServiceCapability_RPC_GET_SNAPSHOT,
		csi.ControllerServiceCapability_RPC_GET_CAPACITY,
		csi.ControllerServiceCapability_RPC_CREATE_DELETE_SNAPSHOT,
		csi.ControllerServiceCapability_RPC_LIST_SNAPSHOTS,
		csi.ControllerServiceCapability_RPC_CLONE_VOLUME,
		csi.ControllerServiceCapability_RPC_EXPAND_VOLUME,
		csi.ControllerServiceCapability_RPC_MODIFY_VOLUME,
		csi.ControllerServiceCapability_RPC_SINGLE_NODE_MULTI_WRITER,
	} {
		caps = append(caps, &csi.ControllerServiceCapability{Type: &csi.ControllerServiceCapability_Rpc{
			Rpc: &csi.ControllerServiceCapability_RPC{Type: t}}})
	}
	return &csi.ControllerGetCapabilitiesResponse{Capabilities: caps}, nil
}
