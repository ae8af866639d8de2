package cinder

import (
	"context"
	"slices"
	"testing"
	"time"
)

// A create interrupted by a crash made a volume of the name that the retry's look-up
// did not see (the "straggler"); CreateVolume must leave exactly one volume of the
// name, the same one whichever process settles, and never delete an attached one.
func TestCreateVolumeSettlesDuplicates(t *testing.T) {
	tests := []struct {
		name string
		// straggler sets the straggler's fields: created_at, status, attachments.
		straggler     map[string]any
		wantStraggler bool // the straggler is the survivor returned
		wantLeft      int  // volumes of the name left
	}{
		{"straggler created first survives, ours is deleted", map[string]any{"created_at": "2024-05-01T09:59:59.000000"}, true, 1},
		{"same second: the lower ID survives", map[string]any{}, true, 1},
		{"straggler created later is deleted", map[string]any{"created_at": "2024-05-01T10:00:01.000000"}, false, 1},
		{"straggler still creating survives once available", map[string]any{"created_at": "2024-05-01T09:59:59.000000", "status": StatusCreating}, true, 1},
		{"an attached duplicate is never deleted", map[string]any{"created_at": "2024-05-01T10:00:01.000000",
			"attachments": []any{map[string]any{"id": "a1", "attachment_id": "a1", "server_id": "s1", "volume_id": "x"}}}, false, 2},
		{"a failed one does not count", map[string]any{"created_at": "2024-05-01T09:59:59.000000", "status": "error"}, false, 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeOpenStack(t)
			c := f.client(t)
			ctx := context.Background()
			// The straggler, as the dead process's POST left it: a volume of the name.
			straggler, err := c.CreateVolume(ctx, CreateVolumeOpts{Name: "pvc-straggler", SizeGiB: 1})
			if err != nil {
				t.Fatal(err)
			}
			f.do(func() {
				v := f.volumes[straggler.ID]
				v["name"] = "pvc-dup"
				for k, x := range tc.straggler {
					v[k] = x
				}
				if v["status"] == StatusCreating {
					f.later(straggler.ID, func(v map[string]any) { v["status"] = StatusAvailable })
				}
			})
			got, err := c.CreateVolume(ctx, CreateVolumeOpts{Name: "pvc-dup", SizeGiB: 1})
			if err != nil {
				t.Fatal(err)
			}
			if (got.ID == straggler.ID) != tc.wantStraggler || got.Status != StatusAvailable {
				t.Errorf("CreateVolume returned %s (%s); straggler %s, want it returned: %v", got.ID, got.Status, straggler.ID, tc.wantStraggler)
			}
			left, err := c.FindVolumesByName(ctx, "pvc-dup")
			if err != nil {
				t.Fatal(err)
			}
			if len(left) != tc.wantLeft {
				t.Errorf("%d volumes named pvc-dup left (%+v), want %d", len(left), left, tc.wantLeft)
			}
			found := false
			for _, v := range left {
				found = found || v.ID == got.ID
			}
			if !found {
				t.Errorf("the returned volume %s is not among those left: %+v", got.ID, left)
			}
		})
	}
}

func TestCreateSnapshotSettlesDuplicates(t *testing.T) {
	f := newFakeOpenStack(t)
	c := f.client(t)
	ctx := context.Background()
	v, err := c.CreateVolume(ctx, CreateVolumeOpts{Name: "pvc-src", SizeGiB: 1})
	if err != nil {
		t.Fatal(err)
	}
	straggler, err := c.CreateSnapshot(ctx, "snap-straggler", v.ID, nil)
	if err != nil {
		t.Fatal(err)
	}
	f.do(func() {
		f.snapshots[straggler.ID]["name"] = "snap-dup"
		f.snapshots[straggler.ID]["created_at"] = "2024-05-01T10:04:59.000000"
	})
	got, err := c.CreateSnapshot(ctx, "snap-dup", v.ID, nil)
	if err != nil {
		t.Fatal(err)
	}
	left, _, err := c.ListSnapshots(ctx, SnapshotListOpts{Name: "snap-dup", VolumeID: v.ID})
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != straggler.ID || len(left) != 1 || left[0].ID != straggler.ID {
		t.Errorf("CreateSnapshot returned %s, left %+v; want the earlier straggler %s alone", got.ID, left, straggler.ID)
	}
}

func TestNamesakes(t *testing.T) {
	t0 := time.Unix(1000, 0)
	vol := func(id, status string, at time.Time, attached bool) Volume {
		v := Volume{ID: id, Status: status, CreatedAt: at}
		if attached {
			v.Attachments = []VolumeAttachment{{AttachmentID: "a-" + id}}
		}
		return v
	}
	tests := []struct {
		name   string
		vols   []Volume
		keep   string
		dupIDs []string
	}{
		{"none", nil, "", nil},
		{"one", []Volume{vol("b", StatusAvailable, t0, false)}, "b", nil},
		{"earliest wins", []Volume{vol("a", StatusAvailable, t0.Add(time.Second), false), vol("b", StatusCreating, t0, false)}, "b", []string{"a"}},
		{"same second: lowest ID", []Volume{vol("d", StatusAvailable, t0, false), vol("c", StatusAvailable, t0, false)}, "c", []string{"d"}},
		{"failed and deleting ones are no survivors", []Volume{vol("a", StatusError, t0, false), vol("b", StatusDeleting, t0, false), vol("c", StatusAvailable, t0.Add(time.Second), false)}, "c", nil},
		{"an attached duplicate is kept", []Volume{vol("a", StatusAvailable, t0, false), vol("b", StatusInUse, t0.Add(time.Second), true)}, "a", nil},
		{"all failed", []Volume{vol("a", StatusError, t0, false)}, "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			keep, dups := Namesakes(tt.vols)
			got := ""
			if keep != nil {
				got = keep.ID
			}
			var ids []string
			for _, d := range dups {
				ids = append(ids, d.ID)
			}
			if got != tt.keep || !slices.Equal(ids, tt.dupIDs) {
				t.Errorf("Namesakes = %q, %v; want %q, %v", got, ids, tt.keep, tt.dupIDs)
			}
		})
	}
}

func TestSnapshotNamesakes(t *testing.T) {
	t0 := time.Unix(1000, 0)
	snaps := []Snapshot{
		{ID: "late", Status: "available", CreatedAt: t0.Add(time.Second)},
		{ID: "failed", Status: "error", CreatedAt: t0.Add(-time.Second)},
		{ID: "early", Status: "creating", CreatedAt: t0},
	}
	keep, dups := SnapshotNamesakes(snaps)
	if keep == nil || keep.ID != "early" || len(dups) != 1 || dups[0].ID != "late" {
		t.Errorf("SnapshotNamesakes = %+v, %+v; want early kept, late a duplicate, the failed one left to its caller", keep, dups)
	}
	if keep, dups := SnapshotNamesakes(snaps[1:2]); keep != nil || dups != nil {
		t.Errorf("all failed: %+v, %+v", keep, dups)
	}
}
