package cinder

import (
	"context"
	"errors"
	"strings"
	"testing"
)

// attachFixture is a cloud with one available volume and two Nova servers.
func attachFixture(t *testing.T) (*fakeOpenStack, *Client, string) {
	t.Helper()
	f := newFakeOpenStack(t)
	f.do(func() { f.transitionPolls = 0 })
	c := f.client(t)
	v, err := c.CreateVolume(context.Background(), CreateVolumeOpts{Name: "data", SizeGiB: 1})
	if err != nil {
		t.Fatal(err)
	}
	f.do(func() { f.servers["server-1"], f.servers["server-2"] = true, true })
	f.do(func() { f.transitionPolls = 2 })
	return f, c, v.ID
}

func TestNovaAttach(t *testing.T) {
	f, c, vol := attachFixture(t)
	ctx := context.Background()
	nova := c.NovaAttacher()

	att, err := nova.Attach(ctx, c.known(vol), Node{ID: "server-1"})
	if err != nil {
		t.Fatal(err)
	}
	if att.DevicePath != "/dev/vdb" || att.AttachmentID == "" || att.NodeID != "server-1" || att.VolumeID != vol {
		t.Errorf("attachment %+v", att)
	}
	if st := f.volumeField(vol, "status"); st != StatusInUse {
		t.Errorf("volume %s after Attach returned", st)
	}

	posts := f.calls("POST", "/os-volume_attachments")
	again, err := nova.Attach(ctx, c.known(vol), Node{ID: "server-1"})
	if err != nil || again.AttachmentID != att.AttachmentID || f.calls("POST", "/os-volume_attachments") != posts {
		t.Errorf("repeated Attach = %+v, %v, %d new POSTs; want the same attachment, no POST", again, err, f.calls("POST", "/os-volume_attachments")-posts)
	}

	if _, err := nova.Attach(ctx, c.known(vol), Node{ID: "server-2"}); !errors.Is(err, ErrAttachedElsewhere) || !strings.Contains(err.Error(), "server-1") {
		t.Errorf("Attach to a second server: %v, want ErrAttachedElsewhere naming server-1", err)
	}
	ids, err := nova.AttachedVolumes(ctx, "server-1", true)
	if err != nil || len(ids) != 1 || ids[0] != vol {
		t.Errorf("AttachedVolumes = %v, %v", ids, err)
	}
	if _, err := nova.AttachedVolumes(ctx, "server-9", true); !errors.Is(err, ErrNotFound) {
		t.Errorf("AttachedVolumes of a missing server: %v, want ErrNotFound", err)
	}

	f.do(func() { f.requests = nil })
	if err := nova.Detach(ctx, vol, "server-1"); err != nil {
		t.Fatal(err)
	}
	if st, atts := f.volumeField(vol, "status"), f.volumeField(vol, "attachments"); st != StatusAvailable || len(atts.([]any)) != 0 {
		t.Errorf("after Detach: %v with %v", st, atts)
	}
	// Nova is asked first: no read of the volume before the request.
	if reqs := f.recordedRequests(); len(reqs) == 0 || reqs[0].Method != "DELETE" || !strings.Contains(reqs[0].Path, "/os-volume_attachments/") {
		t.Errorf("Detach began with %v, want Nova's DELETE", reqs)
	}
	if err := nova.Detach(ctx, vol, "server-1"); err != nil {
		t.Errorf("second Detach: %v", err)
	}
}

