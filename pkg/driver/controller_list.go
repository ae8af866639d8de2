package driver

import (
	"context"

	"github.com/container-storage-interface/spec/lib/go/csi"

	"github.com/cinder-csi/cinder-csi-driver/pkg/cinder"
)

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
