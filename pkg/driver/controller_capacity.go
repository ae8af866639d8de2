package driver

import (
	"context"

	"github.com/container-storage-interface/spec/lib/go/csi"
)

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
