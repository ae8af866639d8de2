package fake

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	"github.com/cinder-csi/cinder-csi-driver/pkg/cinder"
)

func (c *Cloud) snapshotFile(s *snapshot) string {
	prefix := "snapshot-"
	if s.IsBackup {
		prefix = "backup-"
	}
	return filepath.Join(c.fileDir, prefix+s.ID)
}

// refreshLocked moves a snapshot from "creating" to "available" once its latency passed.
func (c *Cloud) refreshLocked(s *snapshot) {
	if s.Status == cinder.StatusCreating && !time.Now().Before(s.readyAt) {
		s.Status = cinder.StatusAvailable
	}
}

// CreateSnapshot returns at once with a "creating" snapshot, as Cinder does. Like
// Cinder without force, an attached volume cannot be snapshotted.
func (c *Cloud) CreateSnapshot(ctx context.Context, name, volumeID string, md map[string]string) (*cinder.Snapshot, error) {
	if err := c.enter("CreateSnapshot"); err != nil {
		return nil, err
	}
	return c.createCopy(name, volumeID, md, false)
}

// CreateBackup returns at once with a "creating" backup; attached volumes are allowed
// (Cinder's force flag).
func (c *Cloud) CreateBackup(ctx context.Context, name, volumeID string, md map[string]string) (*cinder.Snapshot, error) {
	if err := c.enter("CreateBackup"); err != nil {
		return nil, err
	}
	return c.createCopy(name, volumeID, md, true)
}

func (c *Cloud) createCopy(name, volumeID string, md map[string]string, backup bool) (*cinder.Snapshot, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	v, ok := c.volumes[volumeID]
	if !ok {
		return nil, notFound("volume", volumeID)
	}
	if v.Status != cinder.StatusAvailable && v.Status != cinder.StatusInUse {
		return nil, fmt.Errorf("volume %s is %q: %w", volumeID, v.Status, cinder.ErrInvalidState)
	}
	s := &snapshot{Snapshot: cinder.Snapshot{
		ID: NewID(), Name: name, VolumeID: volumeID, Status: cinder.StatusCreating,
		SizeGiB: v.SizeGiB, CreatedAt: time.Now(), Metadata: copyMap(md), IsBackup: backup,
	}, readyAt: time.Now().Add(c.latency)}
	if c.fileDir != "" {
		if err := copySparse(c.volumeFile(volumeID), c.snapshotFile(s)); err != nil {
			s.Status = cinder.StatusError
		}
	}
	if backup {
		c.backups[s.ID] = s
	} else {
		c.snapshots[s.ID] = s
	}
	c.refreshLocked(s)
	out := s.Snapshot
	return &out, nil
}

// SetSnapshotStatus forces a snapshot's or backup's status.
func (c *Cloud) SetSnapshotStatus(id, status string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, m := range []map[string]*snapshot{c.snapshots, c.backups} {
		if s, ok := m[id]; ok {
			s.Status, s.readyAt = status, time.Time{}
		}
	}
}

// GetSnapshot returns ErrNotFound for a missing snapshot.
func (c *Cloud) GetSnapshot(ctx context.Context, id string) (*cinder.Snapshot, error) {
	if err := c.enter("GetSnapshot"); err != nil {
		return nil, err
	}
	return c.get(c.snapshots, "snapshot", id)
}

// GetBackup returns ErrNotFound for a missing backup.
func (c *Cloud) GetBackup(ctx context.Context, id string) (*cinder.Snapshot, error) {
	if err := c.enter("GetBackup"); err != nil {
		return nil, err
	}
	return c.get(c.backups, "backup", id)
}

func (c *Cloud) get(m map[string]*snapshot, kind, id string) (*cinder.Snapshot, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	s, ok := m[id]
	if !ok {
		return nil, notFound(kind, id)
	}
	c.refreshLocked(s)
	out := s.Snapshot
	return &out, nil
}

// ListSnapshots pages through snapshots in creation order.
func (c *Cloud) ListSnapshots(ctx context.Context, o cinder.SnapshotListOpts) ([]cinder.Snapshot, string, error) {
	if err := c.enter("ListSnapshots"); err != nil {
		return nil, "", err
	}
	return c.list(c.snapshots, o)
}

// ListBackups pages through backups in creation order.
func (c *Cloud) ListBackups(ctx context.Context, o cinder.SnapshotListOpts) ([]cinder.Snapshot, string, error) {
	if err := c.enter("ListBackups"); err != nil {
		return nil, "", err
	}
	return c.list(c.backups, o)
}

func (c *Cloud) list(m map[string]*snapshot, o cinder.SnapshotListOpts) ([]cinder.Snapshot, string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var all []cinder.Snapshot
	for _, s := range m {
		c.refreshLocked(s)
		if (o.Name == "" || s.Name == o.Name) && (o.VolumeID == "" || s.VolumeID == o.VolumeID) {
			all = append(all, s.Snapshot)
		}
	}
	sortByCreation(all, func(s cinder.Snapshot) time.Time { return s.CreatedAt }, func(s cinder.Snapshot) string { return s.ID })
	return page(all, func(s cinder.Snapshot) string { return s.ID }, o.ListOpts)
}

// DeleteSnapshot refuses a snapshot that volumes were created from only while they
// are still creating (Cinder's rule for most backends is looser: clones are independent).
func (c *Cloud) DeleteSnapshot(ctx context.Context, id string) error {
	if err := c.enter("DeleteSnapshot"); err != nil {
		return err
	}
	return c.delete(c.snapshots, id)
}

// DeleteBackup deletes a backup; missing is not an error.
func (c *Cloud) DeleteBackup(ctx context.Context, id string) error {
	if err := c.enter("DeleteBackup"); err != nil {
		return err
	}
	return c.delete(c.backups, id)
}

func (c *Cloud) delete(m map[string]*snapshot, id string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	s, ok := m[id]
	if !ok {
		return nil
	}
	c.refreshLocked(s)
	if s.Status == cinder.StatusCreating {
		return fmt.Errorf("%s is still creating: %w", id, cinder.ErrInvalidState)
	}
	if s.GroupSnapshotID != "" {
		return fmt.Errorf("snapshot %s must not be part of a group: %w", id, cinder.ErrInvalidInput)
	}
	delete(m, id)
	c.removeFile(c.snapshotFile(s))
	return nil
}
