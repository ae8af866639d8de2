package driver

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/cinder-csi/cinder-csi-driver/pkg/cinder/fake"
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
	if pc[pcAttacher] != AttacherCinder || pc[pcDriverVolumeType] != "file" ||
		json.Unmarshal([]byte(pc[pcConnectionData]), &data) != nil || data["path"] != dir+"/volume-"+id {
		t.Fatalf("publish context %v does not hand over the connection info", pc)
	}
	again, err := pub(id, testNode, mountCap())
	if err != nil || again.GetPublishContext()[pcAttachmentID] != pc[pcAttachmentID] {
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
	if vols, _ := cloud.CinderAttacher().AttachedVolumes(ctx, testNode, true); len(vols) != 0 {
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

// Concurrent publishes to a node one short of its limit: exactly one gets the last
// slot, the others ResourceExhausted, and Cinder never holds more than the limit.
func TestAttachLimitUnderConcurrency(t *testing.T) {
	ctx := context.Background()
	d, cloud := newTestController(t, fake.Options{Latency: 30 * time.Millisecond}) // limit 2
	first := mustCreate(t, d, "first")
	if _, err := d.ControllerPublishVolume(ctx, &csi.ControllerPublishVolumeRequest{VolumeId: first, NodeId: testNode, VolumeCapability: mountCap()}); err != nil {
		t.Fatal(err)
	}
	const n = 6
	ids := make([]string, n)
	for i := range ids {
		ids[i] = mustCreate(t, d, fmt.Sprintf("racer-%d", i))
	}
	codesSeen := make([]codes.Code, n)
	var wg sync.WaitGroup
	for i := range ids {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			_, err := d.ControllerPublishVolume(ctx, &csi.ControllerPublishVolumeRequest{VolumeId: ids[i], NodeId: testNode, VolumeCapability: mountCap()})
			codesSeen[i] = status.Code(err)
		}(i)
	}
	wg.Wait()
	ok, exhausted := 0, 0
	for _, c := range codesSeen {
		switch c {
		case codes.OK:
			ok++
		case codes.ResourceExhausted:
			exhausted++
		default:
			t.Errorf("unexpected code %s", c)
		}
	}
	if ok != 1 || exhausted != n-1 {
		t.Errorf("%d published, %d refused; want 1 and %d", ok, exhausted, n-1)
	}
	attached, err := cloud.CinderAttacher().AttachedVolumes(ctx, testNode, true)
	if err != nil {
		t.Fatal(err)
	}
	if len(attached) != 2 {
		t.Errorf("Cinder shows %d volumes on the node, want its limit 2", len(attached))
	}
	if len(d.slots.inflight) != 0 {
		t.Errorf("slots left taken: %v", d.slots.inflight)
	}
}
