package realcinder

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"github.com/gophercloud/gophercloud/v2"

	"github.com/cinder-csi/cinder-csi-driver/pkg/cinder"
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

// TestAbandonedGroupReleased: a group snapshot's create interrupted after it put the
// volumes into its temporary group, and never retried, leaves them there, and Cinder
// refuses to delete a volume in a group. The test makes that state with its own
// client (a group with the driver's description, holding two volumes); the driver's
// DeleteVolume must still delete both and leave no group.
func TestAbandonedGroupReleased(t *testing.T) {
	requireTestBed(t)
	c := client(t, "local")
	check := leakCheck(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	sc, err := testbed.VolumeClient(ctx, "local", "3.25")
	if err != nil {
		t.Fatal(err)
	}
	gt, err := c.GroupType(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, n := range []string{"abandoned-a", "abandoned-b"} {
		v, err := c.CreateVolume(ctx, cinder.CreateVolumeOpts{Name: n, SizeGiB: 1, VolumeType: "standard"})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, v.ID)
		defer func() { _ = c.DeleteVolume(ctx, v.ID) }()
	}
	var made struct {
		Group struct {
			ID string `json:"id"`
		} `json:"group"`
	}
	body := map[string]any{"group": map[string]any{"name": "abandoned", "description": cinder.TemporaryGroupDescription,
		"group_type": gt.ID, "volume_types": []string{"standard"}}}
	if _, err := sc.Post(ctx, sc.ServiceURL("groups"), body, &made, &gophercloud.RequestOpts{OkCodes: []int{202}}); err != nil {
		t.Fatal(err)
	}
	groupStatus := func() (string, []string) {
		var g struct {
			Group struct {
				Status  string   `json:"status"`
				Volumes []string `json:"volumes"`
			} `json:"group"`
		}
		if _, err := sc.Get(ctx, sc.ServiceURL("groups", made.Group.ID)+"?list_volume=True", &g, nil); err != nil {
			return "gone: " + err.Error(), nil
		}
		return g.Group.Status, g.Group.Volumes
	}
	waitAvailable := func(want int) {
		for ctx.Err() == nil {
			if st, vols := groupStatus(); st == cinder.StatusAvailable && len(vols) == want {
				return
			}
			time.Sleep(500 * time.Millisecond)
		}
		t.Fatalf("group %s never became available with %d volumes", made.Group.ID, want)
	}
	waitAvailable(0)
	upd := map[string]any{"group": map[string]any{"add_volumes": ids[0] + "," + ids[1]}}
	if _, err := sc.Put(ctx, sc.ServiceURL("groups", made.Group.ID), upd, nil, &gophercloud.RequestOpts{OkCodes: []int{202}}); err != nil {
		t.Fatal(err)
	}
	waitAvailable(2)
	for _, id := range ids {
		if err := c.DeleteVolume(ctx, id); err != nil {
			t.Fatalf("delete volume %s of the abandoned group: %v", id, err)
		}
	}
	if st, _ := groupStatus(); !strings.HasPrefix(st, "gone") {
		t.Errorf("the abandoned group %s is still there (%s)", made.Group.ID, st)
	}
	check()
}
