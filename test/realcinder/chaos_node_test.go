package realcinder_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"

	"github.com/cinder-csi/cinder-csi-driver/pkg/cinder"
	"github.com/cinder-csi/cinder-csi-driver/pkg/driver"
	"github.com/cinder-csi/cinder-csi-driver/test/internal/inventory"
	"github.com/cinder-csi/cinder-csi-driver/test/internal/testbed"
)

const (
	nodeChaosCycles   = 10
	nodeChaosMinKills = 10
)

// TestChaosNode SIGKILLs the real node plugin in the middle of NodeStageVolume and
// NodeUnstageVolume, again and again, on a volume that has a snapshot (so that
// Cinder's NFS driver serves it as a qcow2 overlay, staged through a
// qemu-storage-daemon export and a loop device). The retries must converge: each
// cycle stages, writes through a published mount and reads what the cycle before
// wrote, unstages, and then no mount under the test's directories, no new loop
// device and no qemu-storage-daemon of the volume may be left.
func TestChaosNode(t *testing.T) {
	bed := requireChaosBed(t)
	if _, err := exec.LookPath("qemu-storage-daemon"); err != nil {
		t.Fatalf("qemu-storage-daemon is missing (make deps installs qemu-system-common): %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	before, err := inventory.Inventory(ctx, bed.direct)
	if err != nil {
		t.Fatal(err)
	}
	loopsBefore := loopDevices(t)
	const host = "chaos-node-plugin"
	ctrl := newDriverProcess(bed.bin, bed.dir, "controller", "--mode=controller", "--attacher=cinder",
		"--cloud-config="+bed.clouds, "--cloud=local", "--expand-in-use=false", "--snapshot-in-use=false", bed.keyFlag)
	if err := ctrl.start(); err != nil {
		t.Fatal(err)
	}
	defer ctrl.stop()
	// The node describes itself as the chart's node plugin does: --node-ip, open-iscsi's
	// initiator name file, the publish key that signs its node ID.
	initiatorFile := filepath.Join(bed.dir, "initiatorname.iscsi")
	if err := os.WriteFile(initiatorFile, []byte("InitiatorName="+testbed.Node(host).Initiator+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	node := newDriverProcess(bed.bin, bed.dir, "node", "--mode=node", "--attacher=cinder", "--node-id="+host,
		"--zone=nova", "--state-dir="+filepath.Join(bed.dir, "state"), "--node-ip="+testbed.Node(host).IP,
		"--iscsi-initiator-file="+initiatorFile, bed.keyFlag)
	if err := node.start(); err != nil {
		t.Fatal(err)
	}
	defer node.stop()
	nodeID := reportedNodeID(ctx, t, node)
	if nodeID != testbed.NodeID(host) {
		t.Fatalf("the node plugin reports node ID %q; want %q (host, IP, initiator, signature)", nodeID, testbed.NodeID(host))
	}
	c := &chaosClient{p: ctrl, direct: bed.direct}

	name := fmt.Sprintf("chaos-node-%d", time.Now().UnixNano()%1_000_000)
	mode := &csi.VolumeCapability_AccessMode{Mode: csi.VolumeCapability_AccessMode_SINGLE_NODE_WRITER}
	volCap := &csi.VolumeCapability{AccessType: &csi.VolumeCapability_Mount{Mount: &csi.VolumeCapability_MountVolume{FsType: "ext4"}}, AccessMode: mode}
	var volID, snapID string
	var pc map[string]string
	setup := []struct {
		what string
		call func(context.Context, csi.ControllerClient) error
	}{
		{"CreateVolume", func(ctx context.Context, cc csi.ControllerClient) error {
			r, err := cc.CreateVolume(ctx, &csi.CreateVolumeRequest{Name: name, CapacityRange: &csi.CapacityRange{RequiredBytes: chaosGiB},
				VolumeCapabilities: []*csi.VolumeCapability{volCap}})
			volID = r.GetVolume().GetVolumeId()
			return err
		}},
		{"CreateSnapshot", func(ctx context.Context, cc csi.ControllerClient) error {
			r, err := cc.CreateSnapshot(ctx, &csi.CreateSnapshotRequest{Name: name + "-snap", SourceVolumeId: volID})
			snapID = r.GetSnapshot().GetSnapshotId()
			return err
		}},
		{"ControllerPublishVolume", func(ctx context.Context, cc csi.ControllerClient) error {
			r, err := cc.ControllerPublishVolume(ctx, &csi.ControllerPublishVolumeRequest{VolumeId: volID, NodeId: nodeID, VolumeCapability: volCap})
			pc = r.GetPublishContext()
			return err
		}},
	}
	for _, s := range setup {
		if err := c.do(ctx, s.what, s.call); err != nil {
			t.Fatal(err)
		}
	}
	// What the node said of itself reached the backend: Cinder stored the attachment's
	// connector with the node's host, IP and initiator name.
	checkStoredConnector(ctx, t, bed.direct, volID, testbed.Node(host))
	defer func() {
		for _, s := range []struct {
			what string
			call func(context.Context, csi.ControllerClient) error
		}{
			{"ControllerUnpublishVolume", func(ctx context.Context, cc csi.ControllerClient) error {
				_, err := cc.ControllerUnpublishVolume(ctx, &csi.ControllerUnpublishVolumeRequest{VolumeId: volID, NodeId: nodeID})
				return err
			}},
			{"DeleteSnapshot", func(ctx context.Context, cc csi.ControllerClient) error {
				_, err := cc.DeleteSnapshot(ctx, &csi.DeleteSnapshotRequest{SnapshotId: snapID})
				return err
			}},
			{"DeleteVolume", func(ctx context.Context, cc csi.ControllerClient) error {
				_, err := cc.DeleteVolume(ctx, &csi.DeleteVolumeRequest{VolumeId: volID})
				return err
			}},
		} {
			if err := c.do(ctx, s.what, s.call); err != nil {
				t.Error(err)
			}
		}
		left, err := inventory.Leftovers(ctx, bed.direct, before, 3*time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range left {
			t.Errorf("left in Cinder: %s", l)
		}
	}()

	staging := filepath.Join(bed.dir, "staging", volID)
	target := filepath.Join(bed.dir, "target", volID)
	if err := os.MkdirAll(filepath.Dir(target), 0o750); err != nil {
		t.Fatal(err)
	}
	k := &nodeKiller{p: node, rnd: rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7)), took: map[string]time.Duration{}}
	for cycle := 1; cycle <= nodeChaosCycles; cycle++ {
		if err := k.converge(ctx, "NodeStageVolume", func(ctx context.Context, nc csi.NodeClient) error {
			_, err := nc.NodeStageVolume(ctx, &csi.NodeStageVolumeRequest{VolumeId: volID, PublishContext: pc, StagingTargetPath: staging, VolumeCapability: volCap})
			return err
		}); err != nil {
			t.Fatalf("cycle %d: %v", cycle, err)
		}
		if p := daemonsOf(t, volID); len(p) != 1 {
			t.Errorf("cycle %d: staged, the volume has %d qemu-storage-daemon exports, want 1 (it is a qcow2 overlay): %v", cycle, len(p), p)
		}
		if err := k.once(ctx, func(ctx context.Context, nc csi.NodeClient) error {
			_, err := nc.NodePublishVolume(ctx, &csi.NodePublishVolumeRequest{VolumeId: volID, PublishContext: pc, StagingTargetPath: staging,
				TargetPath: target, VolumeCapability: volCap})
			return err
		}); err != nil {
			t.Fatalf("cycle %d: NodePublishVolume: %v", cycle, err)
		}
		if cycle > 1 {
			if got, err := os.ReadFile(filepath.Join(target, "cycle")); err != nil || string(got) != fmt.Sprint(cycle-1) {
				t.Errorf("cycle %d: the file the cycle before wrote reads %q (%v), want %q", cycle, got, err, fmt.Sprint(cycle-1))
			}
		}
		if err := writeSynced(filepath.Join(target, "cycle"), fmt.Sprint(cycle)); err != nil {
			t.Errorf("cycle %d: %v", cycle, err)
		}
		if err := k.once(ctx, func(ctx context.Context, nc csi.NodeClient) error {
			_, err := nc.NodeUnpublishVolume(ctx, &csi.NodeUnpublishVolumeRequest{VolumeId: volID, TargetPath: target})
			return err
		}); err != nil {
			t.Fatalf("cycle %d: NodeUnpublishVolume: %v", cycle, err)
		}
		if err := k.converge(ctx, "NodeUnstageVolume", func(ctx context.Context, nc csi.NodeClient) error {
			_, err := nc.NodeUnstageVolume(ctx, &csi.NodeUnstageVolumeRequest{VolumeId: volID, StagingTargetPath: staging})
			return err
		}); err != nil {
			t.Fatalf("cycle %d: %v", cycle, err)
		}
		for _, m := range mountsUnder(t, bed.dir) {
			t.Errorf("cycle %d: a mount is left after NodeUnstageVolume: %s", cycle, m)
		}
		for _, l := range loopDevices(t) {
			if !slices.Contains(loopsBefore, l) {
				t.Errorf("cycle %d: a loop device is left after NodeUnstageVolume: %s", cycle, l)
			}
		}
		if p := daemonsOf(t, volID); len(p) > 0 {
			t.Errorf("cycle %d: qemu-storage-daemon of the volume is left after NodeUnstageVolume: %s", cycle, strings.Join(p, "; "))
		}
		if t.Failed() {
			break
		}
	}
	t.Logf("chaos node: %d cycles, %d node plugin kills in the middle of a call, %d calls; undisturbed: %v", nodeChaosCycles, k.midCall, k.calls, k.took)
	fmt.Printf("chaos node: cycles=%d kills=%d calls=%d\n", nodeChaosCycles, k.midCall, k.calls)
	if k.midCall < nodeChaosMinKills {
		t.Errorf("only %d kills landed in the middle of a call, want at least %d", k.midCall, nodeChaosMinKills)
	}
	if t.Failed() {
		keepLog(t, node.log)
	}
}

// nodeKiller calls the node plugin, SIGKILLing it at a random moment of the first
// tries of a call, as a node that loses its plugin container mid-operation.
type nodeKiller struct {
	p              *driverProcess
	rnd            *rand.Rand
	midCall, calls int
	took           map[string]time.Duration // the last undisturbed duration of each call
}

// converge retries call until it succeeds. Its first three tries are each killed at
// a random moment within the time the call took when it was left alone (first
// measured on an undisturbed call), so that kills land in every part of it.
func (k *nodeKiller) converge(ctx context.Context, what string, call func(context.Context, csi.NodeClient) error) error {
	var last error
	for try := 1; try <= 30; try++ {
		conn, err := k.p.conn()
		if err != nil {
			return err
		}
		cctx, cancel := context.WithTimeout(ctx, 60*time.Second)
		done := make(chan error, 1)
		k.calls++
		go func() { done <- call(cctx, csi.NewNodeClient(conn)) }()
		var after <-chan time.Time
		d, known := k.took[what]
		if try <= 3 && known {
			after = time.After(d/20 + time.Duration(k.rnd.Int64N(int64(d*9/10))))
		}
		start := time.Now()
		select {
		case err = <-done:
		case <-after:
			k.p.kill()
			k.midCall++
			err = <-done
			if serr := k.p.start(); serr != nil {
				cancel()
				conn.Close()
				return serr
			}
		}
		cancel()
		conn.Close()
		if err == nil {
			if after == nil {
				k.took[what] = time.Since(start)
			}
			return nil
		}
		last = err
		time.Sleep(200 * time.Millisecond)
	}
	return fmt.Errorf("%s did not converge in 30 tries: %v", what, last)
}

// once calls without a kill, retrying only while the plugin is still coming up.
func (k *nodeKiller) once(ctx context.Context, call func(context.Context, csi.NodeClient) error) error {
	var err error
	for try := 0; try < 50; try++ {
		conn, cerr := k.p.conn()
		if cerr != nil {
			return cerr
		}
		cctx, cancel := context.WithTimeout(ctx, 60*time.Second)
		k.calls++
		err = call(cctx, csi.NewNodeClient(conn))
		cancel()
		conn.Close()
		if err == nil || !strings.Contains(err.Error(), "connect") {
			return err
		}
		time.Sleep(100 * time.Millisecond)
	}
	return err
}

func writeSynced(path, body string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := f.WriteString(body); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// daemonsOf lists the qemu-storage-daemon processes whose command line names volID.
func daemonsOf(t *testing.T, volID string) []string {
	t.Helper()
	out, _ := exec.Command("pgrep", "-a", "-f", "qemu-storage-daemon.*"+volID).Output()
	if s := strings.TrimSpace(string(out)); s != "" {
		return strings.Split(s, "\n")
	}
	return nil
}

// checkStoredConnector checks that volID's one attachment was made with a connector
// naming node: host, IP and iSCSI initiator, as Cinder's database keeps it.
func checkStoredConnector(ctx context.Context, t *testing.T, c *cinder.Client, volID string, node driver.NodeIdentity) {
	t.Helper()
	ids, err := c.AttachmentIDs(ctx, volID)
	if err != nil || len(ids) != 1 {
		t.Errorf("attachments of volume %s: %v, %v; want one", volID, ids, err)
		return
	}
	id, _, _ := strings.Cut(ids[0], " ") // "<id> (<volume>, <status>)"
	conn, err := testbed.StoredConnector(ctx, id)
	if err != nil {
		t.Error(err)
		return
	}
	if conn["host"] != node.ID || conn["ip"] != node.IP || conn["initiator"] != node.Initiator {
		t.Errorf("Cinder stored connector %v for attachment %s; want host %q, ip %q, initiator %q", conn, id, node.ID, node.IP, node.Initiator)
	}
}
