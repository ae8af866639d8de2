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
// have: the bed has one zone, so "the volume is in the node's zone" would hold for a
// driver that ignored topology too. This claim proves the zone reaches Cinder.
var elsewhere = fmt.Sprintf(`
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata: {name: e2e-elsewhere}
provisioner: %[1]s
volumeBindingMode: Immediate
reclaimPolicy: Delete
parameters: {type: standard}
allowedTopologies:
- matchLabelExpressions:
  - {key: %[2]s, values: [zone-nowhere]}
`, driverName, driver.TopologyZoneKey)

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
