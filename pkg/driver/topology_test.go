package driver

import (
	"context"
	"strings"
	"testing"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/cinder-csi/cinder-csi-driver/pkg/cinder"
	"github.com/cinder-csi/cinder-csi-driver/pkg/cinder/fake"
)

func topo(zones ...string) []*csi.Topology {
	var out []*csi.Topology
	for _, z := range zones {
		out = append(out, &csi.Topology{Segments: map[string]string{TopologyZoneKey: z}})
	}
	return out
}

func zoneOf(ts []*csi.Topology) string {
	var zs []string
	for _, t := range ts {
		zs = append(zs, t.GetSegments()[TopologyZoneKey])
	}
	return strings.Join(zs, ",")
}

// twoZones is a controller over a fake cloud with zones az1 (the default) and az2,
// and a snapshot of a volume in az2.
func twoZones(t *testing.T, ignoreAZ bool) (d *Driver, volB, snapB string) {
	t.Helper()
	d, _ = newTestController(t, fake.Options{Zones: []string{"az1", "az2"}})
	d.deps.IgnoreVolumeAZ = ignoreAZ
	ctx := context.Background()
	req := createReq("vol-b", 1, map[string]string{paramAvailability: "az2"})
	v, err := d.CreateVolume(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	var s *csi.CreateSnapshotResponse
	for s == nil || !s.GetSnapshot().GetReadyToUse() { // the fake's snapshot is ready after its latency
		if s, err = d.CreateSnapshot(ctx, &csi.CreateSnapshotRequest{Name: "snap-b", SourceVolumeId: v.GetVolume().GetVolumeId()}); err != nil {
			t.Fatal(err)
		}
	}
	return d, v.GetVolume().GetVolumeId(), s.GetSnapshot().GetSnapshotId()
}

func TestCreateVolumeZones(t *testing.T) {
	snapSrc := func(id string) *csi.VolumeContentSource {
		return &csi.VolumeContentSource{Type: &csi.VolumeContentSource_Snapshot{Snapshot: &csi.VolumeContentSource_SnapshotSource{SnapshotId: id}}}
	}
	volSrc := func(id string) *csi.VolumeContentSource {
		return &csi.VolumeContentSource{Type: &csi.VolumeContentSource_Volume{Volume: &csi.VolumeContentSource_VolumeSource{VolumeId: id}}}
	}
	for _, tc := range []struct {
		name      string
		ignoreAZ  bool
		params    map[string]string
		preferred []string
		requisite []string
		source    string // "snapshot" or "volume": the az2 one
		wantCode  codes.Code
		wantZone  string // Cinder's
		wantTopo  string // reported
		wantMsg   string
	}{
		{name: "no topology: Cinder's default", wantZone: "az1", wantTopo: "az1"},
		{name: "preferred wins", preferred: []string{"az2", "az1"}, requisite: []string{"az1", "az2"}, wantZone: "az2", wantTopo: "az2"},
		{name: "requisite alone", requisite: []string{"az2"}, wantZone: "az2", wantTopo: "az2"},
		{name: "StorageClass zone over topology", params: map[string]string{paramAvailability: "az2"}, preferred: []string{"az1"}, wantZone: "az2", wantTopo: "az2"},
		{name: "unknown zone reaches Cinder", preferred: []string{"az9"}, wantCode: codes.InvalidArgument, wantMsg: "az9"},
		// The selected node is in az1, the snapshot in az2, and az2 is allowed: the
		// volume is made where Cinder can make it, and reported there.
		{name: "restore follows the snapshot", source: "snapshot", preferred: []string{"az1"}, requisite: []string{"az1", "az2"}, wantZone: "az2", wantTopo: "az2"},
		{name: "restore without topology", source: "snapshot", wantZone: "az2", wantTopo: "az2"},
		{name: "clone follows the volume", source: "volume", preferred: []string{"az1"}, requisite: []string{"az1", "az2"}, wantZone: "az2", wantTopo: "az2"},
		{name: "restore where the snapshot is not allowed", source: "snapshot", preferred: []string{"az1"}, requisite: []string{"az1"},
			wantCode: codes.ResourceExhausted, wantMsg: `is in availability zone "az2", which the topology does not allow ([az1])`},
		{name: "clone where the volume is not allowed", source: "volume", requisite: []string{"az1"},
			wantCode: codes.ResourceExhausted, wantMsg: `allow zone "az2"`},
		{name: "ignore-volume-az: no zone sent, none reported", ignoreAZ: true, preferred: []string{"nova-zone-x"}, requisite: []string{"nova-zone-x"}, wantZone: "az1", wantTopo: ""},
		{name: "ignore-volume-az keeps the StorageClass zone", ignoreAZ: true, params: map[string]string{paramAvailability: "az2"}, preferred: []string{"nova-zone-x"}, wantZone: "az2", wantTopo: ""},
		{name: "ignore-volume-az restore", ignoreAZ: true, source: "snapshot", preferred: []string{"nova-zone-x"}, wantZone: "az2", wantTopo: ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, volB, snapB := twoZones(t, tc.ignoreAZ)
			req := createReq("new", 1, tc.params)
			if tc.preferred != nil || tc.requisite != nil {
				req.AccessibilityRequirements = &csi.TopologyRequirement{Preferred: topo(tc.preferred...), Requisite: topo(tc.requisite...)}
			}
			switch tc.source {
			case "snapshot":
				req.VolumeContentSource = snapSrc(snapB)
			case "volume":
				req.VolumeContentSource = volSrc(volB)
			}
			resp, err := d.CreateVolume(context.Background(), req)
			if status.Code(err) != tc.wantCode {
				t.Fatalf("code %s (%v), want %s", status.Code(err), err, tc.wantCode)
			}
			if err != nil {
				if !strings.Contains(err.Error(), tc.wantMsg) {
					t.Errorf("error %q does not say %q", err, tc.wantMsg)
				}
				if vols, _, _ := d.deps.Cloud.ListVolumes(context.Background(), cinder.ListOpts{}); len(vols) != 1 {
					t.Errorf("%d volumes after a refused create, want the source alone", len(vols))
				}
				return
			}
			v, err := d.deps.Cloud.GetVolume(context.Background(), resp.GetVolume().GetVolumeId())
			if err != nil {
				t.Fatal(err)
			}
			if v.AvailabilityZone != tc.wantZone {
				t.Errorf("Cinder made the volume in %q, want %q", v.AvailabilityZone, tc.wantZone)
			}
			if got := zoneOf(resp.GetVolume().GetAccessibleTopology()); got != tc.wantTopo {
				t.Errorf("reported topology %q, want %q", got, tc.wantTopo)
			}
			// A retry of the same request finds the same volume.
			again, err := d.CreateVolume(context.Background(), req)
			if err != nil || again.GetVolume().GetVolumeId() != v.ID {
				t.Errorf("retry: %v, %v; want volume %s again", again, err, v.ID)
			}
		})
	}
}

