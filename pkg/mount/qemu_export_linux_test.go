//go:build linux

package mount

import (
	"bytes"
	"context"
	"crypto/sha256"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	utilexec "k8s.io/utils/exec"

	"github.com/cinder-csi/cinder-csi-driver/internal/testenv"
)

// requireQemuExport skips (fails under REQUIRE_HOST_TESTS) unless the host can run
// qcow2 exports: what requireHost needs, plus the qemu tools and FUSE.
func requireQemuExport(t *testing.T) {
	t.Helper()
	requireHost(t, "mkfs.ext4")
	stop := testenv.Missing(t, "REQUIRE_HOST_TESTS")
	for tool, pkg := range map[string]string{"qemu-img": "qemu-utils", qemuStorageDaemon: "qemu-system-common"} {
		if _, err := exec.LookPath(tool); err != nil {
			stop("host test: needs %s on PATH (Debian package %s)", tool, pkg)
		}
	}
	if _, err := os.Stat("/dev/fuse"); err != nil {
		stop("host test: needs /dev/fuse for qemu-storage-daemon's FUSE export: %v", err)
	}
}

// daemonsUnder returns the PIDs of qemu-storage-daemons whose command line names a
// path below dir. Zombies have no command line, so they do not count.
func daemonsUnder(t *testing.T, dir string) []int {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		args := strings.Split(string(cmdline), "\x00")
		if filepath.Base(args[0]) == qemuStorageDaemon && bytes.Contains(cmdline, []byte(dir+"/")) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// qemuHostDir is hostDir that also kills daemons a failed test leaves behind, before
// the mounts and loop devices are cleaned up.
func qemuHostDir(t *testing.T) string {
	dir := hostDir(t)
	t.Cleanup(func() {
		for _, pid := range daemonsUnder(t, dir) {
			t.Logf("cleanup: killing leftover %s %d", qemuStorageDaemon, pid)
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		time.Sleep(200 * time.Millisecond)
	})
	return dir
}

func fileSHA256(t *testing.T, path string) [32]byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatal(err)
	}
	return [32]byte(h.Sum(nil))
}

