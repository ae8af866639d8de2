package cinder

import (
	"context"
	"fmt"

	"github.com/gophercloud/gophercloud/v2/openstack/blockstorage/v3/limits"
)

// GetLimits implements Cloud.
func (c *Client) GetLimits(ctx context.Context) (*Limits, error) {
	l, err := limits.Get(ctx, c.cinder(mvCinderBase)).Extract()
	if err != nil {
		return nil, fmt.Errorf("get block-storage limits: %w", mapError(err))
	}
	return &Limits{
		// Cinder already says -1 for "unlimited", which is our convention too.
		MaxTotalGiB:  l.Absolute.MaxTotalVolumeGigabytes,
		UsedTotalGiB: l.Absolute.TotalGigabytesUsed,
	}, nil
}
