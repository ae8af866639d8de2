package mount

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"

	"k8s.io/klog/v2"
	utilexec "k8s.io/utils/exec"
)

// LoopDevice is one attached loop device as losetup reports it.
type LoopDevice struct {
	// Device is the device node, for example /dev/loop3.
	Device string
	// BackingFile is the path of the file behind it, as it was when attached.
	BackingFile string
	// Deleted is true when the backing file was unlinked after the attach; the device
	// still serves the old inode.
	Deleted bool
}

// LoopDevices attaches, finds, refreshes and detaches loop devices with losetup(8),
// through the exec seam. It keeps no state: the kernel's list of loop devices is the
// truth, so it works the same after a restart.
type LoopDevices struct {
	exec utilexec.Interface
	// mu serializes find-then-attach within this process, so two callers cannot each
	// see "no device" and both attach. losetup --nooverlap guards against other
	// processes.
	mu sync.Mutex
}

// NewLoopDevices returns LoopDevices running losetup through exec. Share one instance
// per process.
func NewLoopDevices(exec utilexec.Interface) *LoopDevices {
	return &LoopDevices{exec: exec}
}

// deletedSuffix is what the kernel appends to a backing file path that was unlinked.
const deletedSuffix = " (deleted)"

// Attach returns a loop device backed by file, reusing an existing one: a second device
// on the same file would let two page caches write the same blocks.
func (l *LoopDevices) Attach(ctx context.Context, file string) (string, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	existing, err := l.Find(ctx, file)
	if err != nil {
		return "", err
	}
	if len(existing) > 0 {
		klog.V(4).InfoS("Reusing loop device", "file", file, "device", existing[0])
		return existing[0], nil
	}
	out, err := l.run(ctx, "--find", "--show", "--nooverlap", file)
	if err != nil {
		return "", err
	}
	// stdout (the device) and stderr (warnings such as "file does not fit into a
	// 512-byte sector") come mixed: the device is the line that names one.
	var device string
	var warnings []string
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if line = strings.TrimSpace(line); strings.HasPrefix(line, "/dev/") && !strings.ContainsAny(line, " :") {
			device = line
		} else if line != "" {
			warnings = append(warnings, line)
		}
	}
	if device == "" {
		return "", fmt.Errorf("losetup attached %s but printed %q instead of a device", file, out)
	}
	if len(warnings) > 0 {
		klog.InfoS("losetup warned", "file", file, "device", device, "warning", strings.Join(warnings, "; "))
	}
	klog.V(2).InfoS("Attached loop device", "file", file, "device", device)
	return device, nil
}

// Find returns the loop devices backed by file, sorted. losetup matches by device and
// inode, so another path to the same file (a symlink, a bind mount) is found too.
func (l *LoopDevices) Find(ctx context.Context, file string) ([]string, error) {
	out, err := l.run(ctx, "--list", "--json", "--output", "NAME,BACK-FILE", "--associated", file)
	if err != nil {
		return nil, err
	}
	devices, err := parseLosetupJSON(out)
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(devices))
	for _, d := range devices {
		names = append(names, d.Device)
	}
	slices.Sort(names)
	return names, nil
}

// List returns every attached loop device, sorted by device.
func (l *LoopDevices) List(ctx context.Context) ([]LoopDevice, error) {
	out, err := l.run(ctx, "--list", "--json", "--output", "NAME,BACK-FILE")
	if err != nil {
		return nil, err
	}
	return parseLosetupJSON(out)
}

// Refresh makes device re-read its backing file's size (losetup --set-capacity), after
// the file was extended.
func (l *LoopDevices) Refresh(ctx context.Context, device string) error {
	if _, err := l.run(ctx, "--set-capacity", device); err != nil {
		return err
	}
	klog.V(4).InfoS("Refreshed loop device capacity", "device", device)
	return nil
}

// Detach detaches device. A device that is already detached is not an error. While the
// device is still open (mounted), the kernel detaches it when it is closed.
func (l *LoopDevices) Detach(ctx context.Context, device string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	_, err := l.run(ctx, "--detach", device)
	if err == nil {
		klog.V(2).InfoS("Detached loop device", "device", device)
		return nil
	}
	// losetup's message for "already detached" varies with version and locale; asking
	// the kernel's list does not.
	devices, listErr := l.List(ctx)
	if listErr != nil {
		return err
	}
	if !slices.ContainsFunc(devices, func(d LoopDevice) bool { return d.Device == device }) {
		return nil
	}
	return err
}

func (l *LoopDevices) run(ctx context.Context, args ...string) (string, error) {
	out, err := l.exec.CommandContext(ctx, "losetup", args...).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("losetup %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return string(out), nil
}

// parseLosetupJSON reads `losetup --list --json --output NAME,BACK-FILE`. Some versions
// print nothing at all when no loop device exists.
func parseLosetupJSON(out string) ([]LoopDevice, error) {
	if strings.TrimSpace(out) == "" {
		return nil, nil
	}
	var doc struct {
		LoopDevices []struct {
			Name     string  `json:"name"`
			BackFile *string `json:"back-file"`
		} `json:"loopdevices"`
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		return nil, fmt.Errorf("parse losetup output %q: %w", out, err)
	}
	devices := make([]LoopDevice, 0, len(doc.LoopDevices))
	for _, d := range doc.LoopDevices {
		dev := LoopDevice{Device: d.Name}
		if d.BackFile != nil {
			dev.BackingFile, dev.Deleted = strings.CutSuffix(*d.BackFile, deletedSuffix)
		}
		devices = append(devices, dev)
	}
	slices.SortFunc(devices, func(a, b LoopDevice) int { return strings.Compare(a.Device, b.Device) })
	return devices, nil
}
