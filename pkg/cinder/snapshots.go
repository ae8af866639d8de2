package cinder

import (
	"context"
	"fmt"
	"time"

	"github.com/gophercloud/gophercloud/v2/openstack/blockstorage/v3/snapshots"
)

// CreateSnapshot implements Cloud. Force lets Cinder snapshot an in-use volume,
// which is the normal case for a CSI snapshot; the data is crash-consistent.
func (c *Client) CreateSnapshot(ctx context.Context, name, volumeID string, metadata map[string]string) (*Snapshot, error) {
	var made *Snapshot
	_, err := c.createOnce(ctx, "snapshot "+name, func(ctx context.Context) (string, error) {
		s, err := snapshots.Create(ctx, c.cinder(mvCinderBase), snapshots.CreateOpts{
			VolumeID: volumeID,
			Name:     name,
			Force:    true,
			Metadata: metadata,
		}).Extract()
		if err != nil {
			return "", mapError(err)
		}
		made = snapshotFrom(s)
		return s.ID, nil
	}, func(ctx context.Context) (string, error) {
		found, _, err := c.ListSnapshots(ctx, SnapshotListOpts{Name: name, VolumeID: volumeID})
		id := newest(found, func(s Snapshot) time.Time { return s.CreatedAt }, func(s Snapshot) string { return s.ID })
		for i := range found {
			if found[i].ID == id {
				made = &found[i]
			}
		}
		return id, err
	})
	if err != nil {
		return nil, fmt.Errorf("create snapshot %q of volume %s: %w", name, volumeID, err)
	}
	// Settled after the brief wait, which gives an interrupted create's snapshot
	// time to show (volumes_settle.go).
	made, err = c.settleSnapshot(ctx, c.briefWaitSnapshot(ctx, made))
	if err != nil {
		return nil, fmt.Errorf("create snapshot %q of volume %s: %w", name, volumeID, err)
	}
	return made, nil
}

// briefWaitSnapshot returns s once available or failed, or as last seen when
// snapshotWait ends (a slow snapshot: the snapshotter calls again); a failed check
// leaves s as it was.
func (c *Client) briefWaitSnapshot(ctx context.Context, s *Snapshot) *Snapshot {
	if s == nil || s.Ready() || s.Failed() {
		return s
	}
	ctx, cancel := context.WithTimeout(ctx, c.snapshotWait)
	defer cancel()
	_ = c.waitAfterRequest(ctx, kindCreateSnapshot, "snapshot "+s.ID+" to become available", func(ctx context.Context) (bool, string, error) {
		got, err := c.GetSnapshot(ctx, s.ID)
		if err != nil {
			return true, "", nil // not worth failing a create that worked: the next call sees it
		}
		s = got
		return s.Ready() || s.Failed(), "status " + s.Status, nil
	})
	return s
}

// GetSnapshot implements Cloud.
func (c *Client) GetSnapshot(ctx context.Context, id string) (*Snapshot, error) {
	s, err := snapshots.Get(ctx, c.cinder(mvSnapshotRead), id).Extract()
	if err != nil {
		return nil, fmt.Errorf("get snapshot %s: %w", id, mapError(err))
	}
	return snapshotFrom(s), nil
}

// ListSnapshots implements Cloud.
func (c *Client) ListSnapshots(ctx context.Context, opts SnapshotListOpts) ([]Snapshot, string, error) {
	pager := snapshots.ListDetail(c.cinder(mvSnapshotRead), snapshots.ListOpts{
		Name: opts.Name, VolumeID: opts.VolumeID, Marker: opts.Marker, Limit: opts.Limit,
	})
	snaps, next, err := firstPage(ctx, pager, opts.Limit, snapshots.ExtractSnapshots, func(s snapshots.Snapshot) string { return s.ID })
	if err != nil {
		return nil, "", fmt.Errorf("list snapshots: %w", mapError(err))
	}
	out := make([]Snapshot, len(snaps))
	for i := range snaps {
		out[i] = *snapshotFrom(&snaps[i])
	}
	return out, next, nil
}

// DeleteSnapshot implements Cloud.
func (c *Client) DeleteSnapshot(ctx context.Context, id string) error {
	return c.deleteWhole(ctx, kindDeleteSnapshot, "snapshot "+id, func(ctx context.Context) (string, error) {
		s, err := c.GetSnapshot(ctx, id)
		if err != nil {
			return "", err
		}
		return s.Status, nil
	}, func(ctx context.Context) error {
		if err := snapshots.Delete(ctx, c.cinder(mvCinderBase), id).ExtractErr(); err != nil {
			return fmt.Errorf("delete snapshot %s: %w", id, mapError(err))
		}
		return nil
	})
}

func snapshotFrom(s *snapshots.Snapshot) *Snapshot {
	return &Snapshot{
		ID:        s.ID,
		Name:      s.Name,
		VolumeID:  s.VolumeID,
		Status:    s.Status,
		SizeGiB:   s.Size,
		CreatedAt: s.CreatedAt,
		Metadata:  s.Metadata,

		GroupSnapshotID: s.GroupSnapshotID,
	}
}
