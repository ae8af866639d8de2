//go:build linux

package mount

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestHostGrowUnmounted grows an ext4 filesystem whose volume file grew while it was
// not mounted (a restore into a larger size, an offline expansion), then checks the
// mounted size and that the data survived.
func TestHostGrowUnmounted(t *testing.T) {
	requireHost(t, "mkfs.ext4", "resize2fs", "e2fsck", "dumpe2fs")
	dir := hostDir(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	const volumeID = "grow-offline"
	file := newVolumeFile(t, dir, volumeID, 64*mib)
	loc := newFileLocator()
	m := NewMounter()
	dev, err := loc.Connect(ctx, volumeID, fileAttachment(file))
	if err != nil {
		t.Fatal(err)
	}
	if grew, err := m.GrowUnmounted(ctx, dev); err != nil || grew {
		t.Fatalf("GrowUnmounted on a blank device = %t, %v; want false, nil", grew, err)
	}
	stage := filepath.Join(dir, "stage")
	if err := m.FormatAndMount(ctx, dev, stage, "ext4", nil, nil); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(stage, "data"), []byte("kept"), 0o600); err != nil {
		t.Fatal(err)
	}
	before, _ := m.FSStats(stage)
	if err := m.Unmount(stage); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(file, 192*mib); err != nil {
		t.Fatal(err)
	}
	grew, err := m.GrowUnmounted(ctx, dev)
	if err != nil || !grew {
		t.Fatalf("GrowUnmounted = %t, %v; want true", grew, err)
	}
	if grew, err := m.GrowUnmounted(ctx, dev); err != nil || grew {
		t.Fatalf("second GrowUnmounted = %t, %v; want false (nothing left to grow)", grew, err)
	}
	if err := m.FormatAndMount(ctx, dev, stage, "ext4", nil, nil); err != nil {
		t.Fatal(err)
	}
	after, _ := m.FSStats(stage)
	if after.TotalBytes < 2*before.TotalBytes {
		t.Errorf("filesystem total %d after growing, was %d: want about three times", after.TotalBytes, before.TotalBytes)
	}
	if got, err := os.ReadFile(filepath.Join(stage, "data")); err != nil || string(got) != "kept" {
		t.Errorf("data after growing = %q, %v", got, err)
	}
	if err := m.Unmount(stage); err != nil {
		t.Fatal(err)
	}
	if err := loc.Disconnect(ctx, volumeID); err != nil {
		t.Fatal(err)
	}
	assertHostClean(t, dir)
}
