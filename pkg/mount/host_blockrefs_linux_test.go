//go:build linux

package mount

import (
	"context"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// MountRefs of a block device node lists where the node is bind-mounted (raw block
// publishes): what ReadWriteOncePod needs on the node for block volumes.
func TestHostBlockDeviceRefs(t *testing.T) {
	requireHost(t)
	dir := hostDir(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	const volumeID = "blockrefs"
	file := newVolumeFile(t, dir, volumeID, 16*mib)
	loc := newFileLocator()
	dev, err := loc.Connect(ctx, volumeID, fileAttachment(file))
	if err != nil {
		t.Fatalf("Connect: %v", err)
	}
	m := NewMounter()
	if refs, err := m.MountRefs(dev); err != nil || len(refs) != 0 {
		t.Fatalf("MountRefs before any publish = %v, %v; want none", refs, err)
	}
	targets := []string{filepath.Join(dir, "pod1", "dev"), filepath.Join(dir, "pod2", "dev")}
	for _, target := range targets {
		if err := m.BindMount(dev, target, false, nil); err != nil {
			t.Fatalf("BindMount %s: %v", target, err)
		}
	}
	refs, err := m.MountRefs(dev)
	slices.Sort(refs)
	if err != nil || !slices.Equal(refs, targets) {
		t.Errorf("MountRefs = %v, %v; want %v", refs, err, targets)
	}
	for _, target := range targets {
		if err := m.Unmount(target); err != nil {
			t.Fatalf("Unmount %s: %v", target, err)
		}
	}
	if refs, err := m.MountRefs(dev); err != nil || len(refs) != 0 {
		t.Errorf("MountRefs after unpublishing = %v, %v; want none", refs, err)
	}
	if err := loc.Disconnect(ctx, volumeID); err != nil {
		t.Fatalf("Disconnect: %v", err)
	}
}
