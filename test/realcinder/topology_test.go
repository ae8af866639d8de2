package realcinder

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/cinder-csi/cinder-csi-driver/pkg/cinder"
	"github.com/cinder-csi/cinder-csi-driver/pkg/driver"
	"github.com/cinder-csi/cinder-csi-driver/test/internal/testbed"
)

// The bed's two zones (test/cinder/lib.sh): nova is Cinder's default, zone-b the
// second backend's.
const zoneA, zoneB = "nova", "zone-b"

// topologyDriver serves the controller over the real Cinder, with ignore-volume-az
// as asked.
func topologyDriver(ctx context.Context, t *testing.T, c *cinder.Client, ignoreAZ bool) csi.ControllerClient {
	t.Helper()
	o := testbed.DriverOptions("unix://"+filepath.Join(t.TempDir(), "csi.sock"), "topology-node")
	o.Mode = driver.ModeController
	conn, stop, err := testbed.Serve(ctx, o, driver.Deps{Cloud: c, Attacher: c.CinderAttacher(), IgnoreVolumeAZ: ignoreAZ,
		Version: "realcinder-test", PublishKey: []byte(testbed.PublishKey)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := stop(); err != nil {
			t.Errorf("driver: %v", err)
		}
	})
	caps, err := csi.NewIdentityClient(conn).GetPluginCapabilities(ctx, &csi.GetPluginCapabilitiesRequest{})
	if err != nil {
		t.Fatal(err)
	}
	advertised := false
	for _, c := range caps.GetCapabilities() {
		advertised = advertised || c.GetService().GetType() == csi.PluginCapability_Service_SNAPSHOT_ACCESSIBILITY_CONSTRAINTS
	}
	if advertised == ignoreAZ {
		t.Fatalf("SNAPSHOT_ACCESSIBILITY_CONSTRAINTS advertised: %v with ignore-volume-az %v", advertised, ignoreAZ)
	}
	return csi.NewControllerClient(conn)
}

func zones(zs ...string) []*csi.Topology {
	var out []*csi.Topology
	for _, z := range zs {
		out = append(out, &csi.Topology{Segments: map[string]string{driver.TopologyZoneKey: z}})
	}
	return out
}

func reported(ts []*csi.Topology) string {
	var zs []string
	for _, t := range ts {
		zs = append(zs, t.GetSegments()[driver.TopologyZoneKey])
	}
	return strings.Join(zs, ",")
}

// topologyBed creates and deletes through one driver, and checks Cinder's side.
type topologyBed struct {
	t     *testing.T
	c     *cinder.Client
	ctrl  csi.ControllerClient
	run   string
	vols  []string
	snaps []string
}

func (b *topologyBed) name(n string) string { return fmt.Sprintf("topology-%s-%s", b.run, n) }

// create makes a volume and returns it; or, if wantCode is not OK, checks the
// refusal names wantMsg and that Cinder has no volume of the name.
func (b *topologyBed) create(ctx context.Context, name string, req *csi.TopologyRequirement, src *csi.VolumeContentSource, params map[string]string, wantCode codes.Code, wantMsg string) *csi.Volume {
	b.t.Helper()
	resp, err := b.ctrl.CreateVolume(ctx, &csi.CreateVolumeRequest{Name: b.name(name), CapacityRange: &csi.CapacityRange{RequiredBytes: 1 << 30},
		VolumeCapabilities: []*csi.VolumeCapability{testbed.MountCap()}, Parameters: params,
		AccessibilityRequirements: req, VolumeContentSource: src})
	if err == nil {
		b.vols = append(b.vols, resp.GetVolume().GetVolumeId())
	}
	if status.Code(err) != wantCode {
		b.t.Fatalf("CreateVolume %s: %v; want %s", name, err, wantCode)
	}
	if err != nil {
		if !strings.Contains(status.Convert(err).Message(), wantMsg) {
			b.t.Errorf("CreateVolume %s refused with %q; want it to say %q", name, status.Convert(err).Message(), wantMsg)
		}
		if found, ferr := b.c.FindVolumesByName(ctx, b.name(name)); ferr != nil || len(found) != 0 {
			b.t.Errorf("after the refused create %s Cinder has %d volume(s) of its name (%v)", name, len(found), ferr)
		}
		return nil
	}
	return resp.GetVolume()
}

// inZone checks that Cinder made v in zone and the driver reported topo.
func (b *topologyBed) inZone(ctx context.Context, what string, v *csi.Volume, zone, topo string) {
	b.t.Helper()
	got, err := b.c.GetVolume(ctx, v.GetVolumeId())
	if err != nil {
		b.t.Fatal(err)
	}
	if got.AvailabilityZone != zone {
		b.t.Errorf("%s: Cinder made volume %s in zone %q, want %q", what, got.ID, got.AvailabilityZone, zone)
	}
	if r := reported(v.GetAccessibleTopology()); r != topo {
		b.t.Errorf("%s: the driver reports volume %s accessible from %q, want %q", what, got.ID, r, topo)
	}
}

