package realnova

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/cinder-csi/cinder-csi-driver/test/sanityrun"
)

const gib = 1 << 30

// TestMoveBetweenServers is a volume's life across two Nova servers: published to
// A, staged, written; moved to B (with an offline expansion on the way) and read
// back there; then a second volume attached to A when A is deleted: publishing to
// the deleted A is NotFound, unpublishing from it succeeds, and publishing to B
// works at once.
func TestMoveBetweenServers(t *testing.T) {
	b := newBed(t)
	srvA, srvB := b.server(t, "move-a"), b.server(t, "move-b")
	nodeA, nodeB := b.node(t, srvA), b.node(t, srvB)
	ctrl := csi.NewControllerClient(nodeA.Conn)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()

	vol := createVolume(ctx, t, ctrl, "move-data-"+sanityrun.UUID()[:8], gib)
	pc := publish(ctx, t, ctrl, vol, srvA)
	target := stageAndPublish(ctx, t, nodeA, vol, pc)
	payload := []byte("written on " + srvA.ID)
	if err := os.WriteFile(filepath.Join(target, "data"), payload, 0o600); err != nil {
		t.Fatal(err)
	}
	checkCapacity(ctx, t, nodeA, vol, target, gib)
	unpublishAndUnstage(ctx, t, nodeA, vol)
	unpublish(ctx, t, ctrl, vol, srvA)

	// Offline expansion between the two servers (this backend cannot extend an
	// attached volume); the node grows the filesystem when it stages on B.
	if _, err := ctrl.ControllerExpandVolume(ctx, &csi.ControllerExpandVolumeRequest{
		VolumeId: vol, CapacityRange: &csi.CapacityRange{RequiredBytes: 2 * gib}, VolumeCapability: mountCap,
	}); err != nil {
		t.Fatalf("ControllerExpandVolume: %v", err)
	}

	pc = publish(ctx, t, ctrl, vol, srvB)
	target = stageAndPublish(ctx, t, nodeB, vol, pc)
	got, err := os.ReadFile(filepath.Join(target, "data"))
	if err != nil || string(got) != string(payload) {
		t.Fatalf("read on B: %q, %v; want %q", got, err, payload)
	}
	checkCapacity(ctx, t, nodeB, vol, target, 2*gib)
	unpublishAndUnstage(ctx, t, nodeB, vol)
	unpublish(ctx, t, ctrl, vol, srvB)

	// A is deleted while a volume is attached to it.
	vol2 := createVolume(ctx, t, ctrl, "move-orphan-"+sanityrun.UUID()[:8], gib)
	publish(ctx, t, ctrl, vol2, srvA)
	deleted := *srvA
	if err := b.st.DeleteServer(ctx, srvA); err != nil {
		t.Fatal(err)
	}
	_, err = ctrl.ControllerPublishVolume(ctx, &csi.ControllerPublishVolumeRequest{VolumeId: vol, NodeId: deleted.ID, VolumeCapability: mountCap})
	if status.Code(err) != codes.NotFound {
		t.Errorf("publish to the deleted server: %v, want NotFound", err)
	}
	unpublish(ctx, t, ctrl, vol2, &deleted)
	publish(ctx, t, ctrl, vol2, srvB)
	unpublish(ctx, t, ctrl, vol2, srvB)
	if left := b.attachedVolumes(t, srvB); len(left) > 0 {
		t.Errorf("volumes still attached to B: %v", left)
	}
	if err := b.hv.Errors(); err != nil {
		t.Errorf("hypervisor stand-in: %v", err)
	}
}

// createVolume makes a volume through the driver, deleted at the end of the test.
func createVolume(ctx context.Context, t *testing.T, ctrl csi.ControllerClient, name string, size int64) string {
	t.Helper()
	resp, err := ctrl.CreateVolume(ctx, &csi.CreateVolumeRequest{
		Name: name, CapacityRange: &csi.CapacityRange{RequiredBytes: size},
		VolumeCapabilities: []*csi.VolumeCapability{mountCap}, Parameters: map[string]string{"type": "standard"},
	})
	if err != nil {
		t.Fatalf("CreateVolume %s: %v", name, err)
	}
	id := resp.GetVolume().GetVolumeId()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		if _, err := ctrl.DeleteVolume(ctx, &csi.DeleteVolumeRequest{VolumeId: id}); err != nil {
			t.Errorf("DeleteVolume %s: %v", id, err)
		}
	})
	return id
}

