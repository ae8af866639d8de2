package cinder

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/gophercloud/gophercloud/v2"
	"k8s.io/klog/v2"
)

type groupSnapshotBody struct {
	ID        string                          `json:"id"`
	Name      string                          `json:"name"`
	GroupID   string                          `json:"group_id"`
	Status    string                          `json:"status"`
	CreatedAt gophercloud.JSONRFC3339MilliNoZ `json:"created_at"`
}

// CreateGroupSnapshot implements GroupSnapshotter. It is idempotent by name and
// resumes what an interrupted call left: the group, its volumes, the cut. Whatever
// fails after the group exists is cleaned up (the group snapshot, then the group),
// so nothing is left behind; the volumes are never touched.
func (c *Client) CreateGroupSnapshot(ctx context.Context, opts GroupSnapshotOpts) (*GroupSnapshot, error) {
	what := fmt.Sprintf("group snapshot %q of volumes %v", opts.Name, opts.VolumeIDs)
	gs, err := c.findGroupSnapshot(ctx, opts.Name)
	if err != nil {
		return nil, fmt.Errorf("create %s: %w", what, err)
	}
	if gs != nil && !gs.Failed() {
		// Made before: finish what the last call may not have (emptying the group).
		return c.finishGroupSnapshot(ctx, gs)
	}
	if gs != nil {
		klog.InfoS("Deleting a failed group snapshot before making it again", "groupSnapshotID", gs.ID, "name", opts.Name)
		if err := c.DeleteGroupSnapshot(ctx, gs.ID); err != nil {
			return nil, fmt.Errorf("create %s: deleting the failed one first: %w", what, err)
		}
	}
	vols := make([]*Volume, len(opts.VolumeIDs))
	for i, id := range opts.VolumeIDs {
		if vols[i], err = c.GetVolume(ctx, id); err != nil {
			return nil, fmt.Errorf("create %s: %w", what, err)
		}
	}
	g, err := c.findGroup(ctx, opts.Name)
	if err == nil && g == nil {
		g, err = c.createGroup(ctx, opts, vols)
	}
	if err != nil {
		if g != nil {
			c.dropGroup(ctx, g.ID)
		}
		return nil, fmt.Errorf("create %s: %w", what, err)
	}
	if _, err = c.setGroupVolumes(ctx, g, opts.VolumeIDs); err != nil {
		c.dropGroup(ctx, g.ID)
		return nil, fmt.Errorf("create %s: the volumes cannot be snapshotted together: %w", what, err)
	}
	gs, err = c.cutGroupSnapshot(ctx, opts.Name, g.ID)
	if err != nil {
		if gs != nil {
			c.dropGroupSnapshot(ctx, gs.ID)
		}
		c.dropGroup(ctx, g.ID)
		return nil, fmt.Errorf("create %s: %w", what, err)
	}
	return c.finishGroupSnapshot(ctx, gs)
}

// cutGroupSnapshot creates the group snapshot and waits until Cinder has cut it
// (available) or failed it (ErrBackend, with the group snapshot returned for the
// clean-up).
func (c *Client) cutGroupSnapshot(ctx context.Context, name, groupID string) (*GroupSnapshot, error) {
	sc := c.cinder(mvGroupSnapshots)
	id, err := c.createOnce(ctx, "group snapshot "+name, func(ctx context.Context) (string, error) {
		var out struct {
			GroupSnapshot groupSnapshotBody `json:"group_snapshot"`
		}
		body := map[string]any{"group_snapshot": map[string]any{"group_id": groupID, "name": name}}
		if _, err := sc.Post(ctx, sc.ServiceURL("group_snapshots"), body, &out, &gophercloud.RequestOpts{OkCodes: []int{202}}); err != nil {
			return "", mapError(err)
		}
		return out.GroupSnapshot.ID, nil
	}, func(ctx context.Context) (string, error) {
		gs, err := c.findGroupSnapshot(ctx, name)
		if gs == nil {
			return "", err
		}
		return gs.ID, err
	})
	if err != nil {
		return nil, fmt.Errorf("create group snapshot of group %s: %w", groupID, err)
	}
	var gs *GroupSnapshot
	err = c.waitAfterRequest(ctx, kindCreateGroupSnapshot, "group snapshot "+id+" to be cut", func(ctx context.Context) (bool, string, error) {
		got, err := c.getGroupSnapshot(ctx, id)
		if err != nil {
			return pollError(err)
		}
		gs = got
		switch {
		case gs.Status == StatusAvailable:
			return true, "", nil
		case gs.Failed():
			return true, "", fmt.Errorf("%w: group snapshot %s ended in %q", ErrBackend, id, gs.Status)
		}
		return false, "status " + gs.Status, nil
	})
	if gs == nil {
		gs = &GroupSnapshot{ID: id, Name: name, GroupID: groupID}
	}
	return gs, err
}

// finishGroupSnapshot empties the group (so that its volumes can be grouped and
// snapshotted again) and reads the members.
func (c *Client) finishGroupSnapshot(ctx context.Context, gs *GroupSnapshot) (*GroupSnapshot, error) {
	g, err := c.getGroup(ctx, gs.GroupID)
	if err == nil && len(g.Volumes) > 0 {
		if g.Status != StatusAvailable {
			g, err = c.waitGroup(ctx, g.ID, "to settle")
		}
		if err == nil {
			_, err = c.setGroupVolumes(ctx, g, nil)
		}
	}
	if err != nil && !errors.Is(err, ErrNotFound) {
		return nil, fmt.Errorf("release the volumes of group snapshot %s: %w", gs.ID, err)
	}
	return c.GetGroupSnapshot(ctx, gs.ID)
}