// snapshot makes a snapshot (or backup) and waits until it is ready.
func (b *topologyBed) snapshot(ctx context.Context, name, volumeID string, params map[string]string, req *csi.TopologyRequirement) (*csi.Snapshot, error) {
	b.t.Helper()
	for {
		resp, err := b.ctrl.CreateSnapshot(ctx, &csi.CreateSnapshotRequest{Name: b.name(name), SourceVolumeId: volumeID, Parameters: params, AccessibilityRequirements: req})
		if err != nil {
			return nil, err
		}
		if id := resp.GetSnapshot().GetSnapshotId(); len(b.snaps) == 0 || b.snaps[len(b.snaps)-1] != id {
			b.snaps = append(b.snaps, id)
		}
		if resp.GetSnapshot().GetReadyToUse() {
			return resp.GetSnapshot(), nil
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(time.Second):
		}
	}
}

func (b *topologyBed) cleanup(ctx context.Context) {
	for i := len(b.snaps) - 1; i >= 0; i-- {
		if _, err := b.ctrl.DeleteSnapshot(ctx, &csi.DeleteSnapshotRequest{SnapshotId: b.snaps[i]}); err != nil {
			b.t.Errorf("DeleteSnapshot %s: %v", b.snaps[i], err)
		}
	}
	for i := len(b.vols) - 1; i >= 0; i-- {
		if _, err := b.ctrl.DeleteVolume(ctx, &csi.DeleteVolumeRequest{VolumeId: b.vols[i]}); err != nil {
			b.t.Errorf("DeleteVolume %s: %v", b.vols[i], err)
		}
	}
}

func snapshotSource(id string) *csi.VolumeContentSource {
	return &csi.VolumeContentSource{Type: &csi.VolumeContentSource_Snapshot{Snapshot: &csi.VolumeContentSource_SnapshotSource{SnapshotId: id}}}
}

func volumeSource(id string) *csi.VolumeContentSource {
	return &csi.VolumeContentSource{Type: &csi.VolumeContentSource_Volume{Volume: &csi.VolumeContentSource_VolumeSource{VolumeId: id}}}
}

