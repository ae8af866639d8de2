package driver

import (
	"context"
	"errors"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/protobuf/types/known/timestamppb"
	"k8s.io/klog/v2"

	"github.com/cinder-csi/cinder-csi-driver/pkg/cinder"
)

// CreateSnapshot is idempotent by name. It waits only briefly for Cinder (a
// snapshot that is done within about 2 s is returned ready, see
// cinder.CreateSnapshot; a backup not at all): otherwise it returns
// ReadyToUse=false while the snapshot or backup is being made, and the
// snapshotter calls again until it is ready.
func (d *Driver) CreateSnapshot(ctx context.Context, req *csi.CreateSnapshotRequest) (*csi.CreateSnapshotResponse, error) {
	a, err := d.validateCreateSnapshot(req)
	if err != nil {
		return nil, err
	}
	unlock, err := d.locks.tryLock("snapshot-name/"+a.name, "snapshot name "+a.name)
	if err != nil {
		return nil, err
	}
	defer unlock()

	snap, err := d.findSnapshot(ctx, a)
	if err != nil {
		return nil, err
	}
	zones := d.newVolumeZones()
	if snap == nil {
		vol, err := d.deps.Cloud.GetVolume(ctx, a.volumeID)
		if err != nil {
			return nil, toStatus(err, "getting source volume %s", a.volumeID)
		}
		zones.know(vol)
		if err := d.checkSnapshotZone(ctx, zones, a); err != nil {
			return nil, err
		}
		if len(vol.Attachments) > 0 && !d.opts.SnapshotInUse {
			return nil, failedPrecondition("volume %s is attached to %v and this cloud's backend cannot snapshot or back up attached volumes (--snapshot-in-use=false): detach it first",
				a.volumeID, vol.Nodes())
		}
		md := d.objectMetadata(a.name, a.params.metadata)
		create, kind := d.deps.Cloud.CreateSnapshot, "snapshot"
		if a.params.backup {
			create, kind = d.deps.Cloud.CreateBackup, "backup"
		}
		if snap, err = create(ctx, a.name, a.volumeID, md); err != nil {
			return nil, toStatus(err, "creating %s %q of volume %s", kind, a.name, a.volumeID)
		}
		klog.InfoS("Created snapshot", "name", a.name, "snapshotID", snap.ID, "volumeID", a.volumeID, "backup", snap.IsBackup, "status", snap.Status)
	} else if err := d.checkSnapshotZone(ctx, zones, a); err != nil {
		return nil, err
	}
	if snap.Failed() {
		d.deleteSnapshotObject(ctx, snap)
		return nil, internal("Cinder failed %s %s of volume %s (status %q); it was deleted, the next attempt makes a new one",
			kindOf(snap), snap.ID, a.volumeID, snap.Status)
	}
	out, err := d.csiSnapshot(ctx, zones, snap)
	if err != nil {
		return nil, err
	}
	return &csi.CreateSnapshotResponse{Snapshot: out}, nil
}

// checkSnapshotZone refuses a Cinder snapshot the accessibility requirements do not
// allow: it is usable from its volume's zone only. A backup is usable everywhere.
func (d *Driver) checkSnapshotZone(ctx context.Context, zones *volumeZones, a createSnapshotArgs) error {
	if len(a.zones.requisite) == 0 || a.params.backup {
		return nil
	}
	z, err := zones.of(ctx, a.volumeID)
	if err != nil || a.zones.allows(z) {
		return err
	}
	return exhausted("a snapshot of volume %s is usable from its zone %q only, which the accessibility requirements (%v) do not include: ask for zone %q, or for a backup (VolumeSnapshotClass parameter %s: backup)",
		a.volumeID, z, a.zones.requisite, z, paramSnapshotType)
}

// findSnapshot returns the snapshot or backup already made for this name, or nil.
func (d *Driver) findSnapshot(ctx context.Context, a createSnapshotArgs) (*cinder.Snapshot, error) {
	list := d.deps.Cloud.ListSnapshots
	if a.params.backup {
		list = d.deps.Cloud.ListBackups
	}
	found, _, err := list(ctx, cinder.SnapshotListOpts{Name: a.name})
	if err != nil {
		return nil, toStatus(err, "looking up snapshots named %q", a.name)
	}
	if len(found) == 0 {
		return nil, nil
	}
	for i := range found {
		if s := &found[i]; s.VolumeID != a.volumeID {
			return nil, alreadyExists("%s %s named %q already exists for volume %s, not %s; use another name",
				kindOf(s), s.ID, a.name, s.VolumeID, a.volumeID)
		}
	}
	// Several live ones: a create interrupted by a crash made one after its retry
	// made another; keep the one a create settles on (cinder.SnapshotNamesakes).
	s, duplicates := cinder.SnapshotNamesakes(found)
	for i := range duplicates {
		klog.InfoS("Deleting a duplicate of the same name, made by an interrupted create", "snapshotID", duplicates[i].ID, "name", a.name, "kept", s.ID)
		d.deleteSnapshotObject(ctx, &duplicates[i])
	}
	if s == nil {
		s = &found[0] // all failed: the caller deletes it and makes a new one
	}
	return s, nil
}

