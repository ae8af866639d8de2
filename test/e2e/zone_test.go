package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/cinder-csi/cinder-csi-driver/pkg/driver"
)

// elsewhere is a class whose only allowed zone is one the test bed's Cinder does not
// have (it has nova and zone-b): a driver that dropped the topology would make the
// volume in Cinder's default zone. Its claim proves the zone reaches Cinder.
var elsewhere = zoneClass("e2e-elsewhere", "zone-nowhere")

// zoneReachesCinder: a claim of that class must not be provisioned, and the failure
// the provisioner reports must be Cinder's refusal of the zone; no volume is made.
func (e *env) zoneReachesCinder(ctx context.Context, t *testing.T) {
	t.Helper()
	must(t, e.k.Apply(ctx, elsewhere))
	must(t, e.k.Apply(ctx, claim("elsewhere", "e2e-elsewhere", "1Gi", "")))
	c, err := e.k.Get(ctx, "pvc", "elsewhere")
	must(t, err)
	uid := Str(c, "metadata", "uid")
	var msg string
	_, err = e.k.WaitFor(ctx, 2*time.Minute, "a ProvisioningFailed event naming zone-nowhere", func(list map[string]any) bool {
		items, _ := list["items"].([]any)
		for _, it := range items {
			ev, _ := it.(map[string]any)
			if Str(ev, "involvedObject", "uid") == uid && Str(ev, "reason") == "ProvisioningFailed" && strings.Contains(Str(ev, "message"), "zone-nowhere") {
				msg = Str(ev, "message")
				return true
			}
		}
		return false
	}, "events")
	if err != nil {
		t.Error(err)
	}
	t.Logf("claim in a zone Cinder lacks: %s", msg)
	if c, err := e.k.Get(ctx, "pvc", "elsewhere"); err == nil && Str(c, "status", "phase") != "Pending" {
		t.Errorf("claim elsewhere is %s; want Pending (its only allowed zone is not Cinder's)", Str(c, "status", "phase"))
	}
	vols, err := e.cloud.FindVolumesByName(ctx, "pvc-"+uid)
	must(t, err)
	if len(vols) != 0 {
		t.Errorf("Cinder made %d volume(s) for the claim in zone-nowhere, in zone %q: the driver dropped the topology", len(vols), vols[0].AvailabilityZone)
	}
	must(t, func() error { _, err := e.k.Run(ctx, "", "delete", "pvc", "elsewhere", "--wait=true"); return err }())
}

// nodeB is a second node the test plays, in the bed's second Cinder zone. It leaves
// attach and detach to its (absent) kubelet, so the controller manager attaches
// nothing to it; it exists only while restoreFollowsSnapshot runs, so that no other
// pod of the run is scheduled to it.
const nodeB, zoneB = "e2e-node-b", "zone-b"

var nodeBObjects = playedNode(nodeB, zoneB, nodeB, false) + "---" + zoneClass("e2e-zone-b", zoneB)

// podOn is a pod of claim the scheduler may place on node only.
func podOn(name, claim, node string) string {
	return strings.Replace(pod(name, claim), "spec:\n", "spec:\n  nodeSelector: {kubernetes.io/hostname: "+node+"}\n", 1)
}

// podPreferring is a pod of claim that prefers node (a soft affinity): the scheduler
// tries that node first, and may place the pod elsewhere.
func podPreferring(name, claim, node string) string {
	return strings.Replace(pod(name, claim), "spec:\n", `spec:
  affinity:
    nodeAffinity:
      preferredDuringSchedulingIgnoredDuringExecution:
      - weight: 100
        preference:
          matchExpressions:
          - {key: kubernetes.io/hostname, operator: In, values: [`+node+`]}
`, 1)
}

