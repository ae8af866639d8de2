package cinder

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// GroupType is a Cinder group type. Specs are its group_specs as this account sees
// them: Cinder shows them to admins only by default (policy
// group:access_group_types_specs), so an empty map may mean "hidden".
type GroupType struct {
	ID    string
	Name  string
	Specs map[string]string
}

// specConsistent is the group spec that asks Cinder for write-order consistent group
// snapshots: groups of such a type go only to backends that can cut them at once.
const specConsistent = "consistent_group_snapshot_enabled"

// Consistent reports whether the type asks for consistent group snapshots. Without
// it, Cinder's generic group snapshot snapshots each member in turn.
func (t *GroupType) Consistent() bool {
	return strings.EqualFold(strings.Join(strings.Fields(t.Specs[specConsistent]), " "), "<is> true")
}

// GroupSnapshotOpts describes a group snapshot of VolumeIDs, taken through a
// temporary group of type GroupTypeID.
type GroupSnapshotOpts struct {
	Name        string
	GroupTypeID string
	VolumeIDs   []string
}

// GroupSnapshot is a Cinder group snapshot with its member snapshots.
type GroupSnapshot struct {
	ID        string
	Name      string
	GroupID   string
	Status    string
	CreatedAt time.Time
	Snapshots []Snapshot
}

// Ready reports whether the group snapshot and every member can be restored.
func (g *GroupSnapshot) Ready() bool {
	if g.Status != StatusAvailable {
		return false
	}
	for i := range g.Snapshots {
		if !g.Snapshots[i].Ready() {
			return false
		}
	}
	return true
}

// Failed reports whether Cinder gave up on the group snapshot.
func (g *GroupSnapshot) Failed() bool { return isErrorStatus(g.Status) }

// VolumeIDs returns the members' source volumes.
func (g *GroupSnapshot) VolumeIDs() []string {
	out := make([]string, len(g.Snapshots))
	for i := range g.Snapshots {
		out[i] = g.Snapshots[i].VolumeID
	}
	return out
}

type groupTypeBody struct {
	ID         string            `json:"id"`
	Name       string            `json:"name"`
	GroupSpecs map[string]string `json:"group_specs"`
}

// GroupType implements GroupSnapshotter: by ID, by name, or ("") Cinder's default
// group type (default_group_type in cinder.conf).
func (c *Client) GroupType(ctx context.Context, nameOrID string) (*GroupType, error) {
	sc := c.cinder(mvGroupTypes)
	if nameOrID == "" || isUUID(nameOrID) {
		id := nameOrID
		if id == "" {
			id = "default"
		}
		var out struct {
			GroupType groupTypeBody `json:"group_type"`
		}
		if _, err := sc.Get(ctx, sc.ServiceURL("group_types", id), &out, nil); err != nil {
			err = mapError(err)
			if nameOrID == "" {
				return nil, fmt.Errorf("get Cinder's default group type (default_group_type in cinder.conf): %w", err)
			}
			return nil, fmt.Errorf("get group type %s: %w", nameOrID, err)
		}
		return groupTypeFrom(out.GroupType), nil
	}
	var out struct {
		GroupTypes []groupTypeBody `json:"group_types"`
	}
	if _, err := sc.Get(ctx, sc.ServiceURL("group_types"), &out, nil); err != nil {
		return nil, fmt.Errorf("list group types: %w", mapError(err))
	}
	for _, t := range out.GroupTypes {
		if t.Name == nameOrID {
			return groupTypeFrom(t), nil
		}
	}
	return nil, fmt.Errorf("%w: no group type named %q", ErrNotFound, nameOrID)
}

func groupTypeFrom(b groupTypeBody) *GroupType {
	if b.GroupSpecs == nil {
		b.GroupSpecs = map[string]string{}
	}
	return &GroupType{ID: b.ID, Name: b.Name, Specs: b.GroupSpecs}
}

// isUUID reports whether s has the shape of a Cinder ID (a hyphenated UUID).
func isUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i, r := range s {
		switch {
		case i == 8 || i == 13 || i == 18 || i == 23:
			if r != '-' {
				return false
			}
		case !strings.ContainsRune("0123456789abcdefABCDEF", r):
			return false
		}
	}
	return true
}