func TestSnapshotZones(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name      string
		ignoreAZ  bool
		backup    bool
		requisite []string
		wantCode  codes.Code
		wantTopo  string
		wantMsg   string
	}{
		{name: "usable from its volume's zone", wantTopo: "az2"},
		{name: "requisite includes that zone", requisite: []string{"az1", "az2"}, wantTopo: "az2"},
		{name: "requisite excludes it", requisite: []string{"az1"}, wantCode: codes.ResourceExhausted, wantMsg: `usable from its zone "az2" only, which the accessibility requirements ([az1]) do not include`},
		{name: "a backup is usable everywhere", backup: true, requisite: []string{"az1"}, wantTopo: ""},
		{name: "ignore-volume-az reports none", ignoreAZ: true, wantTopo: ""},
		{name: "ignore-volume-az refuses requirements", ignoreAZ: true, requisite: []string{"az2"}, wantCode: codes.InvalidArgument, wantMsg: "does not advertise SNAPSHOT_ACCESSIBILITY_CONSTRAINTS"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, volB, _ := twoZones(t, tc.ignoreAZ)
			req := &csi.CreateSnapshotRequest{Name: "s2", SourceVolumeId: volB}
			if tc.backup {
				req.Parameters = map[string]string{paramSnapshotType: "backup"}
			}
			if tc.requisite != nil {
				req.AccessibilityRequirements = &csi.TopologyRequirement{Requisite: topo(tc.requisite...)}
			}
			resp, err := d.CreateSnapshot(ctx, req)
			if status.Code(err) != tc.wantCode {
				t.Fatalf("code %s (%v), want %s", status.Code(err), err, tc.wantCode)
			}
			if err != nil {
				if !strings.Contains(err.Error(), tc.wantMsg) {
					t.Errorf("error %q does not say %q", err, tc.wantMsg)
				}
				if list, _ := d.ListSnapshots(ctx, &csi.ListSnapshotsRequest{SourceVolumeId: volB}); len(list.GetEntries()) != 1 {
					t.Errorf("%d snapshots of the volume after a refused create, want the first alone", len(list.GetEntries()))
				}
				return
			}
			if got := zoneOf(resp.GetSnapshot().GetAccessibleTopology()); got != tc.wantTopo {
				t.Errorf("CreateSnapshot reports %q, want %q", got, tc.wantTopo)
			}
			id := resp.GetSnapshot().GetSnapshotId()
			got, err := d.GetSnapshot(ctx, &csi.GetSnapshotRequest{SnapshotId: id})
			if err != nil || zoneOf(got.GetSnapshot().GetAccessibleTopology()) != tc.wantTopo {
				t.Errorf("GetSnapshot: %v, %v; want topology %q", got, err, tc.wantTopo)
			}
			one, err := d.ListSnapshots(ctx, &csi.ListSnapshotsRequest{SnapshotId: id})
			if err != nil || len(one.GetEntries()) != 1 || zoneOf(one.GetEntries()[0].GetSnapshot().GetAccessibleTopology()) != tc.wantTopo {
				t.Errorf("ListSnapshots(id): %v, %v; want topology %q", one, err, tc.wantTopo)
			}
			all, err := d.ListSnapshots(ctx, &csi.ListSnapshotsRequest{})
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range all.GetEntries() {
				want := tc.wantTopo
				if e.GetSnapshot().GetSnapshotId() != id { // the bed's snapshot of the same volume
					want = map[bool]string{false: "az2", true: ""}[tc.ignoreAZ]
				}
				if got := zoneOf(e.GetSnapshot().GetAccessibleTopology()); got != want {
					t.Errorf("ListSnapshots: %s reports %q, want %q", e.GetSnapshot().GetSnapshotId(), got, want)
				}
			}
		})
	}
}

