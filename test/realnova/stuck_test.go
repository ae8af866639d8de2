package realnova

import (
	"context"
	"testing"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"github.com/gophercloud/gophercloud/v2/openstack/blockstorage/v3/attachments"
	"github.com/gophercloud/gophercloud/v2/openstack/blockstorage/v3/volumes"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/cinder-csi/cinder-csi-driver/test/sanityrun"
)

// TestStuckAttachments leaves volumes in the states operators otherwise fix by
// hand (reset-state, attachment delete) and checks that publishing just works, as
// the project's member user, with no admin rights: Cinder attachments Nova does
// not stand behind are recognised and dropped; live ones are respected.
func TestStuckAttachments(t *testing.T) {
	b := newBed(t)
	srvA, srvB := b.server(t, "stuck-a"), b.server(t, "stuck-b")
	b.node(t, srvA)
	nodeB := b.node(t, srvB)
	ctrl := csi.NewControllerClient(nodeB.Conn)

	tests := []struct {
		name string
		// leave puts the volume in the stuck state, as someone else would.
		leave func(ctx context.Context, t *testing.T, vol string)
		// to is where the driver then publishes it.
		to       *Server
		wantCode codes.Code
		// stillOn is the live server a refused publish must leave the volume on.
		stillOn *Server
	}{
		{
			name: "in-use by a server that no longer exists",
			leave: func(ctx context.Context, t *testing.T, vol string) {
				b.cinderAttachment(ctx, t, vol, sanityrun.UUID(), true)
			},
			to: srvB,
		},
		{
			name: "detaching, by a detach that died with its server",
			leave: func(ctx context.Context, t *testing.T, vol string) {
				b.cinderAttachment(ctx, t, vol, sanityrun.UUID(), true)
				if err := volumes.BeginDetaching(ctx, b.st.Volume, vol).ExtractErr(); err != nil {
					t.Fatalf("os-begin_detaching: %v", err)
				}
				if err := b.st.waitVolume(ctx, vol, "detaching"); err != nil {
					t.Fatal(err)
				}
			},
			to: srvB,
		},
		{
			name: "reserved for this server by an attach that never reached Nova",
			leave: func(ctx context.Context, t *testing.T, vol string) {
				b.cinderAttachment(ctx, t, vol, srvB.ID, false)
			},
			to: srvB,
		},
		{
			name: "reserved for another server by an attach that never reached Nova",
			leave: func(ctx context.Context, t *testing.T, vol string) {
				b.cinderAttachment(ctx, t, vol, srvA.ID, false)
			},
			to: srvB,
		},
		{
			name: "attached to another live server: refused, left alone",
			leave: func(ctx context.Context, t *testing.T, vol string) {
				publish(ctx, t, ctrl, vol, srvA)
				t.Cleanup(func() { unpublish(context.Background(), t, ctrl, vol, srvA) })
			},
			to:       srvB,
			wantCode: codes.FailedPrecondition,
			stillOn:  srvA,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			defer cancel()
			vol := createVolume(ctx, t, ctrl, "stuck-"+sanityrun.UUID()[:8], gib)
			tc.leave(ctx, t, vol)
			_, err := ctrl.ControllerPublishVolume(ctx, &csi.ControllerPublishVolumeRequest{VolumeId: vol, NodeId: tc.to.ID, VolumeCapability: mountCap})
			if status.Code(err) != tc.wantCode {
				t.Fatalf("ControllerPublishVolume: %v, want %v", err, tc.wantCode)
			}
			if tc.stillOn != nil {
				b.checkAttached(ctx, t, vol, tc.stillOn)
			}
			if tc.wantCode != codes.OK {
				return
			}
			want := map[string]bool{tc.to.ID: true}
			if got := b.attachmentInstances(ctx, t, vol); len(got) != 1 || !want[got[0]] {
				t.Errorf("Cinder attachments of the volume are for %v, want only %s", got, tc.to.ID)
			}
			unpublish(ctx, t, ctrl, vol, tc.to)
			if got := b.attachmentInstances(ctx, t, vol); len(got) != 0 {
				t.Errorf("Cinder attachments left after unpublish: %v", got)
			}
		})
	}
}

// cinderAttachment makes a Cinder attachment for instance behind Nova's back:
// complete (the volume in-use) or only reserved.
func (b *bed) cinderAttachment(ctx context.Context, t *testing.T, vol, instance string, complete bool) {
	t.Helper()
	opts := attachments.CreateOpts{VolumeUUID: vol, InstanceUUID: instance}
	if complete {
		opts.Connector = map[string]any{"host": "gone-host", "ip": "127.0.0.1", "initiator": "iqn.2026-11.local:gone",
			"platform": "x86_64", "os_type": "linux", "multipath": false, "mountpoint": "/dev/vdb"}
	}
	att, err := attachments.Create(ctx, b.st.Volume, opts).Extract()
	if err != nil {
		t.Fatalf("make a Cinder attachment for %s: %v", instance, err)
	}
	want := "reserved"
	if complete {
		if err := attachments.Complete(ctx, b.st.Volume, att.ID).ExtractErr(); err != nil {
			t.Fatalf("complete attachment %s: %v", att.ID, err)
		}
		want = "in-use"
	}
	if err := b.st.waitVolume(ctx, vol, want); err != nil {
		t.Fatal(err)
	}
}

// cinderAttachments lists the volume's Cinder attachments.
func (b *bed) cinderAttachments(ctx context.Context, t *testing.T, vol string) []attachments.Attachment {
	t.Helper()
	pages, err := attachments.List(b.st.Volume, attachments.ListOpts{VolumeID: vol}).AllPages(ctx)
	if err != nil {
		t.Fatal(err)
	}
	list, err := attachments.ExtractAttachments(pages)
	if err != nil {
		t.Fatal(err)
	}
	return list
}

// attachmentInstances lists the instances of the volume's Cinder attachments.
func (b *bed) attachmentInstances(ctx context.Context, t *testing.T, vol string) []string {
	t.Helper()
	var out []string
	for _, a := range b.cinderAttachments(ctx, t, vol) {
		out = append(out, a.Instance)
	}
	return out
}

// checkAttached wants the volume still attached to srv on both sides: in-use in
// Cinder with an attached attachment for srv's instance UUID, and in Nova's list
// of srv's volumes.
func (b *bed) checkAttached(ctx context.Context, t *testing.T, vol string, srv *Server) {
	t.Helper()
	v, err := volumes.Get(ctx, b.st.Volume, vol).Extract()
	if err != nil {
		t.Fatal(err)
	}
	if v.Status != "in-use" {
		t.Errorf("Cinder: volume %s is %s, want in-use (attached to %s)", vol, v.Status, srv.Name)
	}
	var seen []string
	live := false
	for _, a := range b.cinderAttachments(ctx, t, vol) {
		seen = append(seen, a.Instance+" "+a.Status)
		live = live || (a.Instance == srv.ID && a.Status == "attached")
	}
	if !live {
		t.Errorf("Cinder: volume %s has no attached attachment for %s (%s) any more; its attachments: %v", vol, srv.Name, srv.ID, seen)
	}
	onServer, err := b.st.ServerVolumes(ctx, srv.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !onServer[vol] {
		t.Errorf("Nova: server %s no longer lists volume %s; it lists %v", srv.Name, vol, onServer)
	}
}
