package cinder

import (
	"context"
	"errors"
	"testing"
)

func TestSnapshots(t *testing.T) {
	f := newFakeOpenStack(t)
	f.do(func() { f.transitionPolls = 0 })
	c := f.client(t)
	ctx := context.Background()
	v, err := c.CreateVolume(ctx, CreateVolumeOpts{Name: "src", SizeGiB: 3})
	if err != nil {
		t.Fatal(err)
	}
	// Snapshots of attached volumes need force.
	f.do(func() { f.volumes[v.ID]["status"] = StatusInUse })

	s, err := c.CreateSnapshot(ctx, "snap-1", v.ID, map[string]string{"k": "v"})
	if err != nil {
		t.Fatal(err)
	}
	// A quick snapshot comes back ready (CreateSnapshot waits briefly for it).
	if s.Name != "snap-1" || s.VolumeID != v.ID || s.SizeGiB != 3 || s.Status != StatusAvailable || s.Metadata["k"] != "v" || s.IsBackup {
		t.Errorf("snapshot %+v, want snap-1 of %s, 3 GiB, available, metadata k=v", s, v.ID)
	}
	// A slow one comes back still creating once the brief wait is over.
	f.do(func() { f.transitionPolls = 1 << 30 })
	if s2, err := c.CreateSnapshot(ctx, "snap-2", v.ID, nil); err != nil || s2.Status != StatusCreating {
		t.Fatalf("slow snapshot: %+v, %v; want it returned creating", s2, err)
	}
	f.do(func() { f.transitionPolls = 0 })
	if _, err := c.CreateSnapshot(ctx, "x", "missing", nil); !errors.Is(err, ErrNotFound) {
		t.Errorf("snapshot of a missing volume: %v, want ErrNotFound", err)
	}

	got, err := c.GetSnapshot(ctx, s.ID)
	if err != nil || got.ID != s.ID {
		t.Errorf("GetSnapshot = %+v, %v", got, err)
	}
	byName, _, err := c.ListSnapshots(ctx, SnapshotListOpts{Name: "snap-1"})
	if err != nil || len(byName) != 1 || byName[0].ID != s.ID {
		t.Errorf("ListSnapshots(name) = %+v, %v", byName, err)
	}
	page1, next, err := c.ListSnapshots(ctx, SnapshotListOpts{VolumeID: v.ID, ListOpts: ListOpts{Limit: 1}})
	if err != nil || len(page1) != 1 || next == "" {
		t.Fatalf("first page = %d, next %q, %v", len(page1), next, err)
	}
	page2, next2, err := c.ListSnapshots(ctx, SnapshotListOpts{VolumeID: v.ID, ListOpts: ListOpts{Limit: 1, Marker: next}})
	if err != nil || len(page2) != 1 || page2[0].ID == page1[0].ID {
		t.Fatalf("second page = %+v, next %q, %v", page2, next2, err)
	}

	if err := c.DeleteSnapshot(ctx, s.ID); err != nil {
		t.Error(err)
	}
	if err := c.DeleteSnapshot(ctx, s.ID); err != nil {
		t.Errorf("deleting a missing snapshot: %v, want nil", err)
	}
	if _, err := c.GetSnapshot(ctx, s.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("GetSnapshot after delete: %v", err)
	}
}

func TestBackups(t *testing.T) {
	f := newFakeOpenStack(t)
	f.do(func() { f.transitionPolls = 0 })
	c := f.client(t)
	ctx := context.Background()
	v, err := c.CreateVolume(ctx, CreateVolumeOpts{Name: "src", SizeGiB: 4})
	if err != nil {
		t.Fatal(err)
	}

	b, err := c.CreateBackup(ctx, "bk-1", v.ID, map[string]string{"csi": "yes"})
	if err != nil {
		t.Fatal(err)
	}
	if !b.IsBackup || b.Name != "bk-1" || b.VolumeID != v.ID || b.SizeGiB != 4 || b.Metadata["csi"] != "yes" || b.CreatedAt.IsZero() {
		t.Errorf("backup %+v", b)
	}
	for _, r := range f.recordedRequests() {
		if r.Method == "POST" && len(r.Path) > 8 && r.Path[len(r.Path)-8:] == "/backups" {
			req := dig(r.Body, "backup")
			if req["force"] != true || req["incremental"] == true || r.Microversion != "volume 3.43" {
				t.Errorf("backup create sent %v at %q; want force, full backup, 3.43", req, r.Microversion)
			}
		}
	}

	list, next, err := c.ListBackups(ctx, SnapshotListOpts{VolumeID: v.ID})
	if err != nil || len(list) != 1 || next != "" || list[0].ID != b.ID {
		t.Errorf("ListBackups = %+v, %q, %v", list, next, err)
	}
	if none, _, err := c.ListBackups(ctx, SnapshotListOpts{Name: "other"}); err != nil || len(none) != 0 {
		t.Errorf("ListBackups(other) = %+v, %v", none, err)
	}
	if err := c.DeleteBackup(ctx, b.ID); err != nil {
		t.Error(err)
	}
	if err := c.DeleteBackup(ctx, b.ID); err != nil {
		t.Errorf("deleting a missing backup: %v, want nil", err)
	}
}

func TestGetLimits(t *testing.T) {
	f := newFakeOpenStack(t)
	c := f.client(t)
	l, err := c.GetLimits(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if l.MaxTotalGiB != 1000 || l.UsedTotalGiB != 42 {
		t.Errorf("limits %+v", l)
	}
}
