package cinder

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestCreateVolume(t *testing.T) {
	tests := []struct {
		name        string
		finalStatus string
		want        error
		wantLeft    int // volumes left in the cloud
	}{
		{name: "creating then available", finalStatus: StatusAvailable, wantLeft: 1},
		{name: "error is deleted", finalStatus: StatusError, want: ErrBackend, wantLeft: 0},
		{name: "error_restoring is deleted", finalStatus: StatusErrorRestoring, want: ErrBackend, wantLeft: 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeOpenStack(t)
			f.do(func() { f.createStatus = tc.finalStatus })
			f.do(func() { f.transitionPolls = 3 })
			c := f.client(t)
			v, err := c.CreateVolume(context.Background(), CreateVolumeOpts{
				Name: "pvc-1", SizeGiB: 2, VolumeType: "fast", Metadata: map[string]string{"cinder.csi/pvc": "default/data"},
			})
			if !errors.Is(err, tc.want) || (tc.want == nil && err != nil) {
				t.Fatalf("CreateVolume: %v, want %v", err, tc.want)
			}
			var got int
			f.do(func() { got = len(f.volumes) })
			if got != tc.wantLeft {
				t.Errorf("%d volumes left, want %d", got, tc.wantLeft)
			}
			if f.calls("GET", "/volumes/") < 3 {
				t.Errorf("returned after %d polls, before the transition", f.calls("GET", "/volumes/"))
			}
			if tc.want != nil {
				if !strings.Contains(err.Error(), tc.finalStatus) {
					t.Errorf("error %q does not name the status", err)
				}
				return
			}
			if v.Status != StatusAvailable || v.SizeGiB != 2 || v.VolumeType != "fast" || v.Name != "pvc-1" ||
				v.Metadata["cinder.csi/pvc"] != "default/data" || v.CreatedAt.IsZero() {
				t.Errorf("volume %+v", v)
			}
		})
	}
}

func TestCreateVolumeWaitBoundedByContext(t *testing.T) {
	f := newFakeOpenStack(t)
	f.do(func() { f.transitionPolls = 1 << 30 })
	c := f.client(t)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := c.CreateVolume(ctx, CreateVolumeOpts{Name: "slow", SizeGiB: 1})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want DeadlineExceeded", err)
	}
	if !strings.Contains(err.Error(), "status creating") {
		t.Errorf("error %q does not say what was last seen", err)
	}
	if time.Since(start) > 5*time.Second {
		t.Error("the wait outlived the context")
	}
	// Left for the retry to find by name.
	vols, err := c.FindVolumesByName(context.Background(), "slow")
	if err != nil || len(vols) != 1 {
		t.Errorf("FindVolumesByName = %v, %v; want the volume still there", vols, err)
	}
}

func TestCreateVolumeFromBackupUsesMicroversion(t *testing.T) {
	f := newFakeOpenStack(t)
	c := f.client(t)
	if _, err := c.CreateVolume(context.Background(), CreateVolumeOpts{Name: "restored", SizeGiB: 1, BackupID: "b-1"}); err != nil {
		t.Fatal(err)
	}
	for _, r := range f.recordedRequests() {
		if r.Method == "POST" && strings.HasSuffix(r.Path, "/volumes") {
			if r.Microversion != "volume 3.47" || dig(r.Body, "volume")["backup_id"] != "b-1" {
				t.Errorf("create from backup sent %q with %v", r.Microversion, r.Body)
			}
		}
	}
}

func TestFindAndListVolumes(t *testing.T) {
	f := newFakeOpenStack(t)
	f.do(func() { f.transitionPolls = 0 })
	c := f.client(t)
	ctx := context.Background()
	var ids []string
	for _, name := range []string{"a", "b", "a-again", "c", "d"} {
		v, err := c.CreateVolume(ctx, CreateVolumeOpts{Name: name, SizeGiB: 1})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, v.ID)
	}
	// Two volumes of one name (CreateVolume itself leaves one: volumes_settle.go).
	f.do(func() { f.volumes[ids[2]]["name"] = "a" })

	found, err := c.FindVolumesByName(ctx, "a")
	if err != nil || len(found) != 2 || found[0].ID != ids[0] || found[1].ID != ids[2] {
		t.Errorf("FindVolumesByName(a) = %v, %v", found, err)
	}
	if none, err := c.FindVolumesByName(ctx, "zzz"); err != nil || len(none) != 0 {
		t.Errorf("FindVolumesByName(zzz) = %v, %v", none, err)
	}

	var got []string
	marker := ""
	for pages := 0; ; pages++ {
		vols, next, err := c.ListVolumes(ctx, ListOpts{Marker: marker, Limit: 2})
		if err != nil {
			t.Fatal(err)
		}
		if len(vols) > 2 {
			t.Fatalf("page of %d, limit 2", len(vols))
		}
		for _, v := range vols {
			got = append(got, v.ID)
		}
		if next == "" {
			break
		}
		if pages > 5 {
			t.Fatal("paging does not end")
		}
		marker = next
	}
	if strings.Join(got, ",") != strings.Join(ids, ",") {
		t.Errorf("paged %v, want %v", got, ids)
	}

	all, next, err := c.ListVolumes(ctx, ListOpts{})
	if err != nil || len(all) != 5 || next != "" {
		t.Errorf("ListVolumes without limit = %d volumes, next %q, %v", len(all), next, err)
	}
}

