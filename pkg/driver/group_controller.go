package driver

import (
	"context"
	"errors"
	"slices"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/protobuf/types/known/timestamppb"
	"k8s.io/klog/v2"

	"github.com/cinder-csi/cinder-csi-driver/pkg/cinder"
)

// The GroupController service: volume group snapshots as Cinder group snapshots of
// a temporary generic volume group (cinder.GroupSnapshotter). The members are Cinder
// snapshots that restore like any other.

// GroupControllerGetCapabilities advertises group snapshots.
func (d *Driver) GroupControllerGetCapabilities(context.Context, *csi.GroupControllerGetCapabilitiesRequest) (*csi.GroupControllerGetCapabilitiesResponse, error) {
	return &csi.GroupControllerGetCapabilitiesResponse{Capabilities: []*csi.GroupControllerServiceCapability{{
		Type: &csi.GroupControllerServiceCapability_Rpc{Rpc: &csi.GroupControllerServiceCapability_RPC{
			Type: csi.GroupControllerServiceCapability_RPC_CREATE_DELETE_GET_VOLUME_GROUP_SNAPSHOT,
		}},
	}}}, nil
}

// CreateVolumeGroupSnapshot is idempotent by name. It returns once Cinder has cut
// every member: a group snapshot is never reported before it is taken.
func (d *Driver) CreateVolumeGroupSnapshot(ctx context.Context, req *csi.CreateVolumeGroupSnapshotRequest) (*csi.CreateVolumeGroupSnapshotResponse, error) {
	a, err := validateCreateGroupSnapshot(req)
	if err != nil {
		return nil, err
	}
	unlock, err := d.locks.tryLock("group-snapshot-name/"+a.name, "group snapshot name "+a.name)
	if err != nil {
		return nil, err
	}
	defer unlock()

	gt, err := d.groupType(ctx, a.params)
	if err != nil {
		return nil, err
	}
	zones := d.newVolumeZones() // the members' topology needs no second read
	for _, id := range a.volumeIDs {
		vol, err := d.deps.Cloud.GetVolume(ctx, id)
		if err != nil {
			return nil, toStatus(err, "getting source volume %s", id)
		}
		zones.know(vol)
		if len(vol.Attachments) > 0 && !d.opts.SnapshotInUse {
			return nil, failedPrecondition("volume %s is attached to %v and this cloud's backend cannot snapshot attached volumes (--snapshot-in-use=false): detach it first",
				id, vol.Nodes())
		}
	}
	gs, err := d.deps.Groups.CreateGroupSnapshot(ctx, cinder.GroupSnapshotOpts{Name: a.name, GroupTypeID: gt.ID, VolumeIDs: a.volumeIDs})
	switch {
	case errors.Is(err, cinder.ErrInvalidInput), errors.Is(err, cinder.ErrInvalidState):
		return nil, failedPrecondition("Cinder cannot snapshot volumes %v together in group type %s: %v", a.volumeIDs, gt.Name, err)
	case errors.Is(err, cinder.ErrBackend):
		return nil, internal("Cinder failed group snapshot %q; what it made was deleted, the next attempt starts again: %v", a.name, err)
	case err != nil:
		return nil, toStatus(err, "creating group snapshot %q", a.name)
	}
	if got := slices.Sorted(slices.Values(gs.VolumeIDs())); !slices.Equal(got, slices.Sorted(slices.Values(a.volumeIDs))) {
		return nil, alreadyExists("group snapshot %s named %q already exists of volumes %v, not %v; use another name", gs.ID, a.name, got, a.volumeIDs)
	}
	klog.InfoS("Created group snapshot", "name", a.name, "groupSnapshotID", gs.ID, "volumeIDs", a.volumeIDs, "groupType", gt.Name, "consistency", a.params.consistency)
	out, err := d.csiGroupSnapshot(ctx, zones, gs)
	if err != nil {
		return nil, err
	}
	return &csi.CreateVolumeGroupSnapshotResponse{GroupSnapshot: out}, nil
}