// TestTopology proves zone handling on the bed's two zones (two NFS backends, in
// nova and zone-b): volumes are made in the zone the topology asks for; a snapshot
// is reported usable from its volume's zone only and refused where it could not be
// used; a restore or clone is made in its source's zone when the topology allows it
// (Cinder refuses any other, cloned_volume_same_az) and refused with
// ResourceExhausted when it does not; a backup restores into either zone. With
// ignore-volume-az no zone of the topology reaches Cinder and none is reported.
// Nothing is left in Cinder.
func TestTopology(t *testing.T) {
	requireTestBed(t)
	c := client(t, "local")
	check := leakCheck(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	b := &topologyBed{t: t, c: c, ctrl: topologyDriver(ctx, t, c, false), run: fmt.Sprint(time.Now().UnixNano() % 1_000_000)}
	defer check()
	defer b.cleanup(context.WithoutCancel(ctx))

	both := func(preferred ...string) *csi.TopologyRequirement {
		return &csi.TopologyRequirement{Requisite: zones(zoneA, zoneB), Preferred: zones(preferred...)}
	}
	only := func(z string) *csi.TopologyRequirement {
		return &csi.TopologyRequirement{Requisite: zones(z), Preferred: zones(z)}
	}

	// Volumes land where the topology asks (WaitForFirstConsumer: the selected node's
	// zone comes first in preferred).
	volB := b.create(ctx, "in-b", both(zoneB, zoneA), nil, nil, codes.OK, "")
	b.inZone(ctx, "preferred zone-b", volB, zoneB, zoneB)
	volA := b.create(ctx, "in-a", both(zoneA, zoneB), nil, nil, codes.OK, "")
	b.inZone(ctx, "preferred nova", volA, zoneA, zoneA)
	b.inZone(ctx, "StorageClass availability over the topology",
		b.create(ctx, "param-b", both(zoneA), nil, map[string]string{"availability": zoneB}, codes.OK, ""), zoneB, zoneB)
	b.create(ctx, "nowhere", only("zone-nowhere"), nil, nil, codes.InvalidArgument, "zone-nowhere")

	// A clone whose selected node is in nova is made where its source is, and a
	// clone the topology keeps in nova is refused. (Before the snapshot: Cinder's NFS
	// driver fails to clone a volume that has one, its qcow2 overlay's safety check.)
	b.inZone(ctx, "clone, node in nova", b.create(ctx, "clone", both(zoneA), volumeSource(volB.GetVolumeId()), nil, codes.OK, ""), zoneB, zoneB)
	b.create(ctx, "clone-in-a", only(zoneA), volumeSource(volB.GetVolumeId()), nil, codes.ResourceExhausted, `allow zone "zone-b"`)

	// A snapshot is usable from its volume's zone, and nowhere else.
	snap, err := b.snapshot(ctx, "snap-b", volB.GetVolumeId(), nil, only(zoneB))
	if err != nil {
		t.Fatal(err)
	}
	if r := reported(snap.GetAccessibleTopology()); r != zoneB {
		t.Errorf("snapshot of a zone-b volume reported usable from %q, want zone-b", r)
	}
	got, err := b.ctrl.ListSnapshots(ctx, &csi.ListSnapshotsRequest{SnapshotId: snap.GetSnapshotId()})
	if err != nil || len(got.GetEntries()) != 1 || reported(got.GetEntries()[0].GetSnapshot().GetAccessibleTopology()) != zoneB {
		t.Errorf("ListSnapshots(%s): %v, %v; want it usable from zone-b", snap.GetSnapshotId(), got, err)
	}
	if _, err := b.snapshot(ctx, "snap-b-in-a", volB.GetVolumeId(), nil, only(zoneA)); status.Code(err) != codes.ResourceExhausted ||
		!strings.Contains(err.Error(), `usable from its zone "zone-b" only`) {
		t.Errorf("a snapshot of a zone-b volume required in nova: %v; want ResourceExhausted", err)
	}
	if list, _, err := c.ListSnapshots(ctx, cinder.SnapshotListOpts{Name: b.name("snap-b-in-a")}); err != nil || len(list) != 0 {
		t.Errorf("the refused snapshot left %d in Cinder (%v)", len(list), err)
	}

	// The incumbent's bug: a restore whose selected node is in nova, of a zone-b
	// snapshot. The volume is made in zone-b, where Cinder can make it, and reported
	// there, so that the scheduler moves the pod to a zone-b node.
	b.inZone(ctx, "restore, node in nova", b.create(ctx, "restore", both(zoneA), snapshotSource(snap.GetSnapshotId()), nil, codes.OK, ""), zoneB, zoneB)
	// Where the topology allows nova only, Cinder cannot make it: ResourceExhausted,
	// nothing made.
	b.create(ctx, "restore-in-a", only(zoneA), snapshotSource(snap.GetSnapshotId()), nil, codes.ResourceExhausted,
		`is in availability zone "zone-b", which the topology does not allow ([nova])`)

	// A backup is usable from every zone: no topology, and it restores into nova.
	backup, err := b.snapshot(ctx, "backup-b", volB.GetVolumeId(), map[string]string{"type": "backup"}, only(zoneA))
	if err != nil {
		t.Fatal(err)
	}
	if r := reported(backup.GetAccessibleTopology()); r != "" {
		t.Errorf("a backup reported usable from %q only, want everywhere", r)
	}
	b.inZone(ctx, "backup restored in nova", b.create(ctx, "from-backup", only(zoneA), snapshotSource(backup.GetSnapshotId()), nil, codes.OK, ""), zoneA, zoneA)

	// ignore-volume-az: the nodes' zone (one Cinder lacks) never reaches Cinder.
	ig := &topologyBed{t: t, c: c, ctrl: topologyDriver(ctx, t, c, true), run: b.run + "-ignore"}
	defer ig.cleanup(context.WithoutCancel(ctx))
	ig.inZone(ctx, "ignore-volume-az, node zone unknown to Cinder", ig.create(ctx, "nova-zone", only("compute-zone-1"), nil, nil, codes.OK, ""), zoneA, "")
	ig.inZone(ctx, "ignore-volume-az keeps the StorageClass zone",
		ig.create(ctx, "param-b", only("compute-zone-1"), nil, map[string]string{"availability": zoneB}, codes.OK, ""), zoneB, "")
	ig.inZone(ctx, "ignore-volume-az restore", ig.create(ctx, "restore", only("compute-zone-1"), snapshotSource(snap.GetSnapshotId()), nil, codes.OK, ""), zoneB, "")
	if _, err := ig.snapshot(ctx, "snap", volB.GetVolumeId(), nil, only(zoneB)); status.Code(err) != codes.InvalidArgument {
		t.Errorf("snapshot accessibility requirements with ignore-volume-az: %v; want InvalidArgument", err)
	}
}
