//go:build linux

package mount

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

const mib = 1 << 20

// TestHostVolumeLifecycle walks a volume file through everything the node plugin does
// with it, on real loop devices and filesystems, and checks that nothing is left.
func TestHostVolumeLifecycle(t *testing.T) {
	tests := []struct {
		fsType     string
		tools      []string
		size, grow int64
	}{
		{fsType: "ext4", tools: []string{"mkfs.ext4", "resize2fs"}, size: 64 * mib, grow: 128 * mib},
		// mkfs.xfs refuses filesystems below 300 MB; the file is sparse.
		{fsType: "xfs", tools: []string{"mkfs.xfs", "xfs_growfs"}, size: 320 * mib, grow: 512 * mib},
	}
	for _, tc := range tests {
		t.Run(tc.fsType, func(t *testing.T) {
			requireHost(t, tc.tools...)
			dir := hostDir(t)
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			volumeID := "lifecycle-" + tc.fsType
			file := newVolumeFile(t, dir, volumeID, tc.size)
			m := NewMounter()

			// Connect twice, the second time as a restarted plugin: one loop device.
			dev, err := newFileLocator().Connect(ctx, volumeID, fileAttachment(file))
			if err != nil {
				t.Fatalf("Connect: %v", err)
			}
			again, err := newFileLocator().Connect(ctx, volumeID, fileAttachment(file))
			if err != nil || again != dev {
				t.Fatalf("second Connect = %q, %v; want %q", again, err, dev)
			}
			if devs := loopsUnder(t, dir); !slices.Equal(devs, []string{dev}) {
				t.Fatalf("loop devices for the file = %v, want [%s]", devs, dev)
			}
			if size, err := m.DeviceSize(ctx, dev); err != nil || size != tc.size {
				t.Fatalf("DeviceSize = %d, %v; want %d", size, err, tc.size)
			}

			// Stage: format with options, mount, idempotently.
			stage := filepath.Join(dir, "staging", "globalmount")
			for range 2 {
				if err := m.FormatAndMount(ctx, dev, stage, tc.fsType, []string{"noatime"}, []string{"-L", "csi-" + tc.fsType}); err != nil {
					t.Fatalf("FormatAndMount: %v", err)
				}
			}
			if got := blkidValue(t, dev, "LABEL"); got != "csi-"+tc.fsType {
				t.Errorf("label = %q, want %q: format options did not reach mkfs", got, "csi-"+tc.fsType)
			}
			if got := blkidValue(t, dev, "TYPE"); got != tc.fsType {
				t.Errorf("filesystem = %q, want %q", got, tc.fsType)
			}
			opts := mountOptionsOf(t, stage)
			if !strings.Contains(opts, "noatime") {
				t.Errorf("staging mount options %q lack noatime", opts)
			}
			if tc.fsType == "xfs" && !strings.Contains(opts, "nouuid") {
				t.Errorf("xfs staging mount options %q lack nouuid", opts)
			}
			if mounted, err := m.IsMountPoint(stage); err != nil || !mounted {
				t.Fatalf("IsMountPoint(staging) = %t, %v", mounted, err)
			}
			if got, err := m.DeviceForMount(stage); err != nil || got != dev {
				t.Errorf("DeviceForMount(staging) = %q, %v; want %q", got, err, dev)
			}
			if err := os.WriteFile(filepath.Join(stage, "hello"), []byte("hi"), 0o644); err != nil {
				t.Fatalf("write to the staged volume: %v", err)
			}

			// Publish read-only: readable, not writable; a rw republish conflicts.
			pub := filepath.Join(dir, "pods", "ro", "mount")
			for range 2 {
				if err := m.BindMount(stage, pub, true, nil); err != nil {
					t.Fatalf("BindMount ro: %v", err)
				}
			}
			if got, err := os.ReadFile(filepath.Join(pub, "hello")); err != nil || string(got) != "hi" {
				t.Errorf("read through the ro bind = %q, %v", got, err)
			}
			if err := os.WriteFile(filepath.Join(pub, "nope"), nil, 0o644); !errors.Is(err, syscall.EROFS) {
				t.Errorf("write through the ro bind: err = %v, want EROFS", err)
			}
			if err := m.BindMount(stage, pub, false, nil); !errors.Is(err, ErrMountConflict) {
				t.Errorf("rw BindMount over the ro one: err = %v, want ErrMountConflict", err)
			}

			// Publish as raw block, rw and ro: the target is a file holding the device.
			block := filepath.Join(dir, "pods", "block", "dev")
			blockRO := filepath.Join(dir, "pods", "block-ro", "dev")
			for range 2 {
				if err := m.BindMount(dev, block, false, nil); err != nil {
					t.Fatalf("BindMount block: %v", err)
				}
			}
			if mounted, err := m.IsMountPoint(block); err != nil || !mounted {
				t.Errorf("IsMountPoint(block target) = %t, %v; want true", mounted, err)
			}
			if err := m.BindMount(dev, blockRO, true, nil); err != nil {
				t.Fatalf("BindMount block ro: %v", err)
			}
			if got, err := m.DeviceForMount(block); err != nil || got != dev {
				t.Errorf("DeviceForMount(block target) = %q, %v; want %q", got, err, dev)
			}
			if st, err := m.FSStats(block); err != nil || !st.Block || st.TotalBytes != tc.size {
				t.Errorf("FSStats(block target) = %+v, %v; want Block with %d bytes", st, err, tc.size)
			}
			// The kernel does not stop writes through a device node on a read-only
			// mount, so the ro flag on the bind mount is all there is to check.
			if opts := strings.Split(mountOptionsOf(t, blockRO), ","); !slices.Contains(opts, "ro") {
				t.Errorf("ro block target mount options %v lack ro", opts)
			}

			// Expand: Cinder grows the file; ResizeFS makes the loop device and the
			// filesystem follow.
			before, err := m.FSStats(stage)
			if err != nil {
				t.Fatal(err)
			}
			if before.TotalBytes <= 0 || before.UsedBytes <= 0 || before.TotalInodes <= 0 || before.UsedInodes <= 0 {
				t.Errorf("FSStats(staging) = %+v, want positive sizes and inode counts", before)
			}
			if err := os.Truncate(file, tc.grow); err != nil {
				t.Fatal(err)
			}
			grew, err := m.ResizeFS(ctx, dev, stage)
			if size, err := m.DeviceSize(ctx, dev); err != nil || size != tc.grow {
				t.Errorf("DeviceSize after growing = %d, %v; want %d: the loop device was not refreshed", size, err, tc.grow)
			}
			if tc.fsType == "ext4" && !hasCapability(unix.CAP_SYS_RESOURCE) {
				// The kernel refuses online ext4 growth without CAP_SYS_RESOURCE, which a
				// privileged node plugin has and some sandboxes drop.
				t.Logf("not checking online ext4 growth: this process lacks CAP_SYS_RESOURCE (ResizeFS: %v)", err)
			} else {
				if err != nil || !grew {
					t.Fatalf("ResizeFS = %t, %v; want true", grew, err)
				}
				after, err := m.FSStats(stage)
				if err != nil || after.TotalBytes <= before.TotalBytes+(tc.grow-tc.size)/2 {
					t.Errorf("FSStats total after growing = %d (was %d), %v", after.TotalBytes, before.TotalBytes, err)
				}
				if grew, err := m.ResizeFS(ctx, dev, stage); err != nil || grew {
					t.Errorf("second ResizeFS = %t, %v; want false, nil", grew, err)
				}
			}
			if st, err := m.FSStats(block); err != nil || st.TotalBytes != tc.grow {
				t.Errorf("FSStats(block target) after growing = %+v, %v", st, err)
			}

			// Raw-block expansion has no filesystem to grow: DeviceSize on the
			// published target alone must show the file's new size.
			grown2 := tc.grow + 64*mib
			if err := os.Truncate(file, grown2); err != nil {
				t.Fatal(err)
			}
			if size, err := m.DeviceSize(ctx, block); err != nil || size != grown2 {
				t.Errorf("DeviceSize(block target) after growing the file = %d, %v; want %d", size, err, grown2)
			}

			// Tear down twice, the second time as a retry after a restart.
			for range 2 {
				for _, target := range []string{pub, block, blockRO, stage} {
					if err := m.Unmount(target); err != nil {
						t.Fatalf("Unmount %s: %v", target, err)
					}
					assertGone(t, target)
				}
				if err := newFileLocator().Disconnect(ctx, volumeID); err != nil {
					t.Fatalf("Disconnect: %v", err)
				}
			}
			if mounted, err := m.IsMountPoint(stage); err != nil || mounted {
				t.Errorf("IsMountPoint(removed staging) = %t, %v; want false, nil", mounted, err)
			}
			assertHostClean(t, dir)
		})
	}
}