func TestNovaAttachErrors(t *testing.T) {
	tests := []struct {
		name    string
		volume  func(vol string) string
		server  string
		setup   func(f *fakeOpenStack)
		want    error
		message string
	}{
		{name: "missing server", volume: same, server: "server-9", want: ErrNotFound, message: "server server-9"},
		{name: "missing volume", volume: func(string) string { return "vol-9" }, server: "server-1", want: ErrNotFound, message: "vol-9"},
		{name: "compute host fails", volume: same, server: "server-1", setup: func(f *fakeOpenStack) { f.do(func() { f.novaAttachFails = true }) }, want: ErrBackend, message: "attachment failed"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, c, vol := attachFixture(t)
			if tc.setup != nil {
				tc.setup(f)
			}
			_, err := c.NovaAttacher().Attach(context.Background(), c.known(tc.volume(vol)), Node{ID: tc.server})
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.message) {
				t.Errorf("Attach: %v, want %v mentioning %q", err, tc.want, tc.message)
			}
		})
	}
}

func same(vol string) string { return vol }

func TestNovaMultiattach(t *testing.T) {
	f, c, vol := attachFixture(t)
	f.do(func() { f.volumes[vol]["multiattach"] = true })
	for _, s := range []string{"server-1", "server-2"} {
		if _, err := c.NovaAttacher().Attach(context.Background(), c.known(vol), Node{ID: s}); err != nil {
			t.Fatalf("Attach to %s: %v", s, err)
		}
	}
	if n := len(f.volumeField(vol, "attachments").([]any)); n != 2 {
		t.Errorf("%d attachments, want 2", n)
	}
}

func TestNovaDetachMissingIsNil(t *testing.T) {
	tests := []struct {
		name  string
		setup func(t *testing.T, f *fakeOpenStack, c *Client, vol string) (volume, server string)
	}{
		{name: "volume", setup: func(*testing.T, *fakeOpenStack, *Client, string) (string, string) { return "vol-9", "server-1" }},
		{name: "attachment", setup: func(_ *testing.T, _ *fakeOpenStack, _ *Client, vol string) (string, string) { return vol, "server-1" }},
		{name: "server", setup: func(t *testing.T, f *fakeOpenStack, c *Client, vol string) (string, string) {
			if _, err := c.NovaAttacher().Attach(context.Background(), c.known(vol), Node{ID: "server-1"}); err != nil {
				t.Fatal(err)
			}
			f.do(func() { delete(f.servers, "server-1") })
			return vol, "server-1"
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, c, vol := attachFixture(t)
			volume, server := tc.setup(t, f, c, vol)
			if err := c.NovaAttacher().Detach(context.Background(), volume, server); err != nil {
				t.Errorf("Detach of a missing %s: %v, want nil", tc.name, err)
			}
		})
	}
}

