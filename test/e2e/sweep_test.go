package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/cinder-csi/cinder-csi-driver/pkg/cinder"
)

// e2eCluster is the --cluster of the run's controller: the driver writes it into the
// metadata of every volume and snapshot it makes.
const e2eCluster = "e2e"

// clusterKey is the metadata key the driver writes the cluster under.
const clusterKey = "cinder.csi.openstack.org/cluster"

// sweep, after a failed run, deletes what the run's driver made in Cinder and is not
// in before: a failure half-way leaves Kubernetes objects whose deletion never comes,
// and the next run (or suite) would find their volumes. Each deletion is logged; what
// cannot be deleted fails the test, naming it.
func (e *env) sweep(t *testing.T, before map[string]string) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	// Group snapshots first: Cinder deletes their members only with them. They carry
	// no metadata; the snapshotter names them groupsnapshot-<uid>.
	groups, err := e.cloud.GroupObjects(ctx)
	if err != nil {
		t.Errorf("sweep: %v", err)
		return
	}
	for what, name := range groups {
		id, isSnap := strings.CutPrefix(what, "group-snapshot ")
		if _, old := before[what]; isSnap && !old && strings.HasPrefix(name, "groupsnapshot-") {
			e.sweepOne(ctx, t, what, func() error { return e.cloud.DeleteGroupSnapshot(ctx, id) })
		}
	}
	snaps, _, err := e.cloud.ListSnapshots(ctx, cinder.SnapshotListOpts{})
	if err != nil {
		t.Errorf("sweep: %v", err)
		return
	}
	for _, s := range snaps {
		if _, old := before["snapshot "+s.ID]; !old && s.Metadata[clusterKey] == e2eCluster {
			e.sweepOne(ctx, t, "snapshot "+s.ID, func() error { return e.cloud.DeleteSnapshot(ctx, s.ID) })
		}
	}
	vols, _, err := e.cloud.ListVolumes(ctx, cinder.ListOpts{})
	if err != nil {
		t.Errorf("sweep: %v", err)
		return
	}
	for _, v := range vols {
		if _, old := before["volume "+v.ID]; old || v.Metadata[clusterKey] != e2eCluster {
			continue
		}
		e.sweepOne(ctx, t, "volume "+v.ID, func() error {
			for _, node := range v.Nodes() {
				if err := e.cloud.CinderAttacher().Detach(ctx, v.ID, node); err != nil {
					return err
				}
			}
			return e.cloud.DeleteVolume(ctx, v.ID)
		})
	}
}

func (e *env) sweepOne(ctx context.Context, t *testing.T, what string, del func() error) {
	if err := del(); err != nil {
		t.Errorf("sweep after the failure: could not delete %s: %v", what, err)
		return
	}
	t.Logf("sweep after the failure: deleted %s", what)
}
