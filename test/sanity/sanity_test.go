package sanity

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	utilexec "k8s.io/utils/exec"

	"github.com/cinder-csi/cinder-csi-driver/pkg/cinder/fake"
	"github.com/cinder-csi/cinder-csi-driver/pkg/driver"
	"github.com/cinder-csi/cinder-csi-driver/pkg/mount"
	"github.com/cinder-csi/cinder-csi-driver/test/internal/testbed"
	"github.com/cinder-csi/cinder-csi-driver/test/sanityrun"
)

const nodeID = "sanity-node-1"

// skipped lists sanity cases that cannot apply to this configuration, each with why:
// none. (A node that does not exist is told apart on the Cinder-attachments path by
// its node ID's signature, made with the publish key: pkg/driver/node_id.go.)
var skipped = map[string]string{}

// publishKey is the key of the driver under test (--publish-key-file).
const publishKey = "sanity-publish-key-0123456789abcdef0123"

// requireRealNode skips where the node service cannot run for real, or fails there
// when REQUIRE_HOST_TESTS=1 (as make test sets it), so CI cannot pass by skipping.
func requireRealNode(t *testing.T) {
	t.Helper()
	skip := sanityrun.Missing(t, "REQUIRE_HOST_TESTS")
	if os.Geteuid() != 0 {
		skip("sanity needs root: the node service formats and mounts loop devices for real")
	}
	for _, tool := range []string{"losetup", "mkfs.ext4", "blkid"} {
		if _, err := exec.LookPath(tool); err != nil {
			skip("sanity needs %s (make deps installs it): %v", tool, err)
		}
	}
}

func TestSanity(t *testing.T) {
	requireRealNode(t)
	dir := t.TempDir()
	files := filepath.Join(dir, "volumes")
	if err := os.Mkdir(files, 0o700); err != nil {
		t.Fatal(err)
	}
	cloud := fake.New(fake.Options{Latency: 20 * time.Millisecond, FileDir: files})
	sock := filepath.Join(dir, "csi.sock")
	opts := driver.DefaultOptions()
	opts.Endpoint, opts.Mode, opts.Attacher = "unix://"+sock, driver.ModeAll, driver.AttacherCinder
	opts.NodeID, opts.Cluster = nodeID, "sanity"
	d, err := driver.New(opts, driver.Deps{
		Cloud: cloud, Attacher: cloud.CinderAttacher(), Groups: cloud, Mounter: mount.NewMounter(), StorageHealth: driver.NodeStorage(opts),
		Locators: map[string]mount.DeviceLocator{
			driver.AttacherCinder: mount.NewCinderLocator(mount.CinderConnectors(utilexec.New(), "", filepath.Join(dir, "state"))),
		},
		Node:              driver.NodeIdentity{ID: nodeID, Zone: "nova", IP: "127.0.0.1", Initiator: "iqn.2026-12.test.cinder-csi:sanity"},
		PublishKey:        []byte(publishKey),
		MaxVolumesPerNode: 8,
		Version:           "sanity",
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	exited, wait := testbed.Run(func() error { return d.Run(ctx) })
	t.Cleanup(func() {
		cancel()
		if err := wait(); err != nil {
			t.Errorf("driver stopped with an error: %v", err)
		}
	})
	if err := testbed.WaitServing(ctx, sock, exited, 5*time.Second); err != nil {
		t.Fatal(err)
	}

	cfg := sanityrun.Config(dir, sock)
	sanityrun.Run(t, cfg, "sanity (fake cloud, real loop devices)",
		sanityrun.Want{MinPassed: 100, Named: skipped, Messages: sanityrun.DriverSkips}, 20*time.Minute)

	assertNoLeaks(t, cloud, dir)
}

// assertNoLeaks checks the end state: sanity deletes what it creates, so no volume,
// snapshot, mount or loop device may remain.
func assertNoLeaks(t *testing.T, cloud *fake.Cloud, dir string) {
	t.Helper()
	if v, s, b := cloud.Counts(); v+s+b != 0 {
		t.Errorf("leaked in the cloud: %d volumes, %d snapshots, %d backups", v, s, b)
	}
	mounts, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(mounts), dir) {
		t.Errorf("mounts left under %s:\n%s", dir, grep(string(mounts), dir))
	}
	out, _ := exec.Command("losetup", "--list", "--noheadings", "--output", "NAME,BACK-FILE").CombinedOutput()
	if strings.Contains(string(out), dir) {
		t.Errorf("loop devices left for files under %s:\n%s", dir, grep(string(out), dir))
	}
}

func grep(text, sub string) string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
