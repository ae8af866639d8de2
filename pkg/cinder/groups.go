package cinder

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/gophercloud/gophercloud/v2"
	"k8s.io/klog/v2"
)

// The temporary generic volume group a group snapshot is taken through: Cinder
// snapshots groups, not lists of volumes. It holds the volumes only while the group
// snapshot is cut, and lives (empty) as long as the group snapshot, which Cinder ties
// to it. It has the group snapshot's name.

// group is a Cinder generic volume group as the driver sees it.
type group struct {
	ID          string   `json:"id"`
	Name        string   `json:"name"`
	Description string   `json:"description"`
	Status      string   `json:"status"`
	GroupType   string   `json:"group_type"`
	Volumes     []string `json:"volumes"`
}

// TemporaryGroupDescription is the description of the temporary groups the driver
// makes: how DeleteVolume tells its own groups from an operator's.
const TemporaryGroupDescription = "temporary group of a CSI volume group snapshot; emptied once it is cut, deleted with it"

func (c *Client) getGroup(ctx context.Context, id string) (*group, error) {
	sc := c.cinder(mvGroupVolumes)
	var out struct {
		Group group `json:"group"`
	}
	if _, err := sc.Get(ctx, sc.ServiceURL("groups", id)+"?list_volume=True", &out, nil); err != nil {
		return nil, fmt.Errorf("get group %s: %w", id, mapError(err))
	}
	return &out.Group, nil
}

// findGroup returns the live group named name, or nil.
func (c *Client) findGroup(ctx context.Context, name string) (*group, error) {
	sc := c.cinder(mvGroups)
	var out struct {
		Groups []group `json:"groups"`
	}
	if _, err := sc.Get(ctx, sc.ServiceURL("groups", "detail")+"?name="+url.QueryEscape(name), &out, nil); err != nil {
		return nil, fmt.Errorf("list groups named %q: %w", name, mapError(err))
	}
	for i := range out.Groups {
		if g := &out.Groups[i]; g.Name == name && g.Status != "deleting" {
			return c.getGroup(ctx, g.ID)
		}
	}
	return nil, nil
}

// createGroup makes the group for opts and waits until it is available. The
// volume types are those of the volumes, and the zone theirs.
func (c *Client) createGroup(ctx context.Context, opts GroupSnapshotOpts, vols []*Volume) (*group, error) {
	var types []string
	for _, v := range vols {
		if v.VolumeType != "" && !slices.Contains(types, v.VolumeType) {
			types = append(types, v.VolumeType)
		}
	}
	body := map[string]any{"name": opts.Name, "description": TemporaryGroupDescription, "group_type": opts.GroupTypeID, "volume_types": types}
	if len(vols) > 0 && vols[0].AvailabilityZone != "" {
		body["availability_zone"] = vols[0].AvailabilityZone
	}
	sc := c.cinder(mvGroups)
	id, err := c.createOnce(ctx, "group "+opts.Name, func(ctx context.Context) (string, error) {
		var out struct {
			Group group `json:"group"`
		}
		if _, err := sc.Post(ctx, sc.ServiceURL("groups"), map[string]any{"group": body}, &out, &gophercloud.RequestOpts{OkCodes: []int{202}}); err != nil {
			return "", mapError(err)
		}
		return out.Group.ID, nil
	}, func(ctx context.Context) (string, error) {
		g, err := c.findGroup(ctx, opts.Name)
		if g == nil {
			return "", err
		}
		return g.ID, err
	})
	if err != nil {
		return nil, fmt.Errorf("create group %q: %w", opts.Name, err)
	}
	return c.waitGroup(ctx, id, "to be created")
}

// waitGroup waits until the group leaves creating/updating; one in error is ErrBackend.
func (c *Client) waitGroup(ctx context.Context, id, why string) (*group, error) {
	var g *group
	err := c.waitAfterRequest(ctx, kindGroup, "group "+id+" "+why, func(ctx context.Context) (bool, string, error) {
		got, err := c.getGroup(ctx, id)
		if err != nil {
			return pollError(err)
		}
		g = got
		switch {
		case g.Status == StatusAvailable:
			return true, "", nil
		case isErrorStatus(g.Status):
			return true, "", fmt.Errorf("%w: group %s ended in %q (no backend could take volumes of these types in one group of type %s)", ErrBackend, id, g.Status, g.GroupType)
		}
		return false, "status " + g.Status, nil
	})
	return g, err
}

