package realcinder

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/cinder-csi/cinder-csi-driver/pkg/cinder"
	"github.com/cinder-csi/cinder-csi-driver/test/sanityrun"
)

// requireTestBed skips without the test bed, or fails with REQUIRE_REAL_CINDER=1.
func requireTestBed(t *testing.T) {
	t.Helper()
	skip := sanityrun.Missing(t, "REQUIRE_REAL_CINDER")
	if os.Geteuid() != 0 {
		skip("the real-Cinder tests need root: they attach volume files as loop devices and mount them")
	}
	if _, err := CloudsFile(); err != nil {
		skip("%v", err)
	}
}

func client(t *testing.T, cloudName string) *cinder.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := Client(ctx, cloudName)
	if err != nil {
		t.Fatalf("connecting to cloud %s of the test bed: %v", cloudName, err)
	}
	return c
}

// inventory returns the IDs of every volume, snapshot and backup in the project.
func inventory(t *testing.T, c *cinder.Client) map[string]bool {
	t.Helper()
	ctx := context.Background()
	ids := map[string]bool{}
	vols, _, err := c.ListVolumes(ctx, cinder.ListOpts{})
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range vols {
		ids[v.ID] = true
	}
	snaps, _, err := c.ListSnapshots(ctx, cinder.SnapshotListOpts{})
	if err != nil {
		t.Fatal(err)
	}
	backups, _, err := c.ListBackups(ctx, cinder.SnapshotListOpts{})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range append(snaps, backups...) {
		ids[s.ID] = true
	}
	return ids
}

// assertNothingLeft waits for Cinder to finish deleting and checks that no volume,
// snapshot or backup whose name starts with prefix remains, and no attachment.
// Objects in before (an inventory taken before the test) are not this test's.
func assertNothingLeft(t *testing.T, c *cinder.Client, prefix string, before ...map[string]bool) {
	old := map[string]bool{}
	for _, b := range before {
		for id := range b {
			old[id] = true
		}
	}
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var left []string
	for {
		left = left[:0]
		vols, _, err := c.ListVolumes(ctx, cinder.ListOpts{})
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range vols {
			if strings.HasPrefix(v.Name, prefix) && !old[v.ID] {
				left = append(left, fmt.Sprintf("volume %s %s (%s, %d attachments)", v.ID, v.Name, v.Status, len(v.Attachments)))
			}
		}
		snaps, _, err := c.ListSnapshots(ctx, cinder.SnapshotListOpts{})
		if err != nil {
			t.Fatal(err)
		}
		backups, _, err := c.ListBackups(ctx, cinder.SnapshotListOpts{})
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range append(snaps, backups...) {
			if strings.HasPrefix(s.Name, prefix) && !old[s.ID] {
				left = append(left, fmt.Sprintf("snapshot/backup %s %s (%s)", s.ID, s.Name, s.Status))
			}
		}
		if len(left) == 0 {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("leaked in Cinder:\n%s", strings.Join(left, "\n"))
		case <-time.After(2 * time.Second):
		}
	}
}

// TestLifecycle walks a volume's life through the CSI API against real Cinder.
func TestLifecycle(t *testing.T) {
	requireTestBed(t)
	c := client(t, "local")
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	dir := t.TempDir()
	conn, stop, err := StartDriver(ctx, c, dir, "walk-node-a", 16)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := stop(); err != nil {
			t.Errorf("driver: %v", err)
		}
	}()
	w := NewWalk(conn, dir, [2]string{NodeID("walk-node-a"), NodeID("walk-node-b")}, t.Logf)
	if err := w.Run(ctx); err != nil {
		t.Fatal(err)
	}
	assertNothingLeft(t, c, w.Prefix)
	for _, s := range w.Steps {
		fmt.Printf("lifecycle: %-44s %6.1fs\n", s.Name, s.Duration.Seconds())
	}
}
