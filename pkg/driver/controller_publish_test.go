package driver

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"

	"github.com/cinder-csi/cinder-csi-driver/pkg/cinder/fake"
	"github.com/cinder-csi/cinder-csi-driver/pkg/mount"
)

func timeSleep() { time.Sleep(2 * time.Millisecond) }

func TestControllerPublish(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	d, cloud := newTestController(t, fake.Options{FileDir: dir})
	id := mustCreate(t, d, "pub")
	pub := func(vol, node string, c *csi.VolumeCapability) (*csi.ControllerPublishVolumeResponse, error) {
		return d.ControllerPublishVolume(ctx, &csi.ControllerPublishVolumeRequest{VolumeId: vol, NodeId: node, VolumeCapability: c})
	}
	first, err := pub(id, testNode, mountCap())
	if err != nil {
		t.Fatal(err)
	}
	pc := first.GetPublishContext()
	var data map[string]any
	if pc[mount.PublishAttacher] != mount.AttacherCinder || pc[mount.PublishDriverVolumeType] != "file" ||
		json.Unmarshal([]byte(pc[mount.PublishConnectionData]), &data) != nil || data["path"] != dir+"/volume-"+id {
		t.Fatalf("publish context %v does not hand over the connection info", pc)
	}
	again, err := pub(id, testNode, mountCap())
	if err != nil || again.GetPublishContext()[mount.PublishAttachmentID] != pc[mount.PublishAttachmentID] {
		t.Fatalf("republish = %v, %v; want the same attachment", again, err)
	}
	tests := []struct {
		name string
		vol  string
		node string
		cap  *csi.VolumeCapability
		code codes.Code
	}{
		{"other node", id, "node-2", mountCap(), codes.FailedPrecondition},
		{"missing volume", "00000000-0000-4000-8000-000000000000", testNode, mountCap(), codes.NotFound},
		{"no node", id, "", mountCap(), codes.InvalidArgument},
		{"no capability", id, testNode, nil, codes.InvalidArgument},
		{"bad node id", id, "a b/../c", mountCap(), codes.NotFound},
		{"multi-node on non-multiattach", id, testNode, blockCap(csi.VolumeCapability_AccessMode_MULTI_NODE_MULTI_WRITER), codes.InvalidArgument},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := pub(tt.vol, tt.node, tt.cap)
			wantCode(t, err, tt.code)
		})
	}
	// The node limit is 2: a second volume fits, a third does not.
	second := mustCreate(t, d, "pub2")
	if _, err := pub(second, testNode, mountCap()); err != nil {
		t.Fatal(err)
	}
	third := mustCreate(t, d, "pub3")
	_, err = pub(third, testNode, mountCap())
	wantCode(t, err, codes.ResourceExhausted)

	for _, v := range []string{id, id, second} {
		if _, err := d.ControllerUnpublishVolume(ctx, &csi.ControllerUnpublishVolumeRequest{VolumeId: v, NodeId: testNode}); err != nil {
			t.Fatal(err)
		}
	}
	if vols, _ := cloud.CinderAttacher().AttachedVolumes(ctx, testNode); len(vols) != 0 {
		t.Errorf("attachments left: %v", vols)
	}
}

func TestMultiattachBlock(t *testing.T) {
	ctx := context.Background()
	d, _ := newTestController(t, fake.Options{})
	c := blockCap(csi.VolumeCapability_AccessMode_MULTI_NODE_MULTI_WRITER)
	resp, err := d.CreateVolume(ctx, &csi.CreateVolumeRequest{Name: "shared", VolumeCapabilities: []*csi.VolumeCapability{c},
		Parameters: map[string]string{"type": "multiattach"}})
	if err != nil {
		t.Fatal(err)
	}
	id := resp.GetVolume().GetVolumeId()
	for _, n := range []string{"node-a", "node-b"} {
		if _, err := d.ControllerPublishVolume(ctx, &csi.ControllerPublishVolumeRequest{VolumeId: id, NodeId: n, VolumeCapability: c}); err != nil {
			t.Fatalf("publish to %s: %v", n, err)
		}
	}
	got, err := d.ControllerGetVolume(ctx, &csi.ControllerGetVolumeRequest{VolumeId: id})
	if err != nil || len(got.GetStatus().GetPublishedNodeIds()) != 2 {
		t.Fatalf("ControllerGetVolume = %v, %v; want two published nodes", got, err)
	}
	if _, err := d.ControllerUnpublishVolume(ctx, &csi.ControllerUnpublishVolumeRequest{VolumeId: id}); err != nil {
		t.Fatal(err)
	}
	got, _ = d.ControllerGetVolume(ctx, &csi.ControllerGetVolumeRequest{VolumeId: id})
	if n := len(got.GetStatus().GetPublishedNodeIds()); n != 0 {
		t.Fatalf("unpublish without node left %d attachments", n)
	}
}