// restoreFollowsSnapshot first makes a WaitForFirstConsumer claim for a pod on the
// zone-b node, whose volume must be made in zone-b. Then the incumbent's bug on two
// zones: a snapshot of a zone-b
// volume, restored with WaitForFirstConsumer for a pod the scheduler first places on
// the nova node. Cinder makes a restore only in its snapshot's zone; the driver makes
// it there (the provisioner's requisite topology allows both zones), the PV says
// zone-b, and the scheduler moves the pod to the zone-b node. Its three claims are
// deleted again, and their PVs gone, before it returns.
func (e *env) restoreFollowsSnapshot(ctx context.Context, t *testing.T) {
	t.Helper()
	must(t, e.k.Apply(ctx, nodeBObjects))
	var pvs []string
	defer func() {
		for _, obj := range [][]string{{"pod", "zone-b-app", "--grace-period=0", "--force"}, {"pod", "zone-b-wffc", "--grace-period=0", "--force"},
			{"pvc", "zone-b-restore"}, {"pvc", "zone-b-wffc"},
			{"volumesnapshot", "zone-b-snap"}, {"pvc", "zone-b-src"}, {"csinode", nodeB}, {"node", nodeB}, {"storageclass", "e2e-zone-b"}} {
			if _, err := e.k.Run(ctx, "", append([]string{"delete", "--ignore-not-found", "--wait=true"}, obj...)...); err != nil {
				t.Errorf("deleting %v: %v", obj, err)
			}
		}
		for _, pv := range pvs {
			if err := e.k.WaitGone(ctx, 3*time.Minute, "pv", pv); err != nil {
				t.Error(err)
			}
		}
	}()
	// WaitForFirstConsumer on the zone-b node: the volume is made in zone-b.
	must(t, e.k.Apply(ctx, claim("zone-b-wffc", "e2e-wffc", "1Gi", "")))
	must(t, e.k.Apply(ctx, podOn("zone-b-wffc", "zone-b-wffc", nodeB)))
	_, err := e.k.WaitFor(ctx, 3*time.Minute, "pvc/zone-b-wffc Bound", phase("Bound"), "pvc", "zone-b-wffc")
	must(t, err)
	wffcPV, wffc := e.pvOf(ctx, t, "zone-b-wffc")
	pvs = append(pvs, wffcPV)
	if v := e.volume(ctx, t, wffc); v.AvailabilityZone != zoneB {
		t.Errorf("the WaitForFirstConsumer claim of a pod on %s made volume %s in zone %q, want %s", nodeB, wffc, v.AvailabilityZone, zoneB)
	}

	must(t, e.k.Apply(ctx, claim("zone-b-src", "e2e-zone-b", "1Gi", "")))
	_, err = e.k.WaitFor(ctx, 3*time.Minute, "pvc/zone-b-src Bound", phase("Bound"), "pvc", "zone-b-src")
	must(t, err)
	srcPV, src := e.pvOf(ctx, t, "zone-b-src")
	pvs = append(pvs, srcPV)
	if v := e.volume(ctx, t, src); v.AvailabilityZone != zoneB {
		t.Fatalf("the claim of class e2e-zone-b made volume %s in zone %q, want %s", src, v.AvailabilityZone, zoneB)
	}
	must(t, e.k.Apply(ctx, snapshot("zone-b-snap", "e2e-snapshot", "zone-b-src")))
	_, err = e.k.WaitFor(ctx, 3*time.Minute, "volumesnapshot/zone-b-snap ready", readyToUse, "volumesnapshot", "zone-b-snap")
	must(t, err)

	must(t, e.k.Apply(ctx, claim("zone-b-restore", "e2e-wffc", "1Gi", "zone-b-snap")))
	must(t, e.k.Apply(ctx, podPreferring("zone-b-app", "zone-b-restore", nodeName)))
	_, err = e.k.WaitFor(ctx, 3*time.Minute, "pod/zone-b-app placed on "+nodeB,
		func(o map[string]any) bool { return Str(o, "spec", "nodeName") == nodeB }, "pod", "zone-b-app")
	must(t, err)
	c, err := e.k.Get(ctx, "pvc", "zone-b-restore")
	must(t, err)
	// The scheduler's first choice, kept on the claim it provisioned for.
	if n := Str(c, "metadata", "annotations", "volume.kubernetes.io/selected-node"); n != nodeName {
		t.Errorf("the restore was provisioned for node %q, want %s (the pod's preferred node, in nova): the move was not proved", n, nodeName)
	}
	pv, restored := e.pvOf(ctx, t, "zone-b-restore")
	pvs = append(pvs, pv)
	if v := e.volume(ctx, t, restored); v.AvailabilityZone != zoneB || v.SnapshotID != e.snapshotHandle(ctx, t, "zone-b-snap") {
		t.Errorf("restored volume %s: zone %q, snapshot %q; want zone-b, from the snapshot", restored, v.AvailabilityZone, v.SnapshotID)
	}
	p, err := e.k.Get(ctx, "pv", pv)
	must(t, err)
	terms, _ := Field(p, "spec", "nodeAffinity", "required", "nodeSelectorTerms").([]any)
	if got := fmt.Sprint(terms); len(terms) != 1 || !strings.Contains(got, driver.TopologyZoneKey) || !strings.Contains(got, zoneB) {
		t.Errorf("PV %s node affinity %s; want the zone-b term alone", pv, got)
	}
	t.Logf("restore of a zone-b snapshot for a pod first placed in nova: volume %s made in zone-b, PV %s pinned there, pod moved to %s (source PV %s)", restored, pv, nodeB, srcPV)
}