func kindOf(s *cinder.Snapshot) string {
	if s.IsBackup {
		return "backup"
	}
	return "snapshot"
}

func (d *Driver) deleteSnapshotObject(ctx context.Context, s *cinder.Snapshot) {
	del := d.deps.Cloud.DeleteSnapshot
	if s.IsBackup {
		del = d.deps.Cloud.DeleteBackup
	}
	if err := del(ctx, s.ID); err != nil {
		klog.ErrorS(err, "Could not delete a failed snapshot", "snapshotID", s.ID)
	}
}

// csiSnapshot is a snapshot or backup as CSI reports it, with where it is usable
// from (snapshotTopology).
func (d *Driver) csiSnapshot(ctx context.Context, zones *volumeZones, s *cinder.Snapshot) (*csi.Snapshot, error) {
	out := &csi.Snapshot{SnapshotId: s.ID, SourceVolumeId: s.VolumeID, SizeBytes: int64(s.SizeGiB) * gib, ReadyToUse: s.Ready(), GroupSnapshotId: s.GroupSnapshotID}
	if !s.CreatedAt.IsZero() {
		out.CreationTime = timestamppb.New(s.CreatedAt)
	}
	var err error
	out.AccessibleTopology, err = d.snapshotTopology(ctx, zones, s)
	return out, err
}

// getSnapshotOrBackup resolves a CSI snapshot ID, which names a Cinder snapshot or,
// for the "backup" VolumeSnapshotClass, a Cinder backup.
func (d *Driver) getSnapshotOrBackup(ctx context.Context, id string) (*cinder.Snapshot, error) {
	s, err := d.deps.Cloud.GetSnapshot(ctx, id)
	if errors.Is(err, cinder.ErrNotFound) {
		s, err = d.deps.Cloud.GetBackup(ctx, id)
		if errors.Is(err, cinder.ErrNotFound) {
			return nil, notFound("snapshot %s is neither a Cinder snapshot nor a backup", id)
		}
	}
	if err != nil {
		return nil, toStatus(err, "getting snapshot %s", id)
	}
	return s, nil
}

// DeleteSnapshot deletes a snapshot or backup; a missing one is success.
func (d *Driver) DeleteSnapshot(ctx context.Context, req *csi.DeleteSnapshotRequest) (*csi.DeleteSnapshotResponse, error) {
	id := req.GetSnapshotId()
	if err := checkID("snapshot_id", id); err != nil {
		if errors.Is(err, errNotFound) {
			return &csi.DeleteSnapshotResponse{}, nil
		}
		return nil, err
	}
	unlock, err := d.locks.tryLock("snapshot/"+id, "snapshot "+id)
	if err != nil {
		return nil, err
	}
	defer unlock()
	s, err := d.getSnapshotOrBackup(ctx, id)
	if errors.Is(err, errNotFound) {
		return &csi.DeleteSnapshotResponse{}, nil
	}
	if err != nil {
		return nil, err
	}
	if s.GroupSnapshotID != "" {
		return nil, invalid("snapshot %s is a member of group snapshot %s and Cinder deletes it only with the group: delete the VolumeGroupSnapshot (DeleteVolumeGroupSnapshot) instead", id, s.GroupSnapshotID)
	}
	if err := d.checkSnapshotDeletable(ctx, s); err != nil {
		return nil, err
	}
	del := d.deps.Cloud.DeleteSnapshot
	if s.IsBackup {
		del = d.deps.Cloud.DeleteBackup
	}
	if err := del(ctx, id); err != nil {
		return nil, toStatus(err, "deleting %s %s", kindOf(s), id)
	}
	klog.InfoS("Deleted snapshot", "snapshotID", id, "backup", s.IsBackup)
	return &csi.DeleteSnapshotResponse{}, nil
}

