package realnova

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"

	"github.com/cinder-csi/cinder-csi-driver/pkg/cinder"
	"github.com/cinder-csi/cinder-csi-driver/test/internal/inventory"
	"github.com/cinder-csi/cinder-csi-driver/test/internal/testbed"
	"github.com/cinder-csi/cinder-csi-driver/test/sanityrun"
)

// bed is one test's view of the real Nova + Cinder: the stack (operator and
// hypervisor), the driver's client with its calls counted, and the stand-in.
type bed struct {
	st    *Stack
	cloud *cinder.Client
	calls *Calls
	hv    *Hypervisor
	dir   string
}

// requireNova skips (or fails, under REQUIRE_REAL_NOVA=1) without root or Nova.
func requireNova(t *testing.T) {
	t.Helper()
	skip := sanityrun.Missing(t, "REQUIRE_REAL_NOVA")
	if os.Geteuid() != 0 {
		skip("the real-Nova tests need root: they play the hypervisor with loop devices")
	}
	if _, err := testbed.CloudsFile(); err != nil {
		skip("%v (the Nova tests need make openstack-up)", err)
	}
}

func newBed(t *testing.T) *bed {
	t.Helper()
	requireNova(t)
	ctx := context.Background()
	st, err := NewStack(ctx, "local")
	if err != nil {
		sanityrun.Missing(t, "REQUIRE_REAL_NOVA")("%v", err)
	}
	path, _ := testbed.CloudsFile()
	cfg, err := cinder.LoadConfig(path, "local")
	if err != nil {
		t.Fatal(err)
	}
	calls := &Calls{}
	cloud, err := cinder.NewClient(ctx, cfg, cinder.ClientOptions{UserAgent: "cinder-csi-realnova-test", WrapTransport: calls.Wrap})
	if err != nil {
		t.Fatal(err)
	}
	settle(t, st, cloud)
	// Short socket paths: unix sockets are limited to 108 bytes.
	dir, err := os.MkdirTemp("", "rn")
	if err != nil {
		t.Fatal(err)
	}
	b := &bed{st: st, cloud: cloud, calls: calls, hv: NewHypervisor(st), dir: dir}
	t.Cleanup(func() {
		if err := b.hv.Stop(); err != nil {
			t.Errorf("hypervisor stand-in: %v", err)
		}
		os.RemoveAll(dir)
	})
	return b
}

// settleTimeout bounds the wait for a test's deletes (Cinder and Nova delete
// asynchronously) to bring the project back to what it held before the test.
const settleTimeout = 3 * time.Minute

// settle takes the project's inventory (volumes, snapshots, backups, attachments,
// servers) and, when the test and all its cleanups are done, fails it unless the
// inventory is the same again within settleTimeout, listing every difference.
// Call it before anything registers a cleanup: cleanups run last-in first-out.
func settle(t *testing.T, st *Stack, cloud *cinder.Client) {
	t.Helper()
	listers := []inventory.Lister{inventory.Cinder(cloud), inventory.Servers(st.Compute)}
	before, err := inventory.Take(context.Background(), listers...)
	if err != nil {
		t.Fatalf("inventory before the test: %v", err)
	}
	t.Cleanup(func() {
		// A minute over the wait, for a list call that hangs.
		ctx, cancel := context.WithTimeout(context.Background(), settleTimeout+time.Minute)
		defer cancel()
		left, err := inventory.Settle(ctx, before, settleTimeout, listers...)
		if err != nil {
			t.Errorf("inventory after the test: %v", err)
		}
		if len(left) > 0 {
			t.Errorf("the project differs from before the test after waiting %v:\n  %s", settleTimeout, strings.Join(left, "\n  "))
		}
	})
}

// server boots a test server in Nova's default zone, deleted at the end of the test.
func (b *bed) server(t *testing.T, name string) *Server {
	t.Helper()
	return b.serverIn(t, name, "")
}

// serverIn boots a test server in zone, deleted at the end of the test.
func (b *bed) serverIn(t *testing.T, name, zone string) *Server {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	srv, err := b.st.BootServerIn(ctx, name, zone)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		if err := b.st.DeleteServer(ctx, srv); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})
	return srv
}

// node starts the driver for srv, stopped at the end of the test.
func (b *bed) node(t *testing.T, srv *Server) *Node {
	t.Helper()
	dir := filepath.Join(b.dir, srv.Name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	n, err := StartNode(context.Background(), b.cloud, b.hv, srv, dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := n.Stop(); err != nil {
			t.Errorf("driver on %s: %v", srv.Name, err)
		}
	})
	return n
}

// attachedVolumes lists the volumes Nova has on srv, boot volume aside.
func (b *bed) attachedVolumes(t *testing.T, srv *Server) []string {
	t.Helper()
	ids, err := b.cloud.NovaAttacher().AttachedVolumes(context.Background(), srv.ID, true)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, id := range ids {
		if id != srv.BootVolume {
			out = append(out, id)
		}
	}
	return out
}

// Capability helpers for the CSI calls the tests make.
var (
	mountCap = &csi.VolumeCapability{
		AccessType: &csi.VolumeCapability_Mount{Mount: &csi.VolumeCapability_MountVolume{FsType: "ext4"}},
		AccessMode: &csi.VolumeCapability_AccessMode{Mode: csi.VolumeCapability_AccessMode_SINGLE_NODE_WRITER},
	}
)
