package realcinder

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"

	"github.com/cinder-csi/cinder-csi-driver/test/internal/testbed"
)

func blockCap() *csi.VolumeCapability {
	return &csi.VolumeCapability{
		AccessType: &csi.VolumeCapability_Block{Block: &csi.VolumeCapability_BlockVolume{}},
		AccessMode: &csi.VolumeCapability_AccessMode{Mode: csi.VolumeCapability_AccessMode_SINGLE_NODE_WRITER},
	}
}

// TestBlockVolume publishes a raw block volume of real Cinder as a device file,
// writes bytes to it, and reads them back after a full unpublish and republish.
func TestBlockVolume(t *testing.T) {
	requireTestBed(t)
	c := client(t, "local")
	check := leakCheck(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	dir := t.TempDir()
	conn, stop, err := testbed.StartDriver(ctx, c, dir, "block-node", 4)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = stop() }()
	ctrl, node := csi.NewControllerClient(conn), csi.NewNodeClient(conn)
	name := fmt.Sprintf("block-%d", time.Now().UnixNano()%1_000_000)
	vol, err := ctrl.CreateVolume(ctx, &csi.CreateVolumeRequest{Name: name, CapacityRange: &csi.CapacityRange{RequiredBytes: gib},
		VolumeCapabilities: []*csi.VolumeCapability{blockCap()}})
	if err != nil {
		t.Fatal(err)
	}
	id := vol.GetVolume().GetVolumeId()
	w := (&testbed.Walk{Ctrl: ctrl, Node: node, Dir: dir, Nodes: [2]string{testbed.NodeID("block-node"), testbed.NodeID("block-node")}, Say: t.Logf}).Own([]string{id}, nil)
	defer func() {
		if err := w.Cleanup(context.WithoutCancel(ctx)); err != nil {
			t.Error(err)
		}
		check()
	}()
	staging, target := filepath.Join(dir, "staging"), filepath.Join(dir, "pod", "dev")
	pattern := bytes.Repeat([]byte("cinder-csi block "), 256)
	for round := 0; round < 2; round++ {
		pub, err := ctrl.ControllerPublishVolume(ctx, &csi.ControllerPublishVolumeRequest{VolumeId: id, NodeId: testbed.NodeID("block-node"), VolumeCapability: blockCap()})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := node.NodeStageVolume(ctx, &csi.NodeStageVolumeRequest{VolumeId: id, StagingTargetPath: staging,
			VolumeCapability: blockCap(), PublishContext: pub.GetPublishContext()}); err != nil {
			t.Fatal(err)
		}
		if _, err := node.NodePublishVolume(ctx, &csi.NodePublishVolumeRequest{VolumeId: id, StagingTargetPath: staging, TargetPath: target,
			VolumeCapability: blockCap(), PublishContext: pub.GetPublishContext()}); err != nil {
			t.Fatal(err)
		}
		st, err := os.Stat(target)
		if err != nil || st.Mode()&os.ModeDevice == 0 {
			t.Fatalf("target %s is not a device file: %v, %v", target, st, err)
		}
		stats, err := node.NodeGetVolumeStats(ctx, &csi.NodeGetVolumeStatsRequest{VolumeId: id, VolumePath: target})
		if err != nil || stats.GetUsage()[0].GetTotal() != gib {
			t.Fatalf("block stats = %v, %v; want a total of 1 GiB", stats, err)
		}
		dev, err := os.OpenFile(target, os.O_RDWR|os.O_SYNC, 0)
		if err != nil {
			t.Fatal(err)
		}
		if round == 0 {
			if _, err := dev.WriteAt(pattern, 1<<20); err != nil {
				t.Fatal(err)
			}
		} else {
			got := make([]byte, len(pattern))
			if _, err := dev.ReadAt(got, 1<<20); err != nil || !bytes.Equal(got, pattern) {
				t.Fatalf("read back %q..., %v", got[:32], err)
			}
		}
		dev.Close()
		if _, err := node.NodeUnpublishVolume(ctx, &csi.NodeUnpublishVolumeRequest{VolumeId: id, TargetPath: target}); err != nil {
			t.Fatal(err)
		}
		if _, err := node.NodeUnstageVolume(ctx, &csi.NodeUnstageVolumeRequest{VolumeId: id, StagingTargetPath: staging}); err != nil {
			t.Fatal(err)
		}
		if _, err := ctrl.ControllerUnpublishVolume(ctx, &csi.ControllerUnpublishVolumeRequest{VolumeId: id, NodeId: testbed.NodeID("block-node")}); err != nil {
			t.Fatal(err)
		}
	}
}