// checkSnapshotDeletable refuses, on a backend that cannot touch attached volumes
// (--snapshot-in-use=false), to delete a snapshot while its volume is attached: Cinder's
// NFS driver, for one, would hand the delete to Nova and, without Nova, leave the snapshot
// in error_deleting, which only an admin can undo. A backup does not depend on its volume.
func (d *Driver) checkSnapshotDeletable(ctx context.Context, s *cinder.Snapshot) error {
	if d.opts.SnapshotInUse || s.IsBackup || s.VolumeID == "" {
		return nil
	}
	vol, err := d.deps.Cloud.GetVolume(ctx, s.VolumeID)
	if errors.Is(err, cinder.ErrNotFound) {
		return nil
	}
	if err != nil {
		return toStatus(err, "getting volume %s of snapshot %s", s.VolumeID, s.ID)
	}
	if len(vol.Attachments) > 0 {
		return failedPrecondition("snapshot %s is of volume %s, which is attached to %v, and this cloud's backend cannot delete snapshots of attached volumes (--snapshot-in-use=false): it is deleted once the volume is detached",
			s.ID, s.VolumeID, vol.Nodes())
	}
	return nil
}

// ListSnapshots lists Cinder snapshots, then backups. The token is "s:<marker>" while
// paging snapshots and "b:<marker>" once paging backups.
func (d *Driver) ListSnapshots(ctx context.Context, req *csi.ListSnapshotsRequest) (*csi.ListSnapshotsResponse, error) {
	if err := checkMaxEntries(req.GetMaxEntries()); err != nil {
		return nil, err
	}
	if id := req.GetSnapshotId(); id != "" {
		return d.listOneSnapshot(ctx, id, req.GetSourceVolumeId())
	}
	if v := req.GetSourceVolumeId(); v != "" && !uuidRE.MatchString(v) {
		return &csi.ListSnapshotsResponse{}, nil
	}
	phase, marker, err := checkToken(req.GetStartingToken(), "s:", "b:")
	if err != nil {
		return nil, err
	}
	limit := int(req.GetMaxEntries())
	out := &csi.ListSnapshotsResponse{}
	zones := d.newVolumeZones() // one GET per source volume of the page, for its zone
	for _, p := range []struct {
		prefix string
		list   func(context.Context, cinder.SnapshotListOpts) ([]cinder.Snapshot, string, error)
	}{{"s:", d.deps.Cloud.ListSnapshots}, {"b:", d.deps.Cloud.ListBackups}} {
		if phase == "b:" && p.prefix == "s:" {
			continue
		}
		opts := cinder.SnapshotListOpts{VolumeID: req.GetSourceVolumeId(), ListOpts: cinder.ListOpts{Marker: marker}}
		if limit > 0 {
			opts.Limit = limit - len(out.Entries)
		}
		marker = ""
		snaps, next, err := p.list(ctx, opts)
		if err != nil {
			return nil, listFailed(err, opts.Marker, req.GetStartingToken(), "snapshot")
		}
		for i := range snaps {
			s, err := d.csiSnapshot(ctx, zones, &snaps[i])
			if err != nil {
				return nil, err
			}
			out.Entries = append(out.Entries, &csi.ListSnapshotsResponse_Entry{Snapshot: s})
		}
		if next != "" {
			out.NextToken = p.prefix + next
			return out, nil
		}
		if limit > 0 && len(out.Entries) >= limit {
			if p.prefix == "s:" {
				out.NextToken = "b:"
			}
			return out, nil
		}
	}
	return out, nil
}

func (d *Driver) listOneSnapshot(ctx context.Context, id, volumeID string) (*csi.ListSnapshotsResponse, error) {
	if !uuidRE.MatchString(id) {
		return &csi.ListSnapshotsResponse{}, nil
	}
	s, err := d.getSnapshotOrBackup(ctx, id)
	if errors.Is(err, errNotFound) {
		return &csi.ListSnapshotsResponse{}, nil
	}
	if err != nil {
		return nil, err
	}
	if volumeID != "" && s.VolumeID != volumeID {
		return &csi.ListSnapshotsResponse{}, nil
	}
	out, err := d.csiSnapshot(ctx, d.newVolumeZones(), s)
	if err != nil {
		return nil, err
	}
	return &csi.ListSnapshotsResponse{Entries: []*csi.ListSnapshotsResponse_Entry{{Snapshot: out}}}, nil
}

// GetSnapshot returns one snapshot or backup.
func (d *Driver) GetSnapshot(ctx context.Context, req *csi.GetSnapshotRequest) (*csi.GetSnapshotResponse, error) {
	id := req.GetSnapshotId()
	if id == "" {
		return nil, invalid("snapshot_id is required")
	}
	if err := checkID("snapshot_id", id); err != nil {
		return nil, err
	}
	s, err := d.getSnapshotOrBackup(ctx, id)
	if err != nil {
		return nil, err
	}
	out, err := d.csiSnapshot(ctx, d.newVolumeZones(), s)
	if err != nil {
		return nil, err
	}
	return &csi.GetSnapshotResponse{Snapshot: out}, nil
}