func TestCinderAttach(t *testing.T) {
	f, c, vol := attachFixture(t)
	ctx := context.Background()
	cinder := c.CinderAttacher()

	att, err := cinder.Attach(ctx, c.known(vol), Node{ID: "node-a", IP: "192.0.2.7", Initiator: "iqn.1993-08.org.debian:01:5a1b2c3d"})
	if err != nil {
		t.Fatal(err)
	}
	conn := att.Connection
	if conn == nil || conn.DriverVolumeType != "nfs" || conn.Data["export"] != "127.0.0.1:/var/lib/cinder-local/export" ||
		conn.Data["name"] != "volume-"+vol || conn.Data["mount_point_base"] != "/var/lib/cinder/mnt" || conn.Data["format"] != "raw" {
		t.Errorf("connection %+v", conn)
	}
	if att.AttachmentID == "" || att.DevicePath != "" || att.NodeID != "node-a" {
		t.Errorf("attachment %+v", att)
	}
	for _, r := range f.recordedRequests() {
		switch {
		case r.Method == "POST" && strings.HasSuffix(r.Path, "/attachments"):
			req := dig(r.Body, "attachment")
			if _, has := req["instance_uuid"]; has {
				t.Errorf("create sent instance_uuid: %v", req)
			}
			conn := dig(req, "connector")
			if conn["host"] != "node-a" || conn["ip"] != "192.0.2.7" || conn["initiator"] != "iqn.1993-08.org.debian:01:5a1b2c3d" ||
				conn["os_type"] != "linux" || conn["multipath"] != false {
				t.Errorf("connector %v", conn)
			}
			if r.Microversion != "volume 3.27" {
				t.Errorf("create at %q, want 3.27", r.Microversion)
			}
		case r.Method == "POST" && strings.HasSuffix(r.Path, "/action") && strings.Contains(r.Path, "/attachments/"):
			if _, ok := r.Body["os-complete"]; !ok || r.Microversion != "volume 3.44" {
				t.Errorf("complete sent %v at %q", r.Body, r.Microversion)
			}
		}
	}
	if st := f.volumeField(vol, "status"); st != StatusInUse {
		t.Errorf("volume %s after Attach", st)
	}

	posts := f.calls("POST", "/attachments")
	again, err := cinder.Attach(ctx, c.known(vol), Node{ID: "node-a"})
	if err != nil || again.AttachmentID != att.AttachmentID || again.Connection == nil || f.calls("POST", "/attachments") != posts {
		t.Errorf("repeated Attach = %+v, %v; want the same attachment without a new one", again, err)
	}
	if _, err := cinder.Attach(ctx, c.known(vol), Node{ID: "node-b"}); !errors.Is(err, ErrAttachedElsewhere) || !strings.Contains(err.Error(), "node-a") {
		t.Errorf("Attach to node-b: %v, want ErrAttachedElsewhere naming node-a", err)
	}
	ids, err := cinder.AttachedVolumes(ctx, "node-a", true)
	if err != nil || len(ids) != 1 || ids[0] != vol {
		t.Errorf("AttachedVolumes = %v, %v", ids, err)
	}

	f.do(func() { f.requests = nil })
	if err := cinder.Detach(ctx, vol, "node-a"); err != nil {
		t.Fatal(err)
	}
	// One read, then the attachment's DELETE, which Cinder answers once it is gone:
	// no status poll after it.
	var seq []string
	for _, r := range f.recordedRequests() {
		seq = append(seq, r.Method)
	}
	if got := strings.Join(seq, " "); got != "GET DELETE" {
		t.Errorf("Detach of an in-use volume made requests %q, want \"GET DELETE\"", got)
	}
	var left int
	f.do(func() { left = len(f.attachments) })
	if st := f.volumeField(vol, "status"); st != StatusAvailable || left != 0 {
		t.Errorf("after Detach: %v, %d attachments left", st, left)
	}
	if err := cinder.Detach(ctx, vol, "node-a"); err != nil {
		t.Errorf("second Detach: %v", err)
	}
	if err := cinder.Detach(ctx, "vol-9", "node-a"); err != nil {
		t.Errorf("Detach of a missing volume: %v", err)
	}
	if _, err := cinder.Attach(ctx, c.known("vol-9"), Node{ID: "node-a"}); !errors.Is(err, ErrNotFound) {
		t.Errorf("Attach of a missing volume: %v, want ErrNotFound", err)
	}
}

