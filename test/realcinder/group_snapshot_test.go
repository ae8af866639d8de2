package realcinder

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"

	"github.com/cinder-csi/cinder-csi-driver/test/internal/testbed"
)

// TestGroupSnapshot walks a volume group snapshot's life against real Cinder
// (testbed.GroupWalk): the temporary group, Cinder's generic group snapshot on the
// NFS backend, both members restored with their data, and nothing left behind (the
// inventory counts groups and group snapshots).
func TestGroupSnapshot(t *testing.T) {
	requireTestBed(t)
	c := client(t, "local")
	check := leakCheck(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	conn, dir := walkDriver(ctx, t, c, "group-node")
	w := testbed.NewWalk(conn, dir, [2]string{testbed.NodeID("group-node"), testbed.NodeID("group-node")}, t.Logf)
	g := &testbed.GroupWalk{Walk: w, Group: csi.NewGroupControllerClient(conn)}
	err := g.RunGroup(ctx, func(gs *csi.VolumeGroupSnapshot) error {
		got, err := c.GetGroupSnapshot(ctx, gs.GetGroupSnapshotId())
		if err != nil {
			return err
		}
		if !got.Ready() || len(got.Snapshots) != 2 {
			return fmt.Errorf("Cinder group snapshot %s: status %s, %d members; want available with 2", got.ID, got.Status, len(got.Snapshots))
		}
		objs, err := c.GroupObjects(ctx)
		if err != nil {
			return err
		}
		if _, ok := objs["group "+got.GroupID]; !ok {
			return fmt.Errorf("the group %s of group snapshot %s is not listed: %v", got.GroupID, got.ID, objs)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	check()
	for _, s := range w.Steps {
		fmt.Printf("group snapshot: %-52s %6.1fs\n", s.Name, s.Duration.Seconds())
	}
}
