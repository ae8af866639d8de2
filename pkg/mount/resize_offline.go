package mount

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strconv"

	"k8s.io/klog/v2"
	utilexec "k8s.io/utils/exec"
)

var (
	blockCountRE = regexp.MustCompile(`(?m)^Block count:\s+(\d+)`)
	blockSizeRE  = regexp.MustCompile(`(?m)^Block size:\s+(\d+)`)
)

// GrowUnmounted grows an ext2/3/4 filesystem on an unmounted device to the device's
// size, offline: a forced fsck, then resize2fs. Growing before the mount needs no
// online-resize support (kernels or sandboxes without CAP_SYS_RESOURCE refuse online
// ext4 growth), and a volume restored or cloned into a larger size is usually first
// seen here. XFS and btrfs grow only mounted (ResizeFS). A blank device needs nothing.
func (m *mounter) GrowUnmounted(ctx context.Context, device string) (bool, error) {
	if err := m.refreshLoop(ctx, device); err != nil {
		return false, err
	}
	format, err := m.safe.GetDiskFormat(device)
	if err != nil {
		return false, fmt.Errorf("detect the filesystem on %s: %w", device, err)
	}
	switch format {
	case "ext2", "ext3", "ext4":
	default:
		return false, nil
	}
	fsBytes, err := m.extSize(ctx, device)
	if err != nil {
		return false, err
	}
	devBytes, err := deviceSize(device)
	if err != nil {
		return false, err
	}
	if fsBytes >= devBytes {
		return false, nil
	}
	if err := notStarted(ctx, "check and grow the filesystem on", device); err != nil {
		return false, err
	}
	// e2fsck exits 1 when it corrected errors, which still leaves a clean filesystem.
	out, err := m.exec.Command("e2fsck", "-f", "-p", device).CombinedOutput()
	if err != nil && exitCode(err) > 1 {
		return false, fmt.Errorf("%w: e2fsck %s before growing it: %v: %s", ErrFilesystemCorrupt, device, err, out)
	}
	if out, err := m.exec.Command("resize2fs", device).CombinedOutput(); err != nil {
		return false, fmt.Errorf("grow the filesystem on %s offline: %v: %s", device, err, out)
	}
	klog.V(2).InfoS("Grew filesystem offline", "device", device, "fromBytes", fsBytes, "toBytes", devBytes)
	return true, nil
}

// extSize reads an ext filesystem's size from its superblock.
func (m *mounter) extSize(ctx context.Context, device string) (int64, error) {
	out, err := m.exec.CommandContext(ctx, "dumpe2fs", "-h", device).Output()
	if err != nil {
		return 0, fmt.Errorf("read the superblock of %s: %w", device, err)
	}
	count := blockCountRE.FindSubmatch(out)
	size := blockSizeRE.FindSubmatch(out)
	if count == nil || size == nil {
		return 0, fmt.Errorf("dumpe2fs -h %s printed no block count or size", device)
	}
	c, _ := strconv.ParseInt(string(count[1]), 10, 64)
	s, _ := strconv.ParseInt(string(size[1]), 10, 64)
	return c * s, nil
}

// exitCode returns a command's exit status, or -1 when it did not run.
func exitCode(err error) int {
	var ee utilexec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitStatus()
	}
	return -1
}
