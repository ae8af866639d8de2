package realcinder

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"k8s.io/mount-utils"

	"github.com/cinder-csi/cinder-csi-driver/pkg/cinder"
	"github.com/cinder-csi/cinder-csi-driver/pkg/driver"
	"github.com/cinder-csi/cinder-csi-driver/test/internal/testbed"
)

// startEphemeralNode runs a node plugin with --ephemeral against the real Cinder.
func startEphemeralNode(ctx context.Context, t *testing.T, c *cinder.Client, dir, node string) (csi.NodeClient, func()) {
	t.Helper()
	sock := filepath.Join(dir, "node.sock")
	o := testbed.DriverOptions("unix://"+sock, node)
	o.Mode, o.Ephemeral, o.StateDir, o.EphemeralMaxSizeGiB = driver.ModeNode, true, filepath.Join(dir, "state"), 2
	mounter, locators := testbed.NodeDeps()
	d, err := driver.New(o, driver.Deps{Mounter: mounter, Locators: locators, Node: testbed.Node(node), StorageHealth: driver.NodeStorage(o),
		NodeCloud: c, NodeAttacher: c.CinderAttacher(), Version: "ephemeral-test", PublishKey: []byte(testbed.PublishKey)})
	if err != nil {
		t.Fatal(err)
	}
	rctx, cancel := context.WithCancel(ctx)
	exited, wait := testbed.Run(func() error { return d.Run(rctx) })
	// Within 30 s: start-up collects leaked volumes first.
	if err := testbed.WaitServing(ctx, sock, exited, 30*time.Second); err != nil {
		cancel()
		t.Fatalf("%v (it stopped with: %v)", err, wait())
	}
	conn, err := grpc.NewClient("unix://"+sock, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	return csi.NewNodeClient(conn), func() {
		conn.Close()
		cancel()
		if err := wait(); err != nil {
			t.Errorf("node plugin: %v", err)
		}
	}
}

// TestEphemeralInline publishes an inline ephemeral volume on real Cinder, uses it,
// unpublishes it, and then shows that a volume whose pod vanished while the plugin was
// down is collected at the plugin's next start.
func TestEphemeralInline(t *testing.T) {
	requireTestBed(t)
	c := client(t, "local")
	check := leakCheck(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	dir := t.TempDir()
	node := "ephemeral-node"
	handle := fmt.Sprintf("csi-%d", time.Now().UnixNano())
	target := filepath.Join(dir, "pods", "p1", "volumes", "data")
	req := &csi.NodePublishVolumeRequest{VolumeId: handle, TargetPath: target, VolumeCapability: testbed.MountCap(),
		VolumeContext: map[string]string{"csi.storage.k8s.io/ephemeral": "true", "size": "1Gi", "type": "fast",
			"csi.storage.k8s.io/pod.name": "p1", "csi.storage.k8s.io/pod.namespace": "ns", "csi.storage.k8s.io/pod.uid": "u1"}}
	nodeClient, stop := startEphemeralNode(ctx, t, c, dir, node)

	if _, err := nodeClient.NodePublishVolume(ctx, req); err != nil {
		t.Fatalf("NodePublishVolume: %v", err)
	}
	if err := os.WriteFile(filepath.Join(target, "f"), []byte("x"), 0o644); err != nil {
		t.Fatalf("writing into the ephemeral volume: %v", err)
	}
	vols, _ := c.FindVolumesByName(ctx, "csi-ephemeral-"+handle)
	if len(vols) != 1 || vols[0].VolumeType != "fast" || len(vols[0].Attachments) != 1 || vols[0].Metadata["cinder.csi.openstack.org/pod-name"] != "p1" {
		t.Fatalf("Cinder holds %+v; want one attached, tagged volume of type fast", vols)
	}
	// The node's count of its volumes is Cinder's metadata filter.
	tagged, err := c.FindVolumesByMetadata(ctx, map[string]string{"cinder.csi.openstack.org/ephemeral": "true", "cinder.csi.openstack.org/node": node})
	if err != nil || len(tagged) != 1 || tagged[0].ID != vols[0].ID {
		t.Fatalf("FindVolumesByMetadata = %+v, %v; want exactly %s", tagged, err, vols[0].ID)
	}
	if other, err := c.FindVolumesByMetadata(ctx, map[string]string{"cinder.csi.openstack.org/node": node + "-other"}); err != nil || len(other) != 0 {
		t.Fatalf("FindVolumesByMetadata for another node = %+v, %v; want none", other, err)
	}
	if _, err := nodeClient.NodeUnpublishVolume(ctx, &csi.NodeUnpublishVolumeRequest{VolumeId: handle, TargetPath: target}); err != nil {
		t.Fatalf("NodeUnpublishVolume: %v", err)
	}
	check()

	// The pod's volume is published, then the plugin stops and the pod's mount goes
	// away (a reboot): the next start must delete the orphan.
	req.VolumeId = handle + "-2"
	if _, err := nodeClient.NodePublishVolume(ctx, req); err != nil {
		t.Fatalf("NodePublishVolume: %v", err)
	}
	stop()
	if err := mount.CleanupMountPoint(target, mount.New(""), false); err != nil {
		t.Fatal(err)
	}
	_, stop = startEphemeralNode(ctx, t, c, dir, node)
	defer stop()
	check()
}