func TestDeleteVolume(t *testing.T) {
	f := newFakeOpenStack(t)
	f.do(func() { f.transitionPolls = 0 })
	c := f.client(t)
	ctx := context.Background()
	v, err := c.CreateVolume(ctx, CreateVolumeOpts{Name: "del", SizeGiB: 1})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateSnapshot(ctx, "s", v.ID, nil); err != nil {
		t.Fatal(err)
	}
	if err := c.DeleteVolume(ctx, v.ID); !errors.Is(err, ErrInvalidState) || !strings.Contains(err.Error(), "dependent snapshots") {
		t.Errorf("delete with snapshots: %v, want ErrInvalidState with Cinder's reason", err)
	}
	f.do(func() { f.snapshots = map[string]map[string]any{} })
	f.do(func() { f.volumes[v.ID]["status"] = StatusInUse })
	if err := c.DeleteVolume(ctx, v.ID); !errors.Is(err, ErrInvalidState) {
		t.Errorf("delete in-use: %v, want ErrInvalidState", err)
	}
	f.do(func() { f.volumes[v.ID]["status"] = StatusAvailable })
	if err := c.DeleteVolume(ctx, v.ID); err != nil {
		t.Errorf("delete: %v", err)
	}
	if err := c.DeleteVolume(ctx, v.ID); err != nil {
		t.Errorf("delete of a missing volume: %v, want nil", err)
	}
}

// A delete is asked for first; a volume still being made is refused by Cinder,
// waited for, and deleted once it is available.
func TestDeleteVolumeStillCreating(t *testing.T) {
	f := newFakeOpenStack(t)
	f.do(func() { f.transitionPolls = 0 })
	c := f.client(t)
	ctx := context.Background()
	v, err := c.CreateVolume(ctx, CreateVolumeOpts{Name: "busy", SizeGiB: 1})
	if err != nil {
		t.Fatal(err)
	}
	f.do(func() {
		f.transitionPolls = 2
		f.volumes[v.ID]["status"] = StatusCreating
		f.later(v.ID, func(v map[string]any) { v["status"] = StatusAvailable })
	})
	deletes := f.calls("DELETE", "/volumes/"+v.ID)
	if err := c.DeleteVolume(ctx, v.ID); err != nil {
		t.Fatalf("delete of a creating volume: %v", err)
	}
	if n := f.calls("DELETE", "/volumes/"+v.ID) - deletes; n != 2 {
		t.Errorf("%d DELETEs, want 2 (refused while creating, then accepted)", n)
	}
	var left bool
	f.do(func() { left = f.volumes[v.ID] != nil })
	if left {
		t.Error("volume still there")
	}
}

func TestExpandVolume(t *testing.T) {
	tests := []struct {
		name   string
		status string
		fail   bool
		wantMV string
		want   error
	}{
		{name: "offline", status: StatusAvailable, wantMV: "volume 3.0"},
		{name: "online", status: StatusInUse, wantMV: "volume 3.42"},
		{name: "backend fails", status: StatusAvailable, fail: true, wantMV: "volume 3.0", want: ErrBackend},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeOpenStack(t)
			f.do(func() { f.transitionPolls = 0 })
			c := f.client(t)
			ctx := context.Background()
			v, err := c.CreateVolume(ctx, CreateVolumeOpts{Name: "grow", SizeGiB: 1})
			if err != nil {
				t.Fatal(err)
			}
			f.do(func() { f.volumes[v.ID]["status"] = tc.status })
			if tc.fail {
				f.do(func() { f.volumes[v.ID]["metadata"] = map[string]any{"fail": "extend"} })
			}
			if v, err = c.GetVolume(ctx, v.ID); err != nil {
				t.Fatal(err)
			}
			f.do(func() { f.transitionPolls = 2 })
			f.do(func() { f.requests = nil })
			got, err := c.ExpandVolume(ctx, v, 5)
			if !errors.Is(err, tc.want) || (tc.want == nil && err != nil) {
				t.Fatalf("ExpandVolume: %v, want %v", err, tc.want)
			}
			reqs := f.recordedRequests()
			// The caller's read is used: the extension is the first request.
			if len(reqs) == 0 || reqs[0].Method != "POST" || !strings.HasSuffix(reqs[0].Path, "/action") {
				t.Errorf("first request %v, want the extend action (no read before it)", reqs)
			}
			for _, r := range reqs {
				if strings.HasSuffix(r.Path, "/action") && r.Microversion != tc.wantMV {
					t.Errorf("extend sent microversion %q, want %q", r.Microversion, tc.wantMV)
				}
			}
			if tc.want != nil {
				if !strings.Contains(err.Error(), StatusErrorExtending) || !strings.Contains(err.Error(), "reset it") {
					t.Errorf("error %q does not name error_extending and the reset", err)
				}
				var st any
				f.do(func() { st = f.volumes[v.ID]["status"] })
				if st != tc.status {
					t.Errorf("status after the failed extension = %v, want it reset to %s", st, tc.status)
				}
				return
			}
			if got.SizeGiB != 5 || got.Status != tc.status {
				t.Errorf("after expand: %d GiB, %s", got.SizeGiB, got.Status)
			}
			// A retry is a no-op.
			before := f.calls("POST", "/action")
			if _, err := c.ExpandVolume(ctx, got, 5); err != nil || f.calls("POST", "/action") != before {
				t.Errorf("repeated expand: %v, %d new requests", err, f.calls("POST", "/action")-before)
			}
		})
	}
}

