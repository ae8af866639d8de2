package mount

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// novaHost is a fake /dev: block "devices" are plain files, devDir holds the links.
type novaHost struct {
	devDir, devs string
}

func newNovaHost(t *testing.T) novaHost {
	t.Helper()
	root := t.TempDir()
	h := novaHost{devDir: filepath.Join(root, "by-id"), devs: filepath.Join(root, "dev")}
	for _, d := range []string{h.devDir, h.devs} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return h
}

// link creates devDir/name -> devs/device (device created too unless dangling).
func (h novaHost) link(t *testing.T, name, device string, dangling bool) string {
	t.Helper()
	target := filepath.Join(h.devs, device)
	if !dangling {
		if err := os.WriteFile(target, nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(target, filepath.Join(h.devDir, name)); err != nil {
		t.Fatal(err)
	}
	return target
}

func fastNova(devDir string, trigger UdevTrigger) *NovaLocator {
	n := NewNovaLocator(devDir, trigger)
	n.firstPoll, n.maxPoll = 5*time.Millisecond, 20*time.Millisecond
	return n
}

func TestNovaLocatorFindsLinks(t *testing.T) {
	short := volID[:20]
	tests := []struct {
		name   string
		links  map[string]string // by-id name -> device name
		want   string            // device name, "" for not found
		broken bool              // links are dangling
	}{
		{name: "virtio-blk", links: map[string]string{"virtio-" + short: "vdb"}, want: "vdb"},
		{name: "virtio-scsi, short serial", links: map[string]string{"scsi-0QEMU_QEMU_HARDDISK_" + short: "sdb"}, want: "sdb"},
		{name: "virtio-scsi, full serial", links: map[string]string{"scsi-0QEMU_QEMU_HARDDISK_" + volID: "sdc"}, want: "sdc"},
		{name: "wwn", links: map[string]string{"wwn-0x" + strings.ReplaceAll(volID, "-", ""): "sdd"}, want: "sdd"},
		{name: "nvme", links: map[string]string{"nvme-QEMU_NVMe_Ctrl_" + short: "nvme1n1"}, want: "nvme1n1"},
		{
			name:  "virtio wins over scsi",
			links: map[string]string{"virtio-" + short: "vdb", "scsi-0QEMU_QEMU_HARDDISK_" + volID: "sdc"},
			want:  "vdb",
		},
		{name: "a partition link is not the disk", links: map[string]string{"virtio-" + short + "-part1": "vdb1"}},
		{name: "another volume", links: map[string]string{"virtio-" + "0000" + short[4:]: "vdb"}},
		{name: "dangling link", links: map[string]string{"virtio-" + short: "vdb"}, broken: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newNovaHost(t)
			for name, dev := range tc.links {
				h.link(t, name, dev, tc.broken)
			}
			var triggers atomic.Int32
			n := fastNova(h.devDir, func(context.Context) error { triggers.Add(1); return nil })
			ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
			defer cancel()
			got, err := n.Connect(ctx, volID, Attachment{DevicePath: "/dev/vdz"})
			if tc.want == "" {
				if !errors.Is(err, ErrDeviceNotFound) {
					t.Fatalf("err = %v, want ErrDeviceNotFound", err)
				}
				if triggers.Load() != 1 {
					t.Errorf("udev triggered %d times within the throttle window, want 1", triggers.Load())
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if want := filepath.Join(h.devs, tc.want); got != want {
				t.Errorf("device = %q, want %q", got, want)
			}
			if triggers.Load() != 0 {
				t.Errorf("udev triggered %d times for a present disk", triggers.Load())
			}
		})
	}
}

func TestNovaLocatorWaitsForUdev(t *testing.T) {
	h := newNovaHost(t)
	var triggers atomic.Int32
	// The link appears only once udev has been triggered, as after a missed event.
	trigger := func(context.Context) error {
		if triggers.Add(1) == 1 {
			h.link(t, "virtio-"+volID[:20], "vdc", false)
		}
		return errors.New("udevadm is flaky") // logged, not fatal
	}
	n := fastNova(h.devDir, trigger)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	got, err := n.Connect(ctx, volID, Attachment{})
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(h.devs, "vdc"); got != want {
		t.Errorf("device = %q, want %q", got, want)
	}
	if triggers.Load() != 1 {
		t.Errorf("udev triggered %d times, want 1", triggers.Load())
	}
}

func TestNovaLocatorNotFound(t *testing.T) {
	missingDir := filepath.Join(t.TempDir(), "by-id") // udev has not created it yet
	var triggers atomic.Int32
	n := fastNova(missingDir, func(context.Context) error { triggers.Add(1); return nil })
	n.triggerEvery = 30 * time.Millisecond
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := n.Connect(ctx, volID, Attachment{DevicePath: "/dev/vdb"})
	if !errors.Is(err, ErrDeviceNotFound) {
		t.Fatalf("err = %v, want ErrDeviceNotFound", err)
	}
	if elapsed := time.Since(start); elapsed > 2*time.Second {
		t.Errorf("Connect returned %v after its context ended", elapsed)
	}
	for _, want := range []string{
		"device for volume " + volID + " did not appear under " + missingDir,
		"virtio-" + volID[:20], "scsi-0QEMU_QEMU_HARDDISK_" + volID, `Nova reported "/dev/vdb"`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("message %q does not contain %q", err, want)
		}
	}
	// Throttled: at most one trigger per window, but more than one over the wait.
	if got := triggers.Load(); got < 2 || got > 8 {
		t.Errorf("udev triggered %d times in 200ms with a 30ms window, want 2..8", got)
	}
}

func TestNovaLocatorRejectsBadVolumeIDAndDisconnects(t *testing.T) {
	n := fastNova(t.TempDir(), nil)
	for _, id := range []string{"", "..", "a/b"} {
		if _, err := n.Connect(context.Background(), id, Attachment{}); !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("Connect(%q): err = %v, want ErrInvalidArgument", id, err)
		}
	}
	if err := n.Disconnect(context.Background(), volID); err != nil {
		t.Errorf("Disconnect: %v", err)
	}
}