// GetGroupSnapshot implements GroupSnapshotter.
func (c *Client) GetGroupSnapshot(ctx context.Context, id string) (*GroupSnapshot, error) {
	gs, err := c.getGroupSnapshot(ctx, id)
	if err != nil {
		return nil, err
	}
	// Cinder names the members after their group snapshot.
	found, _, err := c.ListSnapshots(ctx, SnapshotListOpts{Name: gs.Name})
	if err != nil {
		return nil, fmt.Errorf("list the snapshots of group snapshot %s: %w", id, err)
	}
	for _, s := range found {
		if s.GroupSnapshotID == id {
			gs.Snapshots = append(gs.Snapshots, s)
		}
	}
	return gs, nil
}

func (c *Client) getGroupSnapshot(ctx context.Context, id string) (*GroupSnapshot, error) {
	sc := c.cinder(mvGroupSnapshots)
	var out struct {
		GroupSnapshot groupSnapshotBody `json:"group_snapshot"`
	}
	if _, err := sc.Get(ctx, sc.ServiceURL("group_snapshots", id), &out, nil); err != nil {
		return nil, fmt.Errorf("get group snapshot %s: %w", id, mapError(err))
	}
	return groupSnapshotFrom(out.GroupSnapshot), nil
}

// findGroupSnapshot returns the group snapshot named name (the newest, if an
// interrupted create made two), or nil.
func (c *Client) findGroupSnapshot(ctx context.Context, name string) (*GroupSnapshot, error) {
	sc := c.cinder(mvGroupSnapshots)
	var out struct {
		GroupSnapshots []groupSnapshotBody `json:"group_snapshots"`
	}
	if _, err := sc.Get(ctx, sc.ServiceURL("group_snapshots", "detail")+"?name="+url.QueryEscape(name), &out, nil); err != nil {
		return nil, fmt.Errorf("list group snapshots named %q: %w", name, mapError(err))
	}
	var best *GroupSnapshot
	for _, b := range out.GroupSnapshots {
		if gs := groupSnapshotFrom(b); gs.Name == name && gs.Status != "deleting" && (best == nil || gs.CreatedAt.After(best.CreatedAt)) {
			best = gs
		}
	}
	return best, nil
}

// DeleteGroupSnapshot implements GroupSnapshotter: the group snapshot (Cinder
// deletes its members with it), then its empty group. A missing one is not an error.
func (c *Client) DeleteGroupSnapshot(ctx context.Context, id string) error {
	gs, err := c.getGroupSnapshot(ctx, id)
	if errors.Is(err, ErrNotFound) {
		// A delete interrupted once the group snapshot was gone left its group, which
		// it renamed after the group snapshot first.
		g, err := c.findGroup(ctx, deletingName(id))
		if g == nil || err != nil {
			return err
		}
		return c.deleteGroup(ctx, g.ID)
	}
	if err != nil {
		return err
	}
	if err := c.renameGroup(ctx, gs.GroupID, deletingName(id)); err != nil && !errors.Is(err, ErrNotFound) {
		return err
	}
	sc := c.cinder(mvGroupSnapshots)
	err = c.deleteWhole(ctx, kindDeleteGroupSnapshot, "group snapshot "+id, func(ctx context.Context) (string, error) {
		gs, err := c.getGroupSnapshot(ctx, id)
		if err != nil {
			return "", err
		}
		return gs.Status, nil
	}, func(ctx context.Context) error {
		if _, err := sc.Delete(ctx, sc.ServiceURL("group_snapshots", id), &gophercloud.RequestOpts{OkCodes: []int{202}}); err != nil {
			return fmt.Errorf("delete group snapshot %s: %w", id, mapError(err))
		}
		return nil
	})
	if err != nil {
		return err
	}
	if err := c.deleteGroup(ctx, gs.GroupID); err != nil {
		return fmt.Errorf("delete the group of group snapshot %s: %w", id, err)
	}
	return nil
}

// dropGroupSnapshot and dropGroup clean up after a failed create, even when its
// context has ended; what they cannot delete is logged with its ID.
func (c *Client) dropGroupSnapshot(ctx context.Context, id string) {
	ctx, cancel := detached(ctx)
	defer cancel()
	if err := c.DeleteGroupSnapshot(ctx, id); err != nil {
		klog.ErrorS(err, "Could not delete the group snapshot of a failed create", "groupSnapshotID", id)
	}
}

func (c *Client) dropGroup(ctx context.Context, id string) {
	ctx, cancel := detached(ctx)
	defer cancel()
	if err := c.deleteGroup(ctx, id); err != nil {
		klog.ErrorS(err, "Could not delete the group of a failed group snapshot", "groupID", id)
	}
}

func groupSnapshotFrom(b groupSnapshotBody) *GroupSnapshot {
	return &GroupSnapshot{ID: b.ID, Name: b.Name, GroupID: b.GroupID, Status: b.Status, CreatedAt: time.Time(b.CreatedAt)}
}

// deletingName is what a group is renamed to while its group snapshot id is being
// deleted, so that a retry finds it once the group snapshot is gone.
func deletingName(id string) string { return "csi-deleting-" + id }

func (c *Client) renameGroup(ctx context.Context, id, name string) error {
	sc := c.cinder(mvGroups)
	if _, err := sc.Put(ctx, sc.ServiceURL("groups", id), map[string]any{"group": map[string]any{"name": name}}, nil, &gophercloud.RequestOpts{OkCodes: []int{202}}); err != nil {
		return fmt.Errorf("rename group %s: %w", id, mapError(err))
	}
	return nil
}
