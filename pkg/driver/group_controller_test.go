package driver

import (
	"context"
	"strings"
	"testing"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/cinder-csi/cinder-csi-driver/pkg/cinder/fake"
)

var perVolume = map[string]string{paramConsistency: consistencyPerVolume}

func TestCreateVolumeGroupSnapshotRequests(t *testing.T) {
	d, cloud := newTestController(t, fake.Options{Zones: []string{"az1", "az2"}})
	v1, v2 := mustCreate(t, d, "g1"), mustCreate(t, d, "g2")
	other, err := d.CreateVolume(context.Background(), createReq("g3", 1, map[string]string{"availability": "az2"}))
	if err != nil {
		t.Fatal(err)
	}
	v3 := other.GetVolume().GetVolumeId()
	for _, tc := range []struct {
		name    string
		req     *csi.CreateVolumeGroupSnapshotRequest
		code    codes.Code
		message string
	}{
		{"no name", &csi.CreateVolumeGroupSnapshotRequest{SourceVolumeIds: []string{v1}}, codes.InvalidArgument, "name is required"},
		{"no volumes", &csi.CreateVolumeGroupSnapshotRequest{Name: "gs"}, codes.InvalidArgument, "source_volume_ids is required"},
		{"a volume twice", &csi.CreateVolumeGroupSnapshotRequest{Name: "gs", SourceVolumeIds: []string{v1, v1}}, codes.InvalidArgument, "twice"},
		{"not a UUID", &csi.CreateVolumeGroupSnapshotRequest{Name: "gs", SourceVolumeIds: []string{v1, "nope"}}, codes.NotFound, "source_volume_ids[1]"},
		{"missing volume", &csi.CreateVolumeGroupSnapshotRequest{Name: "gs", SourceVolumeIds: []string{fake.NewID()}, Parameters: perVolume}, codes.NotFound, "source volume"},
		{"unknown parameter", &csi.CreateVolumeGroupSnapshotRequest{Name: "gs", SourceVolumeIds: []string{v1}, Parameters: map[string]string{"type": "x"}}, codes.InvalidArgument, "unknown VolumeGroupSnapshotClass parameter"},
		{"bad consistency", &csi.CreateVolumeGroupSnapshotRequest{Name: "gs", SourceVolumeIds: []string{v1}, Parameters: map[string]string{paramConsistency: "best"}}, codes.InvalidArgument, `use "write-order" or "per-volume"`},
		{"unknown group type", &csi.CreateVolumeGroupSnapshotRequest{Name: "gs", SourceVolumeIds: []string{v1}, Parameters: map[string]string{paramGroupType: "gold"}}, codes.InvalidArgument, `no group type "gold"`},
		{"write-order on a generic type", &csi.CreateVolumeGroupSnapshotRequest{Name: "gs", SourceVolumeIds: []string{v1, v2}}, codes.FailedPrecondition, `does not set consistent_group_snapshot_enabled="<is> True"`},
		{"write-order on hidden specs", &csi.CreateVolumeGroupSnapshotRequest{Name: "gs", SourceVolumeIds: []string{v1, v2}, Parameters: map[string]string{paramGroupType: "hidden"}}, codes.FailedPrecondition, "group:access_group_types_specs"},
		{"volumes Cinder cannot group", &csi.CreateVolumeGroupSnapshotRequest{Name: "gs", SourceVolumeIds: []string{v1, v3}, Parameters: perVolume}, codes.FailedPrecondition, "cannot snapshot volumes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := d.CreateVolumeGroupSnapshot(context.Background(), tc.req)
			if status.Code(err) != tc.code || !strings.Contains(status.Convert(err).Message(), tc.message) {
				t.Fatalf("got %v, want %s with %q", err, tc.code, tc.message)
			}
		})
	}
	if gs := cloud.GroupSnapshots(); len(gs) != 0 {
		t.Errorf("refused requests left group snapshots %v", gs)
	}
}

