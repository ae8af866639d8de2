package mount

import (
	"context"
	"fmt"
	"path/filepath"
	"regexp"

	"k8s.io/klog/v2"
)

// loopName matches the kernel names of loop devices (not their partitions).
var loopName = regexp.MustCompile(`^loop[0-9]+$`)

func (m *mounter) ResizeFS(ctx context.Context, device, mountPath string) (bool, error) {
	if err := m.refreshLoop(ctx, device); err != nil {
		return false, err
	}
	need, err := m.resizer.NeedResize(device, mountPath)
	if err != nil {
		return false, fmt.Errorf("check whether the filesystem on %s needs a resize: %w", device, err)
	}
	if !need {
		return false, nil
	}
	// resize2fs and xfs_growfs succeed when there is nothing to grow, so compare the
	// filesystem's size around the call to report honestly whether it grew.
	before, statErr := m.FSStats(mountPath)
	if err := notStarted(ctx, "grow the filesystem on", device); err != nil {
		return false, err
	}
	if _, err := m.resizer.Resize(device, mountPath); err != nil {
		return false, fmt.Errorf("grow the filesystem on %s: %w", device, err)
	}
	after, err := m.FSStats(mountPath)
	if statErr != nil || err != nil {
		klog.V(2).InfoS("Resized filesystem; sizes unknown", "device", device, "targetPath", mountPath)
		return true, nil
	}
	grew := after.TotalBytes > before.TotalBytes
	klog.V(2).InfoS("Resized filesystem", "device", device, "targetPath", mountPath,
		"beforeBytes", before.TotalBytes, "afterBytes", after.TotalBytes, "grew", grew)
	return grew, nil
}

// refreshLoop makes a loop device take its backing file's current size. Nothing else
// tells a loop device that its file grew (Cinder extends the file, not the device), so
// without this the device would keep its old size, and the filesystem with it. device
// may also be a raw-block target: the device node bind-mounted onto a file.
func (m *mounter) refreshLoop(ctx context.Context, device string) error {
	name, isBlock, err := blockDeviceName(device)
	if err != nil || !isBlock || !loopName.MatchString(filepath.Base(name)) {
		return err
	}
	return m.loop.Refresh(ctx, name)
}
