package cinder

import (
	"context"
	"fmt"
	"time"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack/blockstorage/v3/backups"
	"k8s.io/klog/v2"
)

// CreateBackup implements Cloud. Force backs up an in-use volume (crash-consistent);
// a full backup keeps every backup independent, so any one can be deleted.
func (c *Client) CreateBackup(ctx context.Context, name, volumeID string, metadata map[string]string) (*Snapshot, error) {
	id, err := c.createOnce(ctx, "backup "+name, func(ctx context.Context) (string, error) {
		created, err := backups.Create(ctx, c.cinder(mvBackupMetadata), backups.CreateOpts{
			VolumeID:    volumeID,
			Name:        name,
			Force:       true,
			Incremental: false,
			Metadata:    metadata,
		}).Extract()
		if err != nil {
			return "", mapError(err)
		}
		return created.ID, nil
	}, func(ctx context.Context) (string, error) {
		found, _, err := c.ListBackups(ctx, SnapshotListOpts{Name: name, VolumeID: volumeID})
		return newest(found, func(s Snapshot) time.Time { return s.CreatedAt }, func(s Snapshot) string { return s.ID }), err
	})
	if err != nil {
		return nil, fmt.Errorf("create backup %q of volume %s: %w", name, volumeID, err)
	}
	// Cinder answers a create with the ID and name only; read the rest.
	b, err := c.GetBackup(ctx, id)
	if err != nil {
		klog.V(4).InfoS("Could not read a backup just created; returning what is known", "snapshotID", id, "err", err)
		return &Snapshot{ID: id, Name: name, VolumeID: volumeID, Status: StatusCreating, Metadata: metadata, IsBackup: true}, nil
	}
	return b, nil
}

// GetBackup implements Cloud.
func (c *Client) GetBackup(ctx context.Context, id string) (*Snapshot, error) {
	b, err := backups.Get(ctx, c.cinder(mvBackupMetadata), id).Extract()
	if err != nil {
		return nil, fmt.Errorf("get backup %s: %w", id, mapError(err))
	}
	return backupFrom(b), nil
}

// backupListOpts adds the name and volume filters that gophercloud's
// backups.ListDetailOpts lacks; Cinder accepts them on /backups/detail.
type backupListOpts struct {
	Name     string `q:"name"`
	VolumeID string `q:"volume_id"`
	Limit    int    `q:"limit"`
	Marker   string `q:"marker"`
}

func (o backupListOpts) ToBackupListDetailQuery() (string, error) {
	q, err := gophercloud.BuildQueryString(o)
	if err != nil {
		return "", err
	}
	return q.String(), nil
}

// ListBackups implements Cloud.
func (c *Client) ListBackups(ctx context.Context, opts SnapshotListOpts) ([]Snapshot, string, error) {
	pager := backups.ListDetail(c.cinder(mvBackupMetadata), backupListOpts{
		Name: opts.Name, VolumeID: opts.VolumeID, Limit: opts.Limit, Marker: opts.Marker,
	})
	list, next, err := firstPage(ctx, pager, opts.Limit, backups.ExtractBackups, func(b backups.Backup) string { return b.ID })
	if err != nil {
		return nil, "", fmt.Errorf("list backups: %w", mapError(err))
	}
	out := make([]Snapshot, len(list))
	for i := range list {
		out[i] = *backupFrom(&list[i])
	}
	return out, next, nil
}

// DeleteBackup implements Cloud.
func (c *Client) DeleteBackup(ctx context.Context, id string) error {
	return c.deleteWhole(ctx, kindDeleteBackup, "backup "+id, func(ctx context.Context) (string, error) {
		b, err := c.GetBackup(ctx, id)
		if err != nil {
			return "", err
		}
		return b.Status, nil
	}, func(ctx context.Context) error {
		if err := backups.Delete(ctx, c.cinder(mvCinderBase), id).ExtractErr(); err != nil {
			return fmt.Errorf("delete backup %s: %w", id, mapError(err))
		}
		return nil
	})
}

func backupFrom(b *backups.Backup) *Snapshot {
	s := &Snapshot{
		ID:        b.ID,
		Name:      b.Name,
		VolumeID:  b.VolumeID,
		Status:    b.Status,
		SizeGiB:   b.Size,
		CreatedAt: b.CreatedAt,
		IsBackup:  true,
	}
	if b.Metadata != nil {
		s.Metadata = *b.Metadata
	}
	return s
}