func publish(ctx context.Context, t *testing.T, ctrl csi.ControllerClient, vol string, srv *Server) map[string]string {
	t.Helper()
	resp, err := ctrl.ControllerPublishVolume(ctx, &csi.ControllerPublishVolumeRequest{VolumeId: vol, NodeId: srv.ID, VolumeCapability: mountCap})
	if err != nil {
		t.Fatalf("ControllerPublishVolume %s to %s: %v", vol, srv.Name, err)
	}
	return resp.GetPublishContext()
}

func unpublish(ctx context.Context, t *testing.T, ctrl csi.ControllerClient, vol string, srv *Server) {
	t.Helper()
	if _, err := ctrl.ControllerUnpublishVolume(ctx, &csi.ControllerUnpublishVolumeRequest{VolumeId: vol, NodeId: srv.ID}); err != nil {
		t.Fatalf("ControllerUnpublishVolume %s from %s: %v", vol, srv.Name, err)
	}
}

func paths(n *Node, vol string) (staging, target string) {
	base := filepath.Join(filepath.Dir(n.Sock), vol[:8])
	return filepath.Join(base, "staging"), filepath.Join(base, "target")
}

// stageAndPublish stages and publishes on the node; the disk must show up there.
func stageAndPublish(ctx context.Context, t *testing.T, n *Node, vol string, pc map[string]string) string {
	t.Helper()
	node := csi.NewNodeClient(n.Conn)
	staging, target := paths(n, vol)
	sctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if _, err := node.NodeStageVolume(sctx, &csi.NodeStageVolumeRequest{
		VolumeId: vol, PublishContext: pc, StagingTargetPath: staging, VolumeCapability: mountCap,
	}); err != nil {
		t.Fatalf("NodeStageVolume on %s: %v", n.Server.Name, err)
	}
	if _, err := node.NodePublishVolume(ctx, &csi.NodePublishVolumeRequest{
		VolumeId: vol, PublishContext: pc, StagingTargetPath: staging, TargetPath: target, VolumeCapability: mountCap,
	}); err != nil {
		t.Fatalf("NodePublishVolume on %s: %v", n.Server.Name, err)
	}
	return target
}

func unpublishAndUnstage(ctx context.Context, t *testing.T, n *Node, vol string) {
	t.Helper()
	node := csi.NewNodeClient(n.Conn)
	staging, target := paths(n, vol)
	if _, err := node.NodeUnpublishVolume(ctx, &csi.NodeUnpublishVolumeRequest{VolumeId: vol, TargetPath: target}); err != nil {
		t.Fatalf("NodeUnpublishVolume on %s: %v", n.Server.Name, err)
	}
	if _, err := node.NodeUnstageVolume(ctx, &csi.NodeUnstageVolumeRequest{VolumeId: vol, StagingTargetPath: staging}); err != nil {
		t.Fatalf("NodeUnstageVolume on %s: %v", n.Server.Name, err)
	}
}

// checkCapacity wants the filesystem's size within 10 % under want.
func checkCapacity(ctx context.Context, t *testing.T, n *Node, vol, target string, want int64) {
	t.Helper()
	resp, err := csi.NewNodeClient(n.Conn).NodeGetVolumeStats(ctx, &csi.NodeGetVolumeStatsRequest{VolumeId: vol, VolumePath: target})
	if err != nil {
		t.Fatalf("NodeGetVolumeStats on %s: %v", n.Server.Name, err)
	}
	for _, u := range resp.GetUsage() {
		if u.GetUnit() == csi.VolumeUsage_BYTES {
			if u.GetTotal() < want*9/10 || u.GetTotal() > want {
				t.Errorf("filesystem on %s has %d bytes, want about %d", n.Server.Name, u.GetTotal(), want)
			}
			return
		}
	}
	t.Errorf("NodeGetVolumeStats on %s reported no byte usage: %v", n.Server.Name, resp)
}