// TestHostXFSCloneBesideSource stages a copy of an XFS volume (same UUID, as a clone
// or a restored snapshot has) next to its source, which only nouuid allows.
func TestHostXFSCloneBesideSource(t *testing.T) {
	requireHost(t, "mkfs.xfs", "cp")
	dir := hostDir(t)
	ctx := context.Background()
	m, locator := NewMounter(), newFileLocator()

	src := newVolumeFile(t, dir, "src", 320*mib)
	dev, err := locator.Connect(ctx, "src", fileAttachment(src))
	if err != nil {
		t.Fatal(err)
	}
	stage := filepath.Join(dir, "src-stage")
	if err := m.FormatAndMount(ctx, dev, stage, "xfs", nil, nil); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(stage, "data"), []byte("from source"), 0o644); err != nil {
		t.Fatal(err)
	}
	// Unmount before copying, so the copy is a clean filesystem.
	if err := m.Unmount(stage); err != nil {
		t.Fatal(err)
	}
	clone := filepath.Join(filepath.Dir(src), "volume-clone")
	if out, err := execCommand("cp", "--sparse=always", src, clone); err != nil {
		t.Fatalf("cp: %v: %s", err, out)
	}
	cloneDev, err := locator.Connect(ctx, "clone", fileAttachment(clone))
	if err != nil {
		t.Fatal(err)
	}
	if blkidValue(t, dev, "UUID") != blkidValue(t, cloneDev, "UUID") {
		t.Fatal("the copy should share the source's UUID")
	}
	cloneStage := filepath.Join(dir, "clone-stage")
	for device, target := range map[string]string{dev: stage, cloneDev: cloneStage} {
		if err := m.FormatAndMount(ctx, device, target, "xfs", nil, nil); err != nil {
			t.Fatalf("FormatAndMount %s: %v", device, err)
		}
	}
	if got, err := os.ReadFile(filepath.Join(cloneStage, "data")); err != nil || string(got) != "from source" {
		t.Errorf("clone content = %q, %v", got, err)
	}
	for _, target := range []string{stage, cloneStage} {
		if err := m.Unmount(target); err != nil {
			t.Fatal(err)
		}
	}
	for _, id := range []string{"src", "clone"} {
		if err := locator.Disconnect(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	assertHostClean(t, dir)
}

// TestHostFormatErrors checks that mount-utils' typed failures reach the caller as
// our sentinels and leave nothing mounted.
func TestHostFormatErrors(t *testing.T) {
	requireHost(t, "mkfs.ext4")
	dir := hostDir(t)
	ctx := context.Background()
	m, locator := NewMounter(), newFileLocator()
	file := newVolumeFile(t, dir, "errs", 64*mib)
	dev, err := locator.Connect(ctx, "errs", fileAttachment(file))
	if err != nil {
		t.Fatal(err)
	}
	target := filepath.Join(dir, "stage")

	if err := m.FormatAndMount(ctx, dev, target, "ext4", []string{"ro"}, nil); !errors.Is(err, ErrUnformattedReadOnly) {
		t.Errorf("ro mount of a blank device: err = %v, want ErrUnformattedReadOnly", err)
	}
	if got := blkidValue(t, dev, "TYPE"); got != "" {
		t.Errorf("a read-only request formatted the device as %q", got)
	}
	if err := m.FormatAndMount(ctx, dev, target, "ext4", nil, nil); err != nil {
		t.Fatal(err)
	}
	if err := m.Unmount(target); err != nil {
		t.Fatal(err)
	}
	if err := m.FormatAndMount(ctx, dev, target, "xfs", nil, nil); !errors.Is(err, ErrFilesystemMismatch) || !strings.Contains(err.Error(), "holds ext4, not xfs") {
		t.Errorf("xfs mount of an ext4 device: err = %v, want ErrFilesystemMismatch saying it holds ext4, not xfs", err)
	}
	if got := blkidValue(t, dev, "TYPE"); got != "ext4" {
		t.Errorf("the ext4 filesystem was replaced by %q", got)
	}
	if err := m.Unmount(target); err != nil {
		t.Fatal(err)
	}
	if _, err := m.DeviceForMount(target); !errors.Is(err, ErrNotMounted) {
		t.Errorf("DeviceForMount of a removed target: err = %v, want ErrNotMounted", err)
	}
	if err := locator.Disconnect(ctx, "errs"); err != nil {
		t.Fatal(err)
	}
	assertGone(t, target)
	assertHostClean(t, dir)
}
