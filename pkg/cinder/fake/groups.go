package fake

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/cinder-csi/cinder-csi-driver/pkg/cinder"
)

// The fake's group types: the first is Cinder's default group type.
var (
	// GroupTypeGeneric does not ask for consistent group snapshots (its specs, as an
	// admin sees them, say something else): Cinder snapshots the members in turn.
	GroupTypeGeneric = cinder.GroupType{ID: "6a7d5b8e-0c39-4c2f-9b1e-2f4c1d0a9e01", Name: "generic",
		Specs: map[string]string{"group_replication_enabled": "<is> False"}}
	// GroupTypeConsistent asks for write-order consistent group snapshots.
	GroupTypeConsistent = cinder.GroupType{ID: "6a7d5b8e-0c39-4c2f-9b1e-2f4c1d0a9e02", Name: "consistent",
		Specs: map[string]string{"consistent_group_snapshot_enabled": "<is> True"}}
	// GroupTypeHidden is a type whose specs this account cannot see.
	GroupTypeHidden = cinder.GroupType{ID: "6a7d5b8e-0c39-4c2f-9b1e-2f4c1d0a9e03", Name: "hidden", Specs: map[string]string{}}
)

var groupTypes = []cinder.GroupType{GroupTypeGeneric, GroupTypeConsistent, GroupTypeHidden}

type groupSnapshot struct {
	cinder.GroupSnapshot
	members []string
}

// GroupType resolves a fake group type.
func (c *Cloud) GroupType(ctx context.Context, nameOrID string) (*cinder.GroupType, error) {
	if err := c.enter("GroupType"); err != nil {
		return nil, err
	}
	for _, t := range groupTypes {
		if nameOrID == "" || t.ID == nameOrID || t.Name == nameOrID {
			out := t
			return &out, nil
		}
	}
	return nil, notFound("group type", nameOrID)
}

// CreateGroupSnapshot cuts every member at once, idempotent by name, as a Cinder
// group snapshot of a temporary group. Volumes in other zones, or not available
// or in-use, are refused as Cinder refuses to group them.
func (c *Cloud) CreateGroupSnapshot(ctx context.Context, o cinder.GroupSnapshotOpts) (*cinder.GroupSnapshot, error) {
	if err := c.enter("CreateGroupSnapshot"); err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, gs := range c.groupSnapshots {
		if gs.Name == o.Name {
			return c.groupSnapshotLocked(gs), nil
		}
	}
	zone := ""
	for _, id := range o.VolumeIDs {
		v, ok := c.volumes[id]
		if !ok {
			return nil, notFound("volume", id)
		}
		if v.Status != cinder.StatusAvailable && v.Status != cinder.StatusInUse {
			return nil, fmt.Errorf("cannot add volume %s to group: invalid state %q: %w", id, v.Status, cinder.ErrInvalidState)
		}
		if zone != "" && v.AvailabilityZone != zone {
			return nil, fmt.Errorf("cannot add volume %s to group: it is not on the group's backend: %w", id, cinder.ErrInvalidInput)
		}
		zone = v.AvailabilityZone
	}
	gs := &groupSnapshot{GroupSnapshot: cinder.GroupSnapshot{
		ID: NewID(), Name: o.Name, GroupID: NewID(), Status: cinder.StatusAvailable, CreatedAt: time.Now(),
	}}
	for _, id := range o.VolumeIDs {
		v := c.volumes[id]
		s := &snapshot{Snapshot: cinder.Snapshot{
			ID: NewID(), Name: o.Name, VolumeID: id, Status: cinder.StatusAvailable,
			SizeGiB: v.SizeGiB, CreatedAt: gs.CreatedAt, GroupSnapshotID: gs.ID,
		}}
		if c.fileDir != "" {
			if err := copySparse(c.volumeFile(id), c.snapshotFile(s)); err != nil {
				s.Status = cinder.StatusError
			}
		}
		c.snapshots[s.ID] = s
		gs.members = append(gs.members, s.ID)
	}
	c.groupSnapshots[gs.ID] = gs
	return c.groupSnapshotLocked(gs), nil
}

// GetGroupSnapshot returns ErrNotFound for a missing group snapshot.
func (c *Cloud) GetGroupSnapshot(ctx context.Context, id string) (*cinder.GroupSnapshot, error) {
	if err := c.enter("GetGroupSnapshot"); err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	gs, ok := c.groupSnapshots[id]
	if !ok {
		return nil, notFound("group snapshot", id)
	}
	return c.groupSnapshotLocked(gs), nil
}

// DeleteGroupSnapshot deletes it with its members; missing is not an error.
func (c *Cloud) DeleteGroupSnapshot(ctx context.Context, id string) error {
	if err := c.enter("DeleteGroupSnapshot"); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	gs, ok := c.groupSnapshots[id]
	if !ok {
		return nil
	}
	for _, sid := range gs.members {
		if s, ok := c.snapshots[sid]; ok {
			delete(c.snapshots, sid)
			c.removeFile(c.snapshotFile(s))
		}
	}
	delete(c.groupSnapshots, id)
	return nil
}

// GroupSnapshots returns the IDs of the group snapshots the fake holds.
func (c *Cloud) GroupSnapshots() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for id := range c.groupSnapshots {
		out = append(out, id)
	}
	slices.Sort(out)
	return out
}

func (c *Cloud) groupSnapshotLocked(gs *groupSnapshot) *cinder.GroupSnapshot {
	out := gs.GroupSnapshot
	for _, sid := range gs.members {
		if s, ok := c.snapshots[sid]; ok {
			out.Snapshots = append(out.Snapshots, s.Snapshot)
		}
	}
	return &out
}
