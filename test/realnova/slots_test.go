package realnova

import (
	"context"
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"

	"github.com/cinder-csi/cinder-csi-driver/pkg/cinder"
	"github.com/cinder-csi/cinder-csi-driver/pkg/driver"
)

// TestAttachSlots: NodeGetInfo reports the slots really free on a Nova server
// (MutableCSINodeAllocatableCount), its disks as the guest sees them (the stand-in's
// sysfs) counted against Nova's max_disk_devices_to_attach (4 on the bed). The boot
// volume takes one: 3. A volume attached to the server outside Kubernetes takes
// another: 2. The driver's own volume counts as another's while kubelet has not
// recorded it (1), and not once kubelet has (vol_data.json of its staging directory,
// written here as kubelet writes it): 2 again. Detached, everything is back to 3.
func TestAttachSlots(t *testing.T) {
	b := newBed(t)
	srv := b.server(t, "slots")
	kubelet := filepath.Join(b.dir, "slots-kubelet")
	n, err := StartCountingNode(context.Background(), b.cloud, b.hv, srv, filepath.Join(b.dir, srv.Name), kubelet)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := n.Stop(); err != nil {
			t.Errorf("driver on %s: %v", srv.Name, err)
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	node, ctrl := csi.NewNodeClient(n.Conn), csi.NewControllerClient(n.Conn)
	slots := func(want int64, why string) {
		t.Helper()
		var got int64
		for end := time.Now().Add(30 * time.Second); ; time.Sleep(200 * time.Millisecond) {
			info, err := node.NodeGetInfo(ctx, &csi.NodeGetInfoRequest{})
			if err != nil {
				t.Fatal(err)
			}
			if got = info.GetMaxVolumesPerNode(); got == want || time.Now().After(end) {
				break
			}
		}
		if got != want {
			t.Fatalf("%s: NodeGetInfo reports %d slots, want %d", why, got, want)
		}
	}
	slots(3, "the boot volume alone")

	// Someone else's volume, attached through Nova by its own client.
	other, err := b.cloud.CreateVolume(ctx, cinder.CreateVolumeOpts{Name: "slots-other-" + srv.ID[:8], SizeGiB: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cctx, ccancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer ccancel()
		if err := b.cloud.NovaAttacher().Detach(cctx, other.ID, srv.ID); err != nil {
			t.Errorf("detach %s: %v", other.ID, err)
		}
		if err := b.cloud.DeleteVolume(cctx, other.ID); err != nil {
			t.Errorf("delete %s: %v", other.ID, err)
		}
	})
	if _, err := b.cloud.NovaAttacher().Attach(ctx, other, cinder.Node{ID: srv.ID}); err != nil {
		t.Fatal(err)
	}
	slots(2, "the boot volume and a volume attached by another client")

	// The driver's own volume: another's until kubelet records it.
	vol := createVolume(ctx, t, ctrl, "slots-"+srv.ID[:8], gib)
	publish(ctx, t, ctrl, vol, srv)
	slots(1, "the driver's volume attached, not yet recorded by kubelet")
	staged := filepath.Join(kubelet, "plugins", "kubernetes.io", "csi", driver.DefaultDriverName, fmt.Sprintf("%x", sha256.Sum256([]byte(vol))))
	if err := os.MkdirAll(staged, 0o750); err != nil {
		t.Fatal(err)
	}
	data := fmt.Sprintf(`{"driverName":%q,"volumeHandle":%q,"attachmentID":"csi-x"}`, driver.DefaultDriverName, vol)
	if err := os.WriteFile(filepath.Join(staged, "vol_data.json"), []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	slots(2, "the driver's volume recorded by kubelet")

	if err := os.RemoveAll(staged); err != nil {
		t.Fatal(err)
	}
	unpublish(ctx, t, ctrl, vol, srv)
	if err := b.cloud.NovaAttacher().Detach(ctx, other.ID, srv.ID); err != nil {
		t.Fatal(err)
	}
	slots(3, "both volumes detached")
}