// groupType resolves the class's group type and checks that it gives the
// consistency the class asks for.
func (d *Driver) groupType(ctx context.Context, p groupSnapshotParams) (*cinder.GroupType, error) {
	gt, err := d.deps.Groups.GroupType(ctx, p.groupType)
	switch {
	case errors.Is(err, cinder.ErrNotFound) && p.groupType == "":
		return nil, failedPrecondition("the VolumeGroupSnapshotClass names no %q and Cinder has no default group type (default_group_type in cinder.conf): set %q to a group type", paramGroupType, paramGroupType)
	case errors.Is(err, cinder.ErrNotFound):
		return nil, invalid("VolumeGroupSnapshotClass parameter %q: Cinder has no group type %q", paramGroupType, p.groupType)
	case err != nil:
		return nil, toStatus(err, "getting group type %q", p.groupType)
	}
	if p.consistency == consistencyWriteOrder && !gt.Consistent() {
		why := "it does not set consistent_group_snapshot_enabled=\"<is> True\", so Cinder would snapshot the volumes one after the other"
		if len(gt.Specs) == 0 {
			why = "Cinder shows this account no group specs of it (policy group:access_group_types_specs), so the driver cannot tell whether it sets consistent_group_snapshot_enabled=\"<is> True\""
		}
		return nil, failedPrecondition("the VolumeGroupSnapshotClass asks for %s consistency, and group type %s cannot be shown to give it: %s. Use a group type with that spec on a backend that supports it, or set %s: %s in the class to accept members snapshotted one after the other",
			consistencyWriteOrder, gt.Name, why, paramConsistency, consistencyPerVolume)
	}
	return gt, nil
}

// GetVolumeGroupSnapshot returns a group snapshot with its members.
func (d *Driver) GetVolumeGroupSnapshot(ctx context.Context, req *csi.GetVolumeGroupSnapshotRequest) (*csi.GetVolumeGroupSnapshotResponse, error) {
	gs, err := d.getGroupSnapshot(ctx, req.GetGroupSnapshotId(), req.GetSnapshotIds())
	if err != nil {
		return nil, err
	}
	out, err := d.csiGroupSnapshot(ctx, d.newVolumeZones(), gs)
	if err != nil {
		return nil, err
	}
	return &csi.GetVolumeGroupSnapshotResponse{GroupSnapshot: out}, nil
}

// DeleteVolumeGroupSnapshot deletes the group snapshot, its members and its group;
// the volumes stay. A missing one is success.
func (d *Driver) DeleteVolumeGroupSnapshot(ctx context.Context, req *csi.DeleteVolumeGroupSnapshotRequest) (*csi.DeleteVolumeGroupSnapshotResponse, error) {
	id := req.GetGroupSnapshotId()
	unlock, err := d.locks.tryLock("group-snapshot/"+id, "group snapshot "+id)
	if err != nil {
		return nil, err
	}
	defer unlock()
	if _, err := d.getGroupSnapshot(ctx, id, req.GetSnapshotIds()); errors.Is(err, errNotFound) {
		return &csi.DeleteVolumeGroupSnapshotResponse{}, nil
	} else if err != nil {
		return nil, err
	}
	if err := d.deps.Groups.DeleteGroupSnapshot(ctx, id); err != nil {
		return nil, toStatus(err, "deleting group snapshot %s", id)
	}
	klog.InfoS("Deleted group snapshot", "groupSnapshotID", id)
	return &csi.DeleteVolumeGroupSnapshotResponse{}, nil
}

// getGroupSnapshot reads a group snapshot and checks that snapshotIDs, when given,
// are its members.
func (d *Driver) getGroupSnapshot(ctx context.Context, id string, snapshotIDs []string) (*cinder.GroupSnapshot, error) {
	if err := checkGroupSnapshotID(id, snapshotIDs); err != nil {
		return nil, err
	}
	gs, err := d.deps.Groups.GetGroupSnapshot(ctx, id)
	if errors.Is(err, cinder.ErrNotFound) {
		return nil, notFound("group snapshot %s does not exist", id)
	}
	if err != nil {
		return nil, toStatus(err, "getting group snapshot %s", id)
	}
	members := make([]string, len(gs.Snapshots))
	for i := range gs.Snapshots {
		members[i] = gs.Snapshots[i].ID
	}
	for _, s := range snapshotIDs {
		if !slices.Contains(members, s) {
			return nil, invalid("snapshot %s is not a member of group snapshot %s, whose members are %v", s, id, members)
		}
	}
	return gs, nil
}

// csiGroupSnapshot reports a group snapshot; its members are usable from their
// volumes' zone (zones knows or reads it).
func (d *Driver) csiGroupSnapshot(ctx context.Context, zones *volumeZones, gs *cinder.GroupSnapshot) (*csi.VolumeGroupSnapshot, error) {
	out := &csi.VolumeGroupSnapshot{GroupSnapshotId: gs.ID, CreationTime: timestamppb.New(gs.CreatedAt), ReadyToUse: gs.Ready()}
	for i := range gs.Snapshots {
		s, err := d.csiSnapshot(ctx, zones, &gs.Snapshots[i])
		if err != nil {
			return nil, err
		}
		out.Snapshots = append(out.Snapshots, s)
	}
	return out, nil
}