func TestRetypeVolume(t *testing.T) {
	tests := []struct {
		name    string
		newType string
		want    error
	}{
		{name: "retyped", newType: "slow"},
		{name: "no valid host", newType: "no-valid-host", want: ErrBackend},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeOpenStack(t)
			f.do(func() { f.transitionPolls = 0 })
			c := f.client(t)
			ctx := context.Background()
			v, err := c.CreateVolume(ctx, CreateVolumeOpts{Name: "rt", SizeGiB: 1, VolumeType: "fast"})
			if err != nil {
				t.Fatal(err)
			}
			f.do(func() { f.transitionPolls = 2 })
			got, err := c.RetypeVolume(ctx, v.ID, tc.newType)
			if !errors.Is(err, tc.want) || (tc.want == nil && err != nil) {
				t.Fatalf("RetypeVolume: %v, want %v", err, tc.want)
			}
			if tc.want == nil && (got.VolumeType != tc.newType || got.Status != StatusAvailable) {
				t.Errorf("after retype: %q, %s", got.VolumeType, got.Status)
			}
		})
	}
}

// Cinder shows host_name to admins only; a member's driver finds its node in the
// device (the mountpoint it sent).
func TestAttachedHost(t *testing.T) {
	for _, tc := range []struct{ server, host, device, want string }{
		{"", "node-a", "/csi-node/node-a", "node-a"},
		{"", "", "/csi-node/node-a", "node-a"},
		{"", "", "/dev/vdb", ""},
		{"2b7a6c44-1c52-4a4e-9d7e-6a3c0f5b8e11", "compute-1", "/dev/vdb", "compute-1"},
		{"2b7a6c44-1c52-4a4e-9d7e-6a3c0f5b8e11", "", "/csi-node/x", ""},
	} {
		if got := attachedHost(tc.server, tc.host, tc.device); got != tc.want {
			t.Errorf("attachedHost(%q, %q, %q) = %q, want %q", tc.server, tc.host, tc.device, got, tc.want)
		}
	}
}

// A volume an earlier failed extension left in error_extending (the reset failed
// then) is reset before the retry, which Kubernetes' RecoverVolumeExpansionFailure
// may make to a smaller size; without the right to reset, the error says what an
// admin must run, and nothing is extended.
func TestExpandVolumeAfterFailure(t *testing.T) {
	for _, tc := range []struct {
		name     string
		attached bool
		canReset bool
		want     error
		status   string
	}{
		{name: "detached, reset, extended", canReset: true, status: StatusAvailable},
		{name: "attached, reset, extended online", attached: true, canReset: true, status: StatusInUse},
		{name: "no right to reset", want: ErrInvalidState, status: StatusErrorExtending},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, c, id := attachFixture(t)
			ctx := context.Background()
			f.do(func() {
				f.transitionPolls = 0
				f.volumes[id]["status"] = StatusErrorExtending
				if tc.attached {
					f.volumes[id]["attachments"] = []any{map[string]any{"attachment_id": "a1", "host_name": "node-a"}}
				}
				if !tc.canReset {
					f.volumes[id]["metadata"] = map[string]any{"fail": "reset"}
				}
			})
			v, err := c.GetVolume(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			got, err := c.ExpandVolume(ctx, v, 2)
			if !errors.Is(err, tc.want) || (tc.want == nil && err != nil) {
				t.Fatalf("ExpandVolume: %v, want %v", err, tc.want)
			}
			var st, size any
			f.do(func() { st, size = f.volumes[v.ID]["status"], f.volumes[v.ID]["size"] })
			if st != tc.status {
				t.Errorf("status %v, want %s", st, tc.status)
			}
			if tc.want != nil {
				if !strings.Contains(err.Error(), "openstack volume set --state available "+v.ID) || f.calls("POST", "/action") != 1 {
					t.Errorf("error %q (after %d actions): want the admin's command and no extension", err, f.calls("POST", "/action"))
				}
				return
			}
			if got.SizeGiB != 2 || size != float64(2) {
				t.Errorf("after the retry: %d GiB (Cinder %v), want 2", got.SizeGiB, size)
			}
		})
	}
}