func TestCinderAttachCleansUp(t *testing.T) {
	tests := []struct {
		name    string
		setup   func(t *testing.T, f *fakeOpenStack, c *Client, vol string)
		wantErr error
	}{
		{
			// An Attach interrupted between create and complete.
			name: "incomplete leftover",
			setup: func(_ *testing.T, f *fakeOpenStack, _ *Client, vol string) {
				f.do(func() {
					f.attachments["left"] = &fakeAttachment{id: "left", volumeID: vol, status: "attaching", hasConnection: true}
				})
				f.do(func() { f.volumes[vol]["status"] = StatusAttaching })
			},
		},
		{
			// Nova's pending attachment is left alone: the attach then fails as Cinder says.
			name: "Nova's pending attachment is kept",
			setup: func(_ *testing.T, f *fakeOpenStack, _ *Client, vol string) {
				f.do(func() {
					f.attachments["nova"] = &fakeAttachment{id: "nova", volumeID: vol, instance: "server-1", status: "reserved"}
					f.volumes[vol]["status"] = StatusReserved
				})
			},
			wantErr: ErrInvalidState,
		},
		{
			name: "own attachment without connection info",
			setup: func(t *testing.T, f *fakeOpenStack, c *Client, vol string) {
				att, err := c.CinderAttacher().Attach(context.Background(), c.known(vol), Node{ID: "node-a"})
				if err != nil {
					t.Fatal(err)
				}
				f.do(func() { f.attachments[att.AttachmentID].hasConnection = false })
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, c, vol := attachFixture(t)
			tc.setup(t, f, c, vol)
			att, err := c.CinderAttacher().Attach(context.Background(), c.known(vol), Node{ID: "node-a"})
			if tc.wantErr != nil {
				var novaKept bool
				f.do(func() { novaKept = f.attachments["nova"] != nil })
				if !errors.Is(err, tc.wantErr) || !novaKept {
					t.Errorf("Attach: %v (Nova's attachment kept: %v), want %v", err, novaKept, tc.wantErr)
				}
				return
			}
			if err != nil || att.Connection == nil {
				t.Fatalf("Attach = %+v, %v", att, err)
			}
			var n int
			var kept bool
			f.do(func() { n, kept = len(f.attachments), f.attachments[att.AttachmentID] != nil })
			if n != 1 || !kept {
				t.Errorf("%d attachments, want only %s", n, att.AttachmentID)
			}
		})
	}
}

func TestDetachLeftoverMakesVolumeDeletable(t *testing.T) {
	f, c, vol := attachFixture(t)
	f.do(func() {
		f.attachments["left"] = &fakeAttachment{id: "left", volumeID: vol, status: "attaching", hasConnection: true}
	})
	f.do(func() { f.volumes[vol]["status"] = StatusAttaching })
	if err := c.CinderAttacher().Detach(context.Background(), vol, "node-a"); err != nil {
		t.Fatal(err)
	}
	if err := c.DeleteVolume(context.Background(), vol); err != nil {
		t.Errorf("DeleteVolume after Detach: %v", err)
	}
}

// The attachments API returns connection_info flat (as Cinder 21 does, recorded in
// testdata/attachment.json); older APIs nest it under "data". Both reach the node alike.
func TestConnectionFrom(t *testing.T) {
	flat := map[string]any{"driver_volume_type": "nfs", "export": "h:/e", "name": "volume-1", "format": "raw"}
	nested := map[string]any{"driver_volume_type": "nfs", "data": map[string]any{"export": "h:/e", "name": "volume-1", "format": "raw"}}
	for name, info := range map[string]map[string]any{"flat": flat, "nested": nested} {
		c := connectionFrom(info)
		if c == nil || c.DriverVolumeType != "nfs" || c.Data["export"] != "h:/e" || c.Data["name"] != "volume-1" || c.Data["driver_volume_type"] != nil {
			t.Errorf("%s: connectionFrom = %+v", name, c)
		}
	}
	if connectionFrom(map[string]any{"export": "x"}) != nil {
		t.Error("connection info without driver_volume_type was accepted")
	}
}

// known reads the volume as a caller of Attach would; a volume that cannot be read
// is handed over by ID only.
func (c *Client) known(id string) *Volume {
	if v, err := c.GetVolume(context.Background(), id); err == nil {
		return v
	}
	return &Volume{ID: id}
}

// Cinder reserves an attachment before the backend connects it; when the backend
// then fails the create (HTTP 500), the reserved one must not stay behind.
func TestCinderAttachFailedCreateLeavesNothing(t *testing.T) {
	f, c, vol := attachFixture(t)
	f.injectAfter("POST", "/attachments", 500, 1)
	if _, err := c.CinderAttacher().Attach(context.Background(), c.known(vol), Node{ID: "node-a"}); err == nil {
		t.Fatal("Attach succeeded through a failed create")
	}
	var n int
	f.do(func() { n = len(f.attachments) })
	if n != 0 {
		t.Errorf("%d attachments left after a failed create, want none", n)
	}
}
