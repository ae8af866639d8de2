package fake

import (
	"context"
	"fmt"
	"time"

	"github.com/cinder-csi/cinder-csi-driver/pkg/cinder"
)

var _ cinder.Cloud = (*Cloud)(nil)

// CreateVolume follows Cinder: the volume is "creating" for Latency, then "available".
func (c *Cloud) CreateVolume(ctx context.Context, o cinder.CreateVolumeOpts) (*cinder.Volume, error) {
	if err := c.enter("CreateVolume"); err != nil {
		return nil, err
	}
	c.mu.Lock()
	vt, ok := c.types[o.VolumeType]
	if !ok {
		c.mu.Unlock()
		return nil, fmt.Errorf("volume type %q not found: %w", o.VolumeType, cinder.ErrInvalidInput)
	}
	zone := o.AvailabilityZone
	if zone != "" && !contains(c.zones, zone) {
		c.mu.Unlock()
		return nil, fmt.Errorf("availability zone %q is invalid: %w", zone, cinder.ErrInvalidInput)
	}
	if o.SizeGiB < 1 {
		c.mu.Unlock()
		return nil, fmt.Errorf("size %d must be at least 1 GiB: %w", o.SizeGiB, cinder.ErrInvalidInput)
	}
	if c.limits.MaxTotalGiB >= 0 && c.usedLocked()+o.SizeGiB > c.limits.MaxTotalGiB {
		c.mu.Unlock()
		return nil, fmt.Errorf("requested %d GiB exceeds the quota of %d GiB: %w", o.SizeGiB, c.limits.MaxTotalGiB, cinder.ErrQuotaExceeded)
	}
	from, srcZone, err := c.sourceLocked(o)
	if err != nil {
		c.mu.Unlock()
		return nil, err
	}
	// As Cinder with cloned_volume_same_az (its default): a volume made from a
	// snapshot or volume is in the source's zone.
	switch {
	case srcZone != "" && zone == "":
		zone = srcZone
	case srcZone != "" && zone != srcZone:
		c.mu.Unlock()
		return nil, fmt.Errorf("volume must be in the same availability zone as its source (%s), not %s: %w", srcZone, zone, cinder.ErrInvalidInput)
	case zone == "":
		zone = c.zones[0]
	}
	v := &cinder.Volume{
		ID: NewID(), Name: o.Name, Status: cinder.StatusCreating, SizeGiB: o.SizeGiB,
		VolumeType: vt.Name, AvailabilityZone: zone, Multiattach: vt.Multiattach,
		SnapshotID: o.SnapshotID, SourceVolID: o.SourceVolID, BackupID: o.BackupID,
		Metadata: copyMap(o.Metadata), CreatedAt: time.Now(), UpdatedAt: time.Now(),
	}
	c.volumes[v.ID] = v
	c.mu.Unlock()

	if err := c.makeFile(c.volumeFile(v.ID), from, v.SizeGiB); err != nil {
		c.SetVolumeStatus(v.ID, cinder.StatusError)
	}
	if err := c.sleep(ctx); err != nil {
		// Like the real client: Cinder goes on creating the volume the caller stopped
		// waiting for, and the caller's retry finds it by name ("creating", then
		// "available").
		go func() {
			_ = c.sleep(context.Background())
			c.mu.Lock()
			defer c.mu.Unlock()
			if v.Status == cinder.StatusCreating {
				setStatus(v, cinder.StatusAvailable)
			}
		}()
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if v.Status == cinder.StatusCreating {
		setStatus(v, cinder.StatusAvailable)
	}
	if v.Status != cinder.StatusAvailable {
		st := v.Status
		c.deleteLocked(v)
		return nil, fmt.Errorf("volume %s went to %q and was deleted: %w", v.ID, st, cinder.ErrBackend)
	}
	out := *v
	return &out, nil
}

// sourceLocked checks the content source and returns the file a new volume copies
// (if files are kept) and the zone of its source volume ("" for none or a backup).
func (c *Cloud) sourceLocked(o cinder.CreateVolumeOpts) (string, string, error) {
	var src *snapshot
	var kind, id string
	switch {
	case o.SnapshotID != "":
		src, kind, id = c.snapshots[o.SnapshotID], "snapshot", o.SnapshotID
	case o.BackupID != "":
		src, kind, id = c.backups[o.BackupID], "backup", o.BackupID
	case o.SourceVolID != "":
		v, ok := c.volumes[o.SourceVolID]
		if !ok {
			return "", "", notFound("volume", o.SourceVolID)
		}
		if o.SizeGiB < v.SizeGiB {
			return "", "", fmt.Errorf("size %d GiB is smaller than source volume's %d GiB: %w", o.SizeGiB, v.SizeGiB, cinder.ErrInvalidInput)
		}
		return c.fileIf(c.volumeFile(v.ID)), v.AvailabilityZone, nil
	default:
		return "", "", nil
	}
	if src == nil {
		return "", "", notFound(kind, id)
	}
	c.refreshLocked(src)
	if src.Status != cinder.StatusAvailable {
		return "", "", fmt.Errorf("%s %s is %q, not available: %w", kind, id, src.Status, cinder.ErrInvalidState)
	}
	if o.SizeGiB < src.SizeGiB {
		return "", "", fmt.Errorf("size %d GiB is smaller than the %s's %d GiB: %w", o.SizeGiB, kind, src.SizeGiB, cinder.ErrInvalidInput)
	}
	zone := ""
	if v, ok := c.volumes[src.VolumeID]; ok && kind == "snapshot" {
		zone = v.AvailabilityZone
	}
	return c.fileIf(c.snapshotFile(src)), zone, nil
}

func (c *Cloud) fileIf(path string) string {
	if c.fileDir == "" {
		return ""
	}
	return path
}

func (c *Cloud) usedLocked() int {
	n := 0
	for _, v := range c.volumes {
		n += v.SizeGiB
	}
	return n
}

// GetVolume returns a copy of the volume.
func (c *Cloud) GetVolume(ctx context.Context, id string) (*cinder.Volume, error) {
	if err := c.enter("GetVolume"); err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	v, ok := c.volumes[id]
	if !ok {
		return nil, notFound("volume", id)
	}
	out := *v
	out.Attachments = append([]cinder.VolumeAttachment(nil), v.Attachments...)
	return &out, nil
}

// FindVolumesByName returns all volumes with the name; names are not unique.
func (c *Cloud) FindVolumesByName(ctx context.Context, name string) ([]cinder.Volume, error) {
	if err := c.enter("FindVolumesByName"); err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []cinder.Volume
	for _, v := range c.sortedVolumesLocked() {
		if v.Name == name {
			out = append(out, v)
		}
	}
	return out, nil
}

// FindVolumesByMetadata returns all volumes whose metadata holds every pair of md.
func (c *Cloud) FindVolumesByMetadata(ctx context.Context, md map[string]string) ([]cinder.Volume, error) {
	if err := c.enter("FindVolumesByMetadata"); err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []cinder.Volume
	for _, v := range c.sortedVolumesLocked() {
		if cinder.HasMetadata(v.Metadata, md) {
			out = append(out, v)
		}
	}
	return out, nil
}

// ListVolumes pages through volumes in creation order.
func (c *Cloud) ListVolumes(ctx context.Context, o cinder.ListOpts) ([]cinder.Volume, string, error) {
	if err := c.enter("ListVolumes"); err != nil {
		return nil, "", err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return page(c.sortedVolumesLocked(), func(v cinder.Volume) string { return v.ID }, o)
}

func (c *Cloud) sortedVolumesLocked() []cinder.Volume {
	out := make([]cinder.Volume, 0, len(c.volumes))
	for _, v := range c.volumes {
		cp := *v
		cp.Attachments = append([]cinder.VolumeAttachment(nil), v.Attachments...)
		out = append(out, cp)
	}
	sortByCreation(out, func(v cinder.Volume) time.Time { return v.CreatedAt }, func(v cinder.Volume) string { return v.ID })
	return out
}

// DeleteVolume refuses attached volumes and volumes with snapshots, as Cinder does.
func (c *Cloud) DeleteVolume(ctx context.Context, id string) error {
	if err := c.enter("DeleteVolume"); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	v, ok := c.volumes[id]
	if !ok {
		return nil
	}
	if len(v.Attachments) > 0 {
		return fmt.Errorf("volume %s is attached to %v: %w", id, v.Nodes(), cinder.ErrInvalidState)
	}
	for _, s := range c.snapshots {
		if s.VolumeID == id {
			return fmt.Errorf("volume %s has snapshot %s: %w", id, s.ID, cinder.ErrInvalidState)
		}
	}
	switch v.Status {
	case cinder.StatusAvailable, cinder.StatusError, cinder.StatusErrorExtending, cinder.StatusErrorRestoring, cinder.StatusCreating:
	default:
		return fmt.Errorf("volume %s is %q: %w", id, v.Status, cinder.ErrInvalidState)
	}
	c.deleteLocked(v)
	return nil
}

func (c *Cloud) deleteLocked(v *cinder.Volume) {
	delete(c.volumes, v.ID)
	c.removeFile(c.volumeFile(v.ID))
}

// ExpandVolume grows a volume; in-use volumes are extended online.
func (c *Cloud) ExpandVolume(ctx context.Context, read *cinder.Volume, sizeGiB int) (*cinder.Volume, error) {
	id := read.ID
	if err := c.enter("ExpandVolume"); err != nil {
		return nil, err
	}
	c.mu.Lock()
	v, ok := c.volumes[id]
	if !ok {
		c.mu.Unlock()
		return nil, notFound("volume", id)
	}
	if v.Status != cinder.StatusAvailable && v.Status != cinder.StatusInUse {
		c.mu.Unlock()
		return nil, fmt.Errorf("volume %s is %q: %w", id, v.Status, cinder.ErrInvalidState)
	}
	if sizeGiB <= v.SizeGiB {
		c.mu.Unlock()
		return nil, fmt.Errorf("new size %d GiB must be larger than %d GiB: %w", sizeGiB, v.SizeGiB, cinder.ErrInvalidInput)
	}
	prev := v.Status
	setStatus(v, cinder.StatusExtending)
	c.mu.Unlock()
	err := c.sleep(ctx)
	c.mu.Lock()
	defer c.mu.Unlock()
	setStatus(v, prev)
	if err != nil {
		return nil, err
	}
	if c.fileDir != "" {
		if err := c.makeFile(c.volumeFile(id), "", sizeGiB); err != nil {
			setStatus(v, cinder.StatusErrorExtending)
			return nil, fmt.Errorf("extending volume %s: %v: %w", id, err, cinder.ErrBackend)
		}
	}
	v.SizeGiB = sizeGiB
	out := *v
	return &out, nil
}

// RetypeVolume changes the type; unknown types are rejected as Cinder does.
func (c *Cloud) RetypeVolume(ctx context.Context, id, volumeType string) (*cinder.Volume, error) {
	if err := c.enter("RetypeVolume"); err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	v, ok := c.volumes[id]
	if !ok {
		return nil, notFound("volume", id)
	}
	vt, ok := c.types[volumeType]
	if !ok || volumeType == "" {
		return nil, fmt.Errorf("volume type %q not found: %w", volumeType, cinder.ErrInvalidInput)
	}
	v.VolumeType, v.Multiattach = vt.Name, vt.Multiattach
	out := *v
	return &out, nil
}

// GetLimits reports the gigabytes quota and use.
func (c *Cloud) GetLimits(ctx context.Context) (*cinder.Limits, error) {
	if err := c.enter("GetLimits"); err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	l := c.limits
	l.UsedTotalGiB = c.usedLocked()
	return &l, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
