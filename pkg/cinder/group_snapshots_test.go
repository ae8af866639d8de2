package cinder

import (
	"context"
	"errors"
	"slices"
	"testing"
)

func TestGroupSnapshots(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		// groupStatus and cutStatus are what Cinder makes of the group and the cut.
		groupStatus, cutStatus string
		// volumeStatus of the second volume; "" leaves it available.
		volumeStatus string
		want         error
	}{
		{name: "cut", groupStatus: StatusAvailable, cutStatus: StatusAvailable},
		{name: "the group fails", groupStatus: StatusError, cutStatus: StatusAvailable, want: ErrBackend},
		{name: "the cut fails", groupStatus: StatusAvailable, cutStatus: StatusError, want: ErrBackend},
		{name: "a volume Cinder will not group", groupStatus: StatusAvailable, cutStatus: StatusAvailable, volumeStatus: StatusBackingUp, want: ErrInvalidState},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeOpenStack(t)
			f.do(func() { f.transitionPolls, f.groupStatus, f.groupSnapshotStatus = 0, tc.groupStatus, tc.cutStatus })
			c := f.client(t)
			var ids []string
			for _, n := range []string{"a", "b"} {
				v, err := c.CreateVolume(ctx, CreateVolumeOpts{Name: n, SizeGiB: 1})
				if err != nil {
					t.Fatal(err)
				}
				ids = append(ids, v.ID)
			}
			if tc.volumeStatus != "" {
				f.do(func() { f.volumes[ids[1]]["status"] = tc.volumeStatus })
			}
			gt, err := c.GroupType(ctx, "")
			if err != nil || gt.Name != "generic" || gt.Consistent() {
				t.Fatalf("default group type: %+v, %v; want generic, not consistent", gt, err)
			}
			opts := GroupSnapshotOpts{Name: "gs", GroupTypeID: gt.ID, VolumeIDs: ids}
			gs, err := c.CreateGroupSnapshot(ctx, opts)
			if tc.want != nil {
				if !errors.Is(err, tc.want) {
					t.Fatalf("got %v, want %v", err, tc.want)
				}
				// Whatever the failed create made is gone; the volumes stay.
				f.do(func() {
					if len(f.groups)+len(f.groupSnapshots)+len(f.snapshots) != 0 || len(f.volumes) != 2 {
						t.Errorf("after a failed create: %d groups, %d group snapshots, %d snapshots, %d volumes; want 0, 0, 0, 2",
							len(f.groups), len(f.groupSnapshots), len(f.snapshots), len(f.volumes))
					}
				})
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := slices.Sorted(slices.Values(gs.VolumeIDs())); !gs.Ready() || !slices.Equal(got, slices.Sorted(slices.Values(ids))) || gs.CreatedAt.IsZero() {
				t.Fatalf("group snapshot %+v: want ready, members of %v, a creation time", gs, ids)
			}
			f.do(func() {
				if vols := f.groups[gs.GroupID]["volumes"].([]string); len(vols) != 0 {
					t.Errorf("the group still holds %v once cut; it must be emptied", vols)
				}
			})
			// The same name again: the same group snapshot, nothing new cut.
			again, err := c.CreateGroupSnapshot(ctx, opts)
			if err != nil || again.ID != gs.ID || f.calls("POST", "/group_snapshots") != 1 {
				t.Errorf("again: %+v, %v, %d cuts; want %s and one cut", again, err, f.calls("POST", "/group_snapshots"), gs.ID)
			}
			if err := c.DeleteGroupSnapshot(ctx, gs.ID); err != nil {
				t.Fatal(err)
			}
			if err := c.DeleteGroupSnapshot(ctx, gs.ID); err != nil {
				t.Errorf("deleting it again: %v, want nil", err)
			}
			if _, err := c.GetGroupSnapshot(ctx, gs.ID); !errors.Is(err, ErrNotFound) {
				t.Errorf("get after the delete: %v, want ErrNotFound", err)
			}
			f.do(func() {
				if len(f.groups)+len(f.snapshots) != 0 || len(f.volumes) != 2 {
					t.Errorf("after the delete: %d groups, %d snapshots, %d volumes; want 0, 0, 2", len(f.groups), len(f.snapshots), len(f.volumes))
				}
			})
		})
	}
}