func TestSnapshotAccessibilityCapability(t *testing.T) {
	for _, tc := range []struct {
		name     string
		mode     string
		ignoreAZ bool
		noTopo   bool
		want     bool
	}{
		{name: "controller", mode: ModeController, want: true},
		{name: "ignore-volume-az", mode: ModeController, ignoreAZ: true},
		{name: "without topology", mode: ModeController, noTopo: true},
		{name: "node plugin", mode: ModeNode},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, _ := newTestController(t, fake.Options{})
			d.opts.Mode, d.opts.WithTopology, d.deps.IgnoreVolumeAZ = tc.mode, !tc.noTopo, tc.ignoreAZ
			resp, err := d.GetPluginCapabilities(context.Background(), &csi.GetPluginCapabilitiesRequest{})
			if err != nil {
				t.Fatal(err)
			}
			got := false
			for _, c := range resp.GetCapabilities() {
				got = got || c.GetService().GetType() == csi.PluginCapability_Service_SNAPSHOT_ACCESSIBILITY_CONSTRAINTS
			}
			if got != tc.want {
				t.Errorf("SNAPSHOT_ACCESSIBILITY_CONSTRAINTS advertised: %v, want %v", got, tc.want)
			}
		})
	}
}

// A retry of a snapshot that exists already is held to the requirements too.
func TestExistingSnapshotZone(t *testing.T) {
	d, volB, _ := twoZones(t, false)
	_, err := d.CreateSnapshot(context.Background(), &csi.CreateSnapshotRequest{Name: "snap-b", SourceVolumeId: volB,
		AccessibilityRequirements: &csi.TopologyRequirement{Requisite: topo("az1")}})
	wantCode(t, err, codes.ResourceExhausted)
}
