package cinder

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"k8s.io/klog/v2"
)

// A create interrupted by a crash (the controller killed while its POST was with
// Cinder) can still make a volume or snapshot after the retry looked for the name and
// made its own: Cinder's creates have no idempotency token, and the API inserts the
// row some hundreds of milliseconds after it took the request. So a create, once its
// result is known, settles the name: every process picks the same survivor, the
// earliest created, then the lowest ID (Cinder keeps created_at to the second). If it
// is not ours, ours is deleted and the survivor returned; other duplicates are deleted
// unless something is attached to them.

// namesake is what settling needs of a volume or snapshot.
type namesake struct {
	id       string
	created  time.Time
	ignore   bool // failed or being deleted: not a duplicate
	attached bool
}

// settle deletes the duplicates among items of one name (del) and returns the
// survivor's ID; what names the kind for the log.
func settle(ctx context.Context, obs Observer, what, name, ours string, items []namesake, del func(context.Context, string) error) (string, error) {
	live := slices.DeleteFunc(items, func(n namesake) bool { return n.ignore })
	if len(live) <= 1 {
		return ours, nil
	}
	keep := survivor(live)
	for _, n := range live {
		if n.id == keep.id || (n.id != ours && n.attached) {
			continue
		}
		if err := del(ctx, n.id); err != nil {
			if n.id == ours {
				return "", fmt.Errorf("%s %s duplicates %s (%q, made by an interrupted create) and deleting it failed: %w", what, ours, keep.id, name, err)
			}
			klog.ErrorS(err, "Could not delete a duplicate; delete it by hand", "what", what, "id", n.id, "name", name, "kept", keep.id)
			continue
		}
		klog.InfoS("Deleted a duplicate of the same name, made by an interrupted create", "what", what, "id", n.id, "name", name, "kept", keep.id)
		obs.Repair(RepairDuplicate)
	}
	return keep.id, nil
}

// survivor is the one of live that every process keeps.
func survivor(live []namesake) namesake {
	return slices.MinFunc(live, func(a, b namesake) int {
		if c := a.created.Compare(b.created); c != 0 {
			return c
		}
		return strings.Compare(a.id, b.id)
	})
}

func volumeNamesakes(vols []Volume) []namesake {
	items := make([]namesake, 0, len(vols))
	for _, v := range vols {
		items = append(items, namesake{id: v.ID, created: v.CreatedAt, attached: len(v.Attachments) > 0,
			ignore: isErrorStatus(v.Status) || v.Status == StatusDeleting})
	}
	return items
}

// Namesakes sorts volumes found by one name (FindVolumesByName) by the rule a create
// settles its name with: keep is the survivor every process picks (nil when none
// is live: all failed or being deleted), duplicates the other live ones that may
// be deleted (never one with an attachment). A caller that finds a name rather
// than creating it uses this, so that a duplicate a crashed create left is
// resolved the same way whoever meets it first.
func Namesakes(vols []Volume) (keep *Volume, duplicates []Volume) {
	live := slices.DeleteFunc(volumeNamesakes(vols), func(n namesake) bool { return n.ignore })
	if len(live) == 0 {
		return nil, nil
	}
	k := survivor(live)
	for i := range vols {
		v := &vols[i]
		switch {
		case v.ID == k.id:
			keep = v
		case !isErrorStatus(v.Status) && v.Status != StatusDeleting && len(v.Attachments) == 0:
			duplicates = append(duplicates, *v)
		}
	}
	return keep, duplicates
}

func snapshotNamesakes(snaps []Snapshot) []namesake {
	items := make([]namesake, 0, len(snaps))
	for i := range snaps {
		items = append(items, namesake{id: snaps[i].ID, created: snaps[i].CreatedAt, ignore: snaps[i].Failed() || snaps[i].Status == StatusDeleting})
	}
	return items
}

// SnapshotNamesakes is Namesakes for snapshots and backups found by one name.
func SnapshotNamesakes(snaps []Snapshot) (keep *Snapshot, duplicates []Snapshot) {
	items := snapshotNamesakes(snaps)
	live := slices.DeleteFunc(slices.Clone(items), func(n namesake) bool { return n.ignore })
	if len(live) == 0 {
		return nil, nil
	}
	k := survivor(live)
	for i := range snaps {
		switch {
		case snaps[i].ID == k.id:
			keep = &snaps[i]
		case !items[i].ignore:
			duplicates = append(duplicates, snaps[i])
		}
	}
	return keep, duplicates
}

// settleVolume settles the name of ours, a volume just created and available.
func (c *Client) settleVolume(ctx context.Context, ours *Volume) (*Volume, error) {
	found, err := c.FindVolumesByName(ctx, ours.Name)
	if err != nil {
		klog.InfoS("Could not check the new volume's name for duplicates; keeping it", "volumeID", ours.ID, "name", ours.Name, "err", err)
		return ours, nil
	}
	keep, err := settle(ctx, c.observer(), "volume", ours.Name, ours.ID, volumeNamesakes(found), c.DeleteVolume)
	if err != nil || keep == ours.ID {
		return ours, err
	}
	return c.waitCreated(ctx, kindSurvivor, false, keep, ours.Name)
}

// settleSnapshot settles the name of ours, a snapshot of volumeID just created.
func (c *Client) settleSnapshot(ctx context.Context, ours *Snapshot) (*Snapshot, error) {
	found, _, err := c.ListSnapshots(ctx, SnapshotListOpts{Name: ours.Name, VolumeID: ours.VolumeID})
	if err != nil {
		klog.InfoS("Could not check the new snapshot's name for duplicates; keeping it", "snapshotID", ours.ID, "name", ours.Name, "err", err)
		return ours, nil
	}
	keep, err := settle(ctx, c.observer(), "snapshot", ours.Name, ours.ID, snapshotNamesakes(found), c.DeleteSnapshot)
	if err != nil || keep == ours.ID {
		return ours, err
	}
	return c.GetSnapshot(ctx, keep)
}