// TestDeleteVolumeLeavesAnAbandonedGroup: a create interrupted after the volumes went
// into the temporary group, and never retried, leaves them there; Cinder refuses to
// delete a volume in a group, so DeleteVolume takes it out (and the group goes with
// the last one). A group the driver did not make is left alone.
func TestDeleteVolumeLeavesAnAbandonedGroup(t *testing.T) {
	ctx := context.Background()
	f := newFakeOpenStack(t)
	f.do(func() { f.transitionPolls = 0 })
	c := f.client(t)
	var vols []*Volume
	for _, n := range []string{"a", "b", "c"} {
		v, err := c.CreateVolume(ctx, CreateVolumeOpts{Name: n, SizeGiB: 1})
		if err != nil {
			t.Fatal(err)
		}
		vols = append(vols, v)
	}
	ours, err := c.createGroup(ctx, GroupSnapshotOpts{Name: "gs", GroupTypeID: "0000000a-0000-4000-8000-00000000000a"}, vols[:2])
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.setGroupVolumes(ctx, ours, []string{vols[0].ID, vols[1].ID}); err != nil {
		t.Fatal(err)
	}
	for _, v := range vols[:2] {
		if err := c.DeleteVolume(ctx, v.ID); err != nil {
			t.Fatalf("delete volume %s of an abandoned group: %v", v.ID, err)
		}
	}
	f.do(func() {
		if len(f.groups) != 0 {
			t.Errorf("the abandoned group is still there: %v", f.groups)
		}
	})
	// The operator's own group keeps its volume: the delete fails with Cinder's reason.
	f.do(func() {
		f.groups["00000099-0000-4000-8000-000000000099"] = map[string]any{"id": "00000099-0000-4000-8000-000000000099", "name": "mine",
			"description": "", "status": StatusAvailable, "volumes": []string{vols[2].ID}}
		f.volumes[vols[2].ID]["group_id"] = "00000099-0000-4000-8000-000000000099"
	})
	if err := c.DeleteVolume(ctx, vols[2].ID); !errors.Is(err, ErrInvalidState) {
		t.Errorf("delete a volume in the operator's group: %v, want ErrInvalidState", err)
	}
}

// TestDeleteGroupSnapshotResumes: a delete that stopped after the group snapshot went
// (Cinder's part done, the driver gone) finds its group on the retry and deletes it.
func TestDeleteGroupSnapshotResumes(t *testing.T) {
	ctx := context.Background()
	f := newFakeOpenStack(t)
	f.do(func() { f.transitionPolls = 0 })
	c := f.client(t)
	v, err := c.CreateVolume(ctx, CreateVolumeOpts{Name: "a", SizeGiB: 1})
	if err != nil {
		t.Fatal(err)
	}
	gs, err := c.CreateGroupSnapshot(ctx, GroupSnapshotOpts{Name: "gs", GroupTypeID: "0000000a-0000-4000-8000-00000000000a", VolumeIDs: []string{v.ID}})
	if err != nil {
		t.Fatal(err)
	}
	// The first delete's Cinder calls, up to the group snapshot's; then it stops.
	f.inject("POST", "/groups/"+gs.GroupID+"/action", 400, "error_bad_request.json", 1, nil)
	if err := c.DeleteGroupSnapshot(ctx, gs.ID); err == nil {
		t.Fatal("the delete succeeded though its group could not be deleted")
	}
	f.do(func() {
		f.injections = nil
		if len(f.groupSnapshots) != 0 || len(f.groups) != 1 {
			t.Fatalf("after the interrupted delete: %d group snapshots, %d groups; want 0 and 1", len(f.groupSnapshots), len(f.groups))
		}
	})
	if err := c.DeleteGroupSnapshot(ctx, gs.ID); err != nil {
		t.Fatal(err)
	}
	f.do(func() {
		if len(f.groups) != 0 {
			t.Errorf("the retry left the group: %v", f.groups)
		}
	})
}