// setGroupVolumes makes the group hold exactly want, and waits for it.
func (c *Client) setGroupVolumes(ctx context.Context, g *group, want []string) (*group, error) {
	var add, remove []string
	for _, v := range want {
		if !slices.Contains(g.Volumes, v) {
			add = append(add, v)
		}
	}
	for _, v := range g.Volumes {
		if !slices.Contains(want, v) {
			remove = append(remove, v)
		}
	}
	if len(add) == 0 && len(remove) == 0 {
		return g, nil
	}
	upd := map[string]any{}
	if len(add) > 0 {
		upd["add_volumes"] = strings.Join(add, ",")
	}
	if len(remove) > 0 {
		upd["remove_volumes"] = strings.Join(remove, ",")
	}
	sc := c.cinder(mvGroups)
	if _, err := sc.Put(ctx, sc.ServiceURL("groups", g.ID), map[string]any{"group": upd}, nil, &gophercloud.RequestOpts{OkCodes: []int{202}}); err != nil {
		return nil, fmt.Errorf("update group %s (add %v, remove %v): %w", g.ID, add, remove, mapError(err))
	}
	return c.waitGroup(ctx, g.ID, "to take its volumes")
}

// deleteGroup empties the group and deletes it, waiting until it is gone; a missing
// one is not an error. The volumes are never deleted with it.
func (c *Client) deleteGroup(ctx context.Context, id string) error {
	g, err := c.getGroup(ctx, id)
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if len(g.Volumes) > 0 && g.Status == StatusAvailable {
		if _, err := c.setGroupVolumes(ctx, g, nil); err != nil {
			return err
		}
	}
	sc := c.cinder(mvGroups)
	return c.deleteWhole(ctx, kindDeleteGroup, "group "+id, func(ctx context.Context) (string, error) {
		g, err := c.getGroup(ctx, id)
		if err != nil {
			return "", err
		}
		return g.Status, nil
	}, func(ctx context.Context) error {
		body := map[string]any{"delete": map[string]any{"delete-volumes": false}}
		if _, err := sc.Post(ctx, sc.ServiceURL("groups", id, "action"), body, nil, &gophercloud.RequestOpts{OkCodes: []int{202}}); err != nil {
			return fmt.Errorf("delete group %s: %w", id, mapError(err))
		}
		return nil
	})
}

// cleanupTimeout bounds the clean-up after a failed create, which runs even when
// the request's context has ended.
const cleanupTimeout = 2 * time.Minute

func detached(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
}

// GroupObjects lists the project's groups and group snapshots, as "group <id>" and
// "group-snapshot <id>" -> name: for inventories and sweeps.
func (c *Client) GroupObjects(ctx context.Context) (map[string]string, error) {
	out := map[string]string{}
	sc := c.cinder(mvGroupSnapshots)
	var groups struct {
		Groups []group `json:"groups"`
	}
	if _, err := sc.Get(ctx, sc.ServiceURL("groups", "detail"), &groups, nil); err != nil {
		return nil, fmt.Errorf("list groups: %w", mapError(err))
	}
	for _, g := range groups.Groups {
		out["group "+g.ID] = g.Name
	}
	var snaps struct {
		GroupSnapshots []struct {
			ID   string `json:"id"`
			Name string `json:"name"`
		} `json:"group_snapshots"`
	}
	if _, err := sc.Get(ctx, sc.ServiceURL("group_snapshots", "detail"), &snaps, nil); err != nil {
		return nil, fmt.Errorf("list group snapshots: %w", mapError(err))
	}
	for _, s := range snaps.GroupSnapshots {
		out["group-snapshot "+s.ID] = s.Name
	}
	return out, nil
}

// releaseFromTemporaryGroup takes a volume out of the temporary group of a group
// snapshot whose create was interrupted before it could empty the group, and never
// retried: Cinder refuses to delete a volume in a group. The group goes too when no
// group snapshot holds it. A volume in a group the driver did not make is left alone
// (false): that is the operator's.
func (c *Client) releaseFromTemporaryGroup(ctx context.Context, volumeID string) (bool, error) {
	sc := c.cinder(mvGroups)
	var out struct {
		Volume struct {
			GroupID string `json:"group_id"`
		} `json:"volume"`
	}
	if _, err := sc.Get(ctx, sc.ServiceURL("volumes", volumeID), &out, nil); err != nil {
		return false, fmt.Errorf("get volume %s: %w", volumeID, mapError(err))
	}
	if out.Volume.GroupID == "" {
		return false, nil
	}
	g, err := c.getGroup(ctx, out.Volume.GroupID)
	if err != nil || g.Description != TemporaryGroupDescription {
		return false, err
	}
	klog.InfoS("Taking the volume out of the temporary group of an unfinished group snapshot before deleting it", "volumeID", volumeID, "groupID", g.ID, "name", g.Name)
	if g.Status != StatusAvailable {
		if g, err = c.waitGroup(ctx, g.ID, "to settle"); err != nil {
			return false, err
		}
	}
	if g, err = c.setGroupVolumes(ctx, g, slices.DeleteFunc(slices.Clone(g.Volumes), func(v string) bool { return v == volumeID })); err != nil {
		return false, err
	}
	if len(g.Volumes) == 0 {
		if gs, err := c.findGroupSnapshot(ctx, g.Name); err == nil && gs == nil {
			return true, c.deleteGroup(ctx, g.ID)
		}
	}
	return true, nil
}
