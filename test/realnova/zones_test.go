package realnova

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"

	"github.com/cinder-csi/cinder-csi-driver/pkg/driver"
	"github.com/cinder-csi/cinder-csi-driver/test/internal/testbed"
)

// TestMatchingZones runs the common multi-zone cloud: Nova and Cinder with the same
// two zones (the bed's nova and zone-b, a compute host and a Cinder backend in each).
// A server booted in zone-b; its node plugin (the real binary) reads its zone from a
// metadata service served with the server's own data and reports zone-b; a volume
// asked for with that node first, as the provisioner asks for WaitForFirstConsumer,
// is made in Cinder's zone-b and reported there; Nova attaches it to the server, and
// it is staged, written and published there, then taken down again.
func TestMatchingZones(t *testing.T) {
	b := newBed(t)
	const zoneB = "zone-b"
	srv := b.serverIn(t, "zone-b", zoneB)
	if srv.Zone != zoneB {
		t.Fatalf("Nova placed server %s in zone %q, want %s", srv.ID, srv.Zone, zoneB)
	}
	ms := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/openstack/latest/meta_data.json" {
			http.NotFound(w, r)
			return
		}
		fmt.Fprintf(w, `{"uuid": %q, "name": %q, "availability_zone": %q, "project_id": "p"}`, srv.ID, srv.Name, srv.Zone)
	}))
	defer ms.Close()
	info := nodeInfo(t, testbed.DriverBinary(t), "--metadata-url="+ms.URL, "--metadata-search-order=metadataService")
	if z := info.GetAccessibleTopology().GetSegments()[driver.TopologyZoneKey]; z != zoneB || info.GetNodeId() != srv.ID {
		t.Fatalf("NodeGetInfo from the metadata: node %q in zone %q, want %s in %s", info.GetNodeId(), z, srv.ID, zoneB)
	}

	n := b.node(t, srv)
	ctrl := csi.NewControllerClient(n.Conn)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	both := []*csi.Topology{{Segments: map[string]string{driver.TopologyZoneKey: "nova"}}, info.GetAccessibleTopology()}
	resp, err := ctrl.CreateVolume(ctx, &csi.CreateVolumeRequest{
		Name: "zones-" + srv.ID[:8], CapacityRange: &csi.CapacityRange{RequiredBytes: gib},
		VolumeCapabilities: []*csi.VolumeCapability{mountCap}, Parameters: map[string]string{"type": "standard"},
		AccessibilityRequirements: &csi.TopologyRequirement{Requisite: both, Preferred: []*csi.Topology{info.GetAccessibleTopology()}},
	})
	if err != nil {
		t.Fatal(err)
	}
	vol := resp.GetVolume().GetVolumeId()
	t.Cleanup(func() {
		cctx, ccancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer ccancel()
		if _, err := ctrl.DeleteVolume(cctx, &csi.DeleteVolumeRequest{VolumeId: vol}); err != nil {
			t.Errorf("DeleteVolume %s: %v", vol, err)
		}
	})
	v, err := b.cloud.GetVolume(ctx, vol)
	if err != nil {
		t.Fatal(err)
	}
	topo := resp.GetVolume().GetAccessibleTopology()
	if v.AvailabilityZone != zoneB || len(topo) != 1 || topo[0].GetSegments()[driver.TopologyZoneKey] != zoneB {
		t.Fatalf("volume %s: Cinder zone %q, reported %v; want zone-b both", vol, v.AvailabilityZone, topo)
	}
	pc := publish(ctx, t, ctrl, vol, srv)
	target := stageAndPublish(ctx, t, n, vol, pc)
	if err := os.WriteFile(filepath.Join(target, "zone"), []byte(zoneB), 0o600); err != nil {
		t.Errorf("writing on the zone-b server's volume: %v", err)
	}
	unpublishAndUnstage(ctx, t, n, vol)
	unpublish(ctx, t, ctrl, vol, srv)
	t.Logf("server %s in Nova's %s; volume %s in Cinder's %s, attached through Nova, written, detached", srv.ID, srv.Zone, vol, v.AvailabilityZone)
}