// TestHostNFSQcow2 attaches a qcow2 overlay, as Cinder's NFS driver leaves a volume
// after a snapshot, through the nfs connector: a real qemu-storage-daemon, FUSE
// export and loop device. It checks that writes land in the overlay, that connecting
// is idempotent across plugin restarts, and that disconnecting (also from a new
// connector, also after the daemon was killed) leaves nothing behind.
func TestHostNFSQcow2(t *testing.T) {
	requireQemuExport(t)
	dir := qemuHostDir(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	const export, volumeID, size = "127.0.0.1:/srv/export", "9d6f1c2e-qcow2", 64 * mib
	base := filepath.Join(dir, "mnt")
	share := filepath.Join(base, shareDirName(export))
	raw := filepath.Join(share, "volume-"+volumeID)
	overlayName := "volume-" + volumeID + ".5e0a7c1d-snap"
	overlay := filepath.Join(share, overlayName)
	if err := os.MkdirAll(share, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(raw, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(raw, size); err != nil {
		t.Fatal(err)
	}
	// A relative backing name, as Cinder writes it.
	create := exec.Command("qemu-img", "create", "-q", "-f", "qcow2", "-b", "volume-"+volumeID, "-F", "raw", overlayName)
	create.Dir = share
	if out, err := create.CombinedOutput(); err != nil {
		t.Fatalf("qemu-img create: %v: %s", err, out)
	}
	rawSum := fileSHA256(t, raw)

	stateDir := filepath.Join(dir, "state")
	exportFile := filepath.Join(stateDir, "qsd", volumeID, "export")
	// Each call is a new plugin process: nothing is shared but the host.
	newConnector := func() *NFSConnector {
		e := utilexec.New()
		loop := NewLoopDevices(e)
		return NewNFSConnector(loop, "").WithQemuExports(NewQemuExports(e, loop, stateDir)).WithMounter(shareMounted(export, filepath.Join(base, shareDirName(export))))
	}
	data := map[string]any{"export": export, "name": overlayName, "format": "qcow2", "mount_point_base": base}
	m := NewMounter()
	stage := filepath.Join(dir, "stage")

	assertConnected := func(dev string) {
		t.Helper()
		if devs := loopsUnder(t, dir); len(devs) != 1 || devs[0] != dev {
			t.Fatalf("loop devices on files under %s = %v, want [%s]", dir, devs, dev)
		}
		if pids := daemonsUnder(t, dir); len(pids) != 1 {
			t.Fatalf("%s processes = %v, want one", qemuStorageDaemon, pids)
		}
		if got, err := m.DeviceSize(ctx, dev); err != nil || got != size {
			t.Fatalf("DeviceSize = %d, %v; want %d", got, err, size)
		}
	}
	assertGoneAll := func() {
		t.Helper()
		assertHostClean(t, dir)
		if pids := daemonsUnder(t, dir); len(pids) > 0 {
			t.Errorf("%s processes left: %v", qemuStorageDaemon, pids)
		}
		if _, err := os.Lstat(filepath.Dir(exportFile)); !os.IsNotExist(err) {
			t.Errorf("export state %s left (lstat err = %v)", filepath.Dir(exportFile), err)
		}
	}

	// Connect three times, the last as a restarted plugin: one export, one device.
	first := newConnector()
	dev, err := first.Connect(ctx, volumeID, data)
	if err != nil {
		t.Fatalf("Connect: %v", err)
	}
	for i, c := range []*NFSConnector{first, newConnector()} {
		if again, err := c.Connect(ctx, volumeID, data); err != nil || again != dev {
			t.Fatalf("Connect #%d = %q, %v; want %q", i+2, again, err, dev)
		}
	}
	assertConnected(dev)

	if err := m.FormatAndMount(ctx, dev, stage, "ext4", nil, nil); err != nil {
		t.Fatalf("FormatAndMount: %v", err)
	}
	if err := os.WriteFile(filepath.Join(stage, "hello"), []byte("written through qcow2"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := m.Unmount(stage); err != nil {
		t.Fatal(err)
	}
	if err := first.Disconnect(ctx, volumeID); err != nil {
		t.Fatalf("Disconnect: %v", err)
	}
	assertGoneAll()
	if fileSHA256(t, raw) != rawSum {
		t.Error("the backing raw file changed: writes must land in the overlay")
	}
	if out, err := exec.Command("qemu-img", "check", "-q", overlay).CombinedOutput(); err != nil {
		t.Errorf("qemu-img check of the overlay after Disconnect: %v: %s", err, out)
	}

	// Reconnect: the data is read back from the overlay.
	dev, err = newConnector().Connect(ctx, volumeID, data)
	if err != nil {
		t.Fatalf("Connect after Disconnect: %v", err)
	}
	if err := m.FormatAndMount(ctx, dev, stage, "ext4", nil, nil); err != nil {
		t.Fatalf("mount after reconnect: %v", err)
	}
	if got, err := os.ReadFile(filepath.Join(stage, "hello")); err != nil || string(got) != "written through qcow2" {
		t.Errorf("read back = %q, %v", got, err)
	}
	if err := m.Unmount(stage); err != nil {
		t.Fatal(err)
	}

	// The daemon dies (SIGKILL leaves a stale FUSE mount under the loop device);
	// Connect starts a fresh export, and a new plugin process disconnects it all.
	pids := daemonsUnder(t, dir)
	if len(pids) != 1 {
		t.Fatalf("%s processes = %v, want one", qemuStorageDaemon, pids)
	}
	if err := syscall.Kill(pids[0], syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); len(daemonsUnder(t, dir)) > 0 && time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond)
	}
	dev, err = newConnector().Connect(ctx, volumeID, data)
	if err != nil {
		t.Fatalf("Connect after the daemon died: %v", err)
	}
	assertConnected(dev)
	if err := m.FormatAndMount(ctx, dev, stage, "ext4", nil, nil); err != nil {
		t.Fatalf("mount after the daemon was restarted: %v", err)
	}
	if got, err := os.ReadFile(filepath.Join(stage, "hello")); err != nil || string(got) != "written through qcow2" {
		t.Errorf("read back after restarting the daemon = %q, %v", got, err)
	}
	if err := m.Unmount(stage); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(daemonsUnder(t, dir)[0], syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	for range 2 { // the second time as a retry: nothing left is fine
		if err := newConnector().Disconnect(ctx, volumeID); err != nil {
			t.Fatalf("Disconnect by a new connector after the daemon died: %v", err)
		}
	}
	assertGoneAll()
	if fileSHA256(t, raw) != rawSum {
		t.Error("the backing raw file changed")
	}
}