func TestVolumeGroupSnapshotLifecycle(t *testing.T) {
	ctx := context.Background()
	for _, params := range []map[string]string{perVolume, {paramGroupType: "consistent"}} {
		d, cloud := newTestController(t, fake.Options{})
		v1, v2 := mustCreate(t, d, "g1"), mustCreate(t, d, "g2")
		req := &csi.CreateVolumeGroupSnapshotRequest{Name: "gs", SourceVolumeIds: []string{v1, v2}, Parameters: params}
		resp, err := d.CreateVolumeGroupSnapshot(ctx, req)
		if err != nil {
			t.Fatalf("%v: %v", params, err)
		}
		gs := resp.GetGroupSnapshot()
		if !gs.GetReadyToUse() || len(gs.GetSnapshots()) != 2 || gs.GetCreationTime() == nil {
			t.Fatalf("group snapshot %v: want ready, two members, a creation time", gs)
		}
		var ids []string
		for _, s := range gs.GetSnapshots() {
			if s.GetGroupSnapshotId() != gs.GetGroupSnapshotId() || !s.GetReadyToUse() {
				t.Errorf("member %v: want ready, with group_snapshot_id %s", s, gs.GetGroupSnapshotId())
			}
			if z := zoneOf(s.GetAccessibleTopology()); z != "nova" {
				t.Errorf("member %s usable from %q, want its volume's zone nova", s.GetSnapshotId(), z)
			}
			ids = append(ids, s.GetSnapshotId())
		}

		// Idempotent by name; the same name for other volumes is AlreadyExists.
		again, err := d.CreateVolumeGroupSnapshot(ctx, req)
		if err != nil || again.GetGroupSnapshot().GetGroupSnapshotId() != gs.GetGroupSnapshotId() {
			t.Fatalf("again: %v, %v; want the same group snapshot", again, err)
		}
		_, err = d.CreateVolumeGroupSnapshot(ctx, &csi.CreateVolumeGroupSnapshotRequest{Name: "gs", SourceVolumeIds: []string{v1}, Parameters: params})
		wantCode(t, err, codes.AlreadyExists)

		// Members restore like any snapshot, and are deleted only with the group.
		restored, err := d.CreateVolume(ctx, &csi.CreateVolumeRequest{Name: "r", VolumeCapabilities: []*csi.VolumeCapability{mountCap()},
			VolumeContentSource: &csi.VolumeContentSource{Type: &csi.VolumeContentSource_Snapshot{Snapshot: &csi.VolumeContentSource_SnapshotSource{SnapshotId: ids[0]}}}})
		if err != nil {
			t.Fatal(err)
		}
		got, err := d.GetSnapshot(ctx, &csi.GetSnapshotRequest{SnapshotId: ids[1]})
		if err != nil || got.GetSnapshot().GetGroupSnapshotId() != gs.GetGroupSnapshotId() {
			t.Errorf("GetSnapshot of a member: %v, %v; want its group_snapshot_id", got, err)
		}
		_, err = d.DeleteSnapshot(ctx, &csi.DeleteSnapshotRequest{SnapshotId: ids[0]})
		wantCode(t, err, codes.InvalidArgument)

		// Get checks the members it is given.
		if _, err := d.GetVolumeGroupSnapshot(ctx, &csi.GetVolumeGroupSnapshotRequest{GroupSnapshotId: gs.GetGroupSnapshotId(), SnapshotIds: ids}); err != nil {
			t.Error(err)
		}
		_, err = d.GetVolumeGroupSnapshot(ctx, &csi.GetVolumeGroupSnapshotRequest{GroupSnapshotId: gs.GetGroupSnapshotId(), SnapshotIds: []string{fake.NewID()}})
		wantCode(t, err, codes.InvalidArgument)

		for range 2 { // a second delete finds nothing: success
			if _, err := d.DeleteVolumeGroupSnapshot(ctx, &csi.DeleteVolumeGroupSnapshotRequest{GroupSnapshotId: gs.GetGroupSnapshotId(), SnapshotIds: ids}); err != nil {
				t.Fatal(err)
			}
		}
		_, err = d.GetVolumeGroupSnapshot(ctx, &csi.GetVolumeGroupSnapshotRequest{GroupSnapshotId: gs.GetGroupSnapshotId()})
		wantCode(t, err, codes.NotFound)
		for _, id := range []string{v1, v2, restored.GetVolume().GetVolumeId()} {
			if _, err := cloud.GetVolume(ctx, id); err != nil {
				t.Errorf("volume %s after the group snapshot's delete: %v; the volumes must stay", id, err)
			}
		}
		if v, s, b := cloud.Counts(); v != 3 || s != 0 || b != 0 {
			t.Errorf("after the delete: %d volumes, %d snapshots, %d backups; want 3, 0, 0", v, s, b)
		}
	}
}

func TestGroupSnapshotsRefuseAttachedVolumesWithoutSnapshotInUse(t *testing.T) {
	d, _ := newTestController(t, fake.Options{})
	d.opts.SnapshotInUse = false
	v1 := mustCreate(t, d, "g1")
	if _, err := d.ControllerPublishVolume(context.Background(), &csi.ControllerPublishVolumeRequest{VolumeId: v1, NodeId: testNode, VolumeCapability: mountCap()}); err != nil {
		t.Fatal(err)
	}
	_, err := d.CreateVolumeGroupSnapshot(context.Background(), &csi.CreateVolumeGroupSnapshotRequest{Name: "gs", SourceVolumeIds: []string{v1}, Parameters: perVolume})
	wantCode(t, err, codes.FailedPrecondition)
}

func TestGroupControllerAdvertisedOnlyWithGroups(t *testing.T) {
	d, _ := newTestController(t, fake.Options{})
	has := func(d *Driver) bool {
		caps, _ := d.GetPluginCapabilities(context.Background(), &csi.GetPluginCapabilitiesRequest{})
		for _, c := range caps.GetCapabilities() {
			if c.GetService().GetType() == csi.PluginCapability_Service_GROUP_CONTROLLER_SERVICE {
				return true
			}
		}
		return false
	}
	if !has(d) {
		t.Error("a controller with groups does not advertise the GroupController service")
	}
	d.deps.Groups = nil
	if has(d) {
		t.Error("a controller without groups advertises the GroupController service")
	}
}
