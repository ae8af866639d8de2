//go:build linux

package mount

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	mountutils "k8s.io/mount-utils"
	utilexec "k8s.io/utils/exec"

	"github.com/cinder-csi/cinder-csi-driver/internal/testenv"
)

// debianPackage names the Debian package providing each tool the host tests run.
var debianPackage = map[string]string{
	"losetup": "mount", "mount": "mount", "umount": "mount",
	"blkid": "util-linux", "blockdev": "util-linux",
	"mkfs.ext4": "e2fsprogs", "resize2fs": "e2fsprogs", "fsck": "util-linux",
	"mkfs.xfs": "xfsprogs", "xfs_growfs": "xfsprogs",
}

// requireHost skips the test unless it can attach loop devices and mount filesystems
// (root, the tools, /dev/loop-control). With REQUIRE_HOST_TESTS set, as in CI, a
// missing prerequisite fails the test instead: a silent skip would hide lost coverage.
func requireHost(t *testing.T, tools ...string) {
	t.Helper()
	stop := testenv.Missing(t, "REQUIRE_HOST_TESTS")
	if os.Geteuid() != 0 {
		stop("host test: needs root to attach loop devices and mount filesystems")
	}
	if _, err := os.Stat("/dev/loop-control"); err != nil {
		stop("host test: needs /dev/loop-control (loop driver): %v", err)
	}
	for _, tool := range append([]string{"losetup", "mount", "umount", "blkid", "blockdev", "fsck"}, tools...) {
		if _, err := exec.LookPath(tool); err != nil {
			stop("host test: needs %s on PATH (Debian package %s)", tool, debianPackage[tool])
		}
	}
}

// hostDir returns a fresh directory whose mounts and loop devices are torn down when
// the test ends, pass or fail, before the directory itself is removed.
func hostDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	t.Cleanup(func() { tearDownHost(t, dir) })
	return dir
}

func tearDownHost(t *testing.T, dir string) {
	for _, mp := range mountsUnder(t, dir) {
		t.Logf("cleanup: unmounting leftover %s", mp)
		if out, err := exec.Command("umount", "--lazy", mp).CombinedOutput(); err != nil {
			t.Errorf("cleanup: umount %s: %v: %s", mp, err, out)
		}
	}
	for _, dev := range loopsUnder(t, dir) {
		t.Logf("cleanup: detaching leftover %s", dev)
		if out, err := exec.Command("losetup", "--detach", dev).CombinedOutput(); err != nil {
			t.Errorf("cleanup: losetup -d %s: %v: %s", dev, err, out)
		}
	}
}

// mountsUnder lists mount points at or below dir, deepest and latest first, so they
// can be unmounted in that order.
func mountsUnder(t *testing.T, dir string) []string {
	t.Helper()
	infos, err := mountutils.ParseMountInfo("/proc/self/mountinfo")
	if err != nil {
		t.Fatalf("read mountinfo: %v", err)
	}
	var mps []string
	for _, mi := range infos {
		if mi.MountPoint == dir || strings.HasPrefix(mi.MountPoint, dir+"/") {
			mps = append(mps, mi.MountPoint)
		}
	}
	slices.Reverse(mps)
	return mps
}

// loopsUnder lists loop devices whose backing file is below dir.
func loopsUnder(t *testing.T, dir string) []string {
	t.Helper()
	devices, err := NewLoopDevices(utilexec.New()).List(context.Background())
	if err != nil {
		t.Fatalf("list loop devices: %v", err)
	}
	var names []string
	for _, d := range devices {
		if strings.HasPrefix(d.BackingFile, dir+"/") {
			names = append(names, d.Device)
		}
	}
	return names
}

// assertHostClean checks the end state: nothing mounted and no loop device left.
func assertHostClean(t *testing.T, dir string) {
	t.Helper()
	if mps := mountsUnder(t, dir); len(mps) > 0 {
		t.Errorf("mounts left under %s: %v", dir, mps)
	}
	if devs := loopsUnder(t, dir); len(devs) > 0 {
		t.Errorf("loop devices left for files under %s: %v", dir, devs)
	}
}

// newVolumeFile creates a sparse volume file named as Cinder's file backends do.
func newVolumeFile(t *testing.T, dir, volumeID string, size int64) string {
	t.Helper()
	path := filepath.Join(dir, "export", "volume-"+volumeID)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	return path
}

// fileAttachment is what the node gets for a "file" attachment.
func fileAttachment(path string) Attachment {
	return Attachment{DriverVolumeType: DriverVolumeTypeFile, Data: map[string]any{"path": path}}
}

func newFileLocator() *CinderLocator {
	return NewCinderLocator(map[string]Connector{
		DriverVolumeTypeFile: NewFileConnector(NewLoopDevices(utilexec.New())),
	})
}

// assertGone checks that Unmount removed a target.
func assertGone(t *testing.T, path string) {
	t.Helper()
	if _, err := os.Lstat(path); !os.IsNotExist(err) {
		t.Errorf("%s still exists after Unmount (lstat err = %v)", path, err)
	}
}

func blkidValue(t *testing.T, device, tag string) string {
	t.Helper()
	out, err := exec.Command("blkid", "-p", "-s", tag, "-o", "value", device).CombinedOutput()
	var exitErr *exec.ExitError
	if errors.As(err, &exitErr) && exitErr.ExitCode() == 2 {
		return "" // blkid found nothing
	}
	if err != nil {
		t.Fatalf("blkid %s: %v: %s", device, err, out)
	}
	return strings.TrimSpace(string(out))
}

func mountOptionsOf(t *testing.T, path string) string {
	t.Helper()
	infos, err := mountutils.ParseMountInfo("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	for _, mi := range slices.Backward(infos) {
		if mi.MountPoint == path {
			return strings.Join(append(mi.MountOptions, mi.SuperOptions...), ",")
		}
	}
	t.Fatalf("%s is not in mountinfo", path)
	return ""
}

func execCommand(name string, args ...string) ([]byte, error) {
	return exec.Command(name, args...).CombinedOutput()
}

// hasCapability reports whether the process holds capability c in its effective set.
func hasCapability(c int) bool {
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return false
	}
	for line := range strings.Lines(string(status)) {
		if hex, ok := strings.CutPrefix(line, "CapEff:"); ok {
			caps, err := strconv.ParseUint(strings.TrimSpace(hex), 16, 64)
			return err == nil && caps&(1<<uint(c)) != 0
		}
	}
	return false
}
