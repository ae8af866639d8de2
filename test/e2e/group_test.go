package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// groupClass is the VolumeGroupSnapshotClass of the run: the NFS backend gives
// Cinder's generic group snapshot only, which the driver accepts with per-volume.
var groupClass = fmt.Sprintf(`
apiVersion: groupsnapshot.storage.k8s.io/v1
kind: VolumeGroupSnapshotClass
metadata: {name: e2e-group}
driver: %s
deletionPolicy: Delete
parameters: {consistency: per-volume}
`, driverName)

func groupSnapshot(name, label string) string {
	return fmt.Sprintf(`
apiVersion: groupsnapshot.storage.k8s.io/v1
kind: VolumeGroupSnapshot
metadata: {name: %s, namespace: default}
spec:
  volumeGroupSnapshotClassName: e2e-group
  source: {selector: {matchLabels: {group: %s}}}
`, name, label)
}

// groupSnapshotOfTwo: two claims with data of their own, a VolumeGroupSnapshot of both
// (by label) → ReadyToUse → one Cinder group snapshot of both volumes → each member
// VolumeSnapshot restored into a claim that holds its source's data → everything
// deleted through Kubernetes. The claims are new: Cinder's NFS driver fails to
// restore a volume's second snapshot (its qcow2 overlay has a backing file, which
// Cinder's image safety check refuses), and "data" already has one.
func (e *env) groupSnapshotOfTwo(ctx context.Context, t *testing.T) time.Duration {
	t.Helper()
	want := map[string]string{} // volume -> its data
	var pvs, vols []string
	for _, c := range []string{"group-a", "group-b"} {
		must(t, e.k.Apply(ctx, pvc(c, "1Gi", "")))
		_, err := e.k.WaitFor(ctx, 3*time.Minute, "pvc/"+c+" Bound", phase("Bound"), "pvc", c)
		must(t, err)
		pv, vol := e.pvOf(ctx, t, c)
		want[vol] = "the data of claim " + c + ", " + time.Now().Format(time.RFC3339Nano)
		e.attachAndUse(ctx, t, "va-"+c, pv, vol, func(dir string) {
			must(t, os.WriteFile(filepath.Join(dir, "data"), []byte(want[vol]), 0o600))
		})
		pvs, vols = append(pvs, pv), append(vols, vol)
	}
	_, err := e.k.Run(ctx, "", "label", "pvc", "group-a", "group-b", "group=e2e")
	must(t, err)
	must(t, e.k.Apply(ctx, groupClass))
	groups := e.watch(ctx, t, "/apis/groupsnapshot.storage.k8s.io/v1/namespaces/default/volumegroupsnapshots")
	ready := e.timeTo(ctx, t, groups, func() { must(t, e.k.Apply(ctx, groupSnapshot("group-data", "e2e"))) },
		"group-data", "volumegroupsnapshot/group-data ready", readyToUse)
	groups.Close()

	vgs, err := e.k.Get(ctx, "volumegroupsnapshot", "group-data")
	must(t, err)
	content, err := e.k.Get(ctx, "volumegroupsnapshotcontent", Str(vgs, "status", "boundVolumeGroupSnapshotContentName"))
	must(t, err)
	handle := Str(content, "status", "volumeGroupSnapshotHandle")
	gs, err := e.cloud.GetGroupSnapshot(ctx, handle)
	must(t, err)
	if got := slices.Sorted(slices.Values(gs.VolumeIDs())); !gs.Ready() || !slices.Equal(got, slices.Sorted(slices.Values(vols))) {
		t.Fatalf("Cinder group snapshot %s: status %s, members of %v; want available, of volumes %v", handle, gs.Status, got, vols)
	}

	// The member VolumeSnapshots the snapshot-controller made, by their Cinder snapshot.
	list, err := e.k.Get(ctx, "volumesnapshot")
	must(t, err)
	members := map[string]string{} // source volume -> VolumeSnapshot name
	items, _ := Field(list, "items").([]any)
	for _, it := range items {
		vs, _ := it.(map[string]any)
		if Str(vs, "status", "volumeGroupSnapshotName") != "group-data" {
			continue
		}
		name := Str(vs, "metadata", "name")
		handle := e.snapshotHandle(ctx, t, name)
		for _, m := range gs.Snapshots {
			if m.ID == handle {
				members[m.VolumeID] = name
			}
		}
	}
	if len(members) != 2 {
		t.Fatalf("member VolumeSnapshots by source volume: %v; want one for each of %v", members, vols)
	}

	// Each member restores into a claim holding its source's data.
	i := 0
	var restored []string
	for vol, vs := range members {
		i++
		claimName := fmt.Sprintf("group-restored-%d", i)
		restored = append(restored, claimName)
		must(t, e.k.Apply(ctx, pvc(claimName, "1Gi", vs)))
		_, err := e.k.WaitFor(ctx, 3*time.Minute, "pvc/"+claimName+" Bound", phase("Bound"), "pvc", claimName)
		must(t, err)
		pv, rv := e.pvOf(ctx, t, claimName)
		e.attachAndUse(ctx, t, "va-"+claimName, pv, rv, func(dir string) {
			got, err := os.ReadFile(filepath.Join(dir, "data"))
			if err != nil || string(got) != want[vol] {
				t.Errorf("%s, restored from member %s of volume %s: %q, %v; want %q", claimName, vs, vol, got, err, want[vol])
			}
		})
	}

	// Deleted through Kubernetes: the claims, then the group snapshot with its members.
	_, err = e.k.Run(ctx, "", append([]string{"delete", "--wait=false", "pvc"}, restored...)...)
	must(t, err)
	for _, c := range restored {
		must(t, e.k.WaitGone(ctx, 3*time.Minute, "pvc", c))
	}
	_, err = e.k.Run(ctx, "", "delete", "--wait=false", "volumegroupsnapshot", "group-data")
	must(t, err)
	must(t, e.k.WaitGone(ctx, 3*time.Minute, "volumegroupsnapshot", "group-data"))
	for _, vs := range members {
		must(t, e.k.WaitGone(ctx, 3*time.Minute, "volumesnapshot", vs))
	}
	if _, err := e.cloud.GetGroupSnapshot(ctx, handle); err == nil {
		t.Errorf("Cinder group snapshot %s is still there after its VolumeGroupSnapshot was deleted", handle)
	}
	_, err = e.k.Run(ctx, "", "delete", "--wait=false", "pvc", "group-a", "group-b")
	must(t, err)
	for _, pv := range pvs {
		must(t, e.k.WaitGone(ctx, 3*time.Minute, "pv", pv))
	}
	return ready
}
