package mount

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"k8s.io/klog/v2"
	utilexec "k8s.io/utils/exec"
)

// DefaultDevDir is where udev publishes stable names of disks, by serial number.
const DefaultDevDir = "/dev/disk/by-id"

// UdevTrigger asks udev to re-announce block devices, so that missing /dev/disk/by-id
// links get created.
type UdevTrigger func(ctx context.Context) error

// UdevadmTrigger returns a UdevTrigger running `udevadm trigger` through exec.
func UdevadmTrigger(exec utilexec.Interface) UdevTrigger {
	return func(ctx context.Context) error {
		out, err := exec.CommandContext(ctx, "udevadm", "trigger", "--action=change", "--subsystem-match=block").CombinedOutput()
		if err != nil {
			return fmt.Errorf("udevadm trigger: %w: %s", err, strings.TrimSpace(string(out)))
		}
		return nil
	}
}

// NovaLocator finds a disk that Nova attached to this VM by the serial number the
// hypervisor gives it (the Cinder volume ID), through udev's /dev/disk/by-id links.
//
// It never trusts Nova's devicePath: the name the guest kernel picks often differs from
// the one Nova reports (/dev/vdc where Nova says /dev/vdb), and taking the wrong disk
// would format another volume.
type NovaLocator struct {
	devDir  string
	trigger UdevTrigger

	// triggerEvery bounds how often udev is triggered; a trigger re-announces every
	// block device of the node, so many volumes waiting at once must share it.
	triggerEvery time.Duration
	// firstPoll and maxPoll bound the wait between two looks into devDir.
	firstPoll, maxPoll time.Duration

	mu          sync.Mutex
	lastTrigger time.Time
}

var _ DeviceLocator = (*NovaLocator)(nil)

// NewNovaLocator returns a locator looking into devDir (DefaultDevDir when empty).
// trigger may be nil, then the locator only waits for udev.
func NewNovaLocator(devDir string, trigger UdevTrigger) *NovaLocator {
	if devDir == "" {
		devDir = DefaultDevDir
	}
	return &NovaLocator{
		devDir:       devDir,
		trigger:      trigger,
		triggerEvery: 2 * time.Second,
		firstPoll:    100 * time.Millisecond,
		maxPoll:      time.Second,
	}
}

// Connect waits until the volume's disk appears and returns its /dev path. The wait
// ends only with ctx, which the caller must bound.
func (n *NovaLocator) Connect(ctx context.Context, volumeID string, att Attachment) (string, error) {
	if err := checkVolumeID(volumeID); err != nil {
		return "", err
	}
	names := novaDiskNames(volumeID)
	wait := n.firstPoll
	for {
		device, err := n.find(volumeID, names)
		if err != nil {
			return "", err
		}
		if device != "" {
			klog.V(2).InfoS("Found Nova disk", "volumeID", volumeID, "device", device)
			return device, nil
		}
		n.triggerUdev(ctx)
		select {
		case <-ctx.Done():
			return "", fmt.Errorf("%w: device for volume %s did not appear under %s (looked for: %s, nvme-*_%s; Nova reported %q): %v",
				ErrDeviceNotFound, volumeID, n.devDir, strings.Join(names, ", "), shortSerial(volumeID),
				att.DevicePath, ctx.Err())
		case <-time.After(wait):
		}
		wait = min(2*wait, n.maxPoll)
	}
}

// Disconnect has nothing to undo: Nova detaches the disk from the VM.
func (n *NovaLocator) Disconnect(_ context.Context, volumeID string) error {
	klog.V(4).InfoS("Nothing to disconnect on the node for a Nova disk", "volumeID", volumeID)
	return nil
}

// novaVirtioSerialLen is how much of the serial (the volume ID) virtio-blk keeps.
const novaVirtioSerialLen = 20

func shortSerial(volumeID string) string {
	return volumeID[:min(len(volumeID), novaVirtioSerialLen)]
}

// novaDiskNames lists the by-id names a Cinder volume gets inside a Nova VM, most
// common first: virtio-blk, then virtio-scsi (QEMU keeps either the truncated or the
// full serial, by version), then a WWN built from the ID.
func novaDiskNames(volumeID string) []string {
	short := shortSerial(volumeID)
	return []string{
		"virtio-" + short,
		"scsi-0QEMU_QEMU_HARDDISK_" + short,
		"scsi-0QEMU_QEMU_HARDDISK_" + volumeID,
		"wwn-0x" + strings.ReplaceAll(volumeID, "-", ""),
	}
}

// find returns the device behind the first name present in devDir, or "" when none is.
// NVMe names carry the controller's model before the serial, so they are matched by
// suffix.
func (n *NovaLocator) find(volumeID string, names []string) (string, error) {
	for _, name := range names {
		if device, ok := resolveDiskLink(filepath.Join(n.devDir, name)); ok {
			return device, nil
		}
	}
	entries, err := os.ReadDir(n.devDir)
	if err != nil {
		if isNotExist(err) {
			// No disk has a serial yet; udev creates the directory with the first.
			return "", nil
		}
		return "", fmt.Errorf("read %s: %w", n.devDir, err)
	}
	for _, e := range entries {
		name := e.Name()
		if strings.HasPrefix(name, "nvme-") &&
			(strings.HasSuffix(name, "_"+shortSerial(volumeID)) || strings.HasSuffix(name, "_"+volumeID)) {
			if device, ok := resolveDiskLink(filepath.Join(n.devDir, name)); ok {
				return device, nil
			}
		}
	}
	return "", nil
}

// resolveDiskLink follows a by-id link to the device node. A dangling link is a disk
// that is going away: not found.
func resolveDiskLink(link string) (string, bool) {
	device, err := filepath.EvalSymlinks(link)
	if err != nil {
		return "", false
	}
	return device, true
}

// triggerUdev runs the trigger unless one ran less than triggerEvery ago. A failure is
// only logged: the link may still appear by itself, and the wait reports the outcome.
func (n *NovaLocator) triggerUdev(ctx context.Context) {
	if n.trigger == nil {
		return
	}
	n.mu.Lock()
	if time.Since(n.lastTrigger) < n.triggerEvery {
		n.mu.Unlock()
		return
	}
	n.lastTrigger = time.Now()
	n.mu.Unlock()
	if err := n.trigger(ctx); err != nil {
		klog.ErrorS(err, "Could not trigger udev; waiting for the disk anyway")
	}
}

// checkVolumeID rejects IDs that would be unsafe in a file name.
func checkVolumeID(volumeID string) error {
	if volumeID == "" || strings.ContainsAny(volumeID, "/\x00") || volumeID == "." || volumeID == ".." {
		return fmt.Errorf("%w: volume ID %q is empty or not usable in a file name", ErrInvalidArgument, volumeID)
	}
	return nil
}
