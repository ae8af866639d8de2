package driver

import (
	"context"
	"fmt"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"

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
