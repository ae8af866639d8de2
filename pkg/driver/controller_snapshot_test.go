package driver

import (
	"context"
	"testing"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"

	"github.com/cinder-csi/cinder-csi-driver/pkg/cinder"
	"github.com/cinder-csi/cinder-csi-driver/pkg/cinder/fake"
)

func TestSnapshots(t *testing.T) {
	ctx := context.Background()
	d, cloud := newTestController(t, fake.Options{})
	v1, v2 := mustCreate(t, d, "v1"), mustCreate(t, d, "v2")
	s1, err := d.CreateSnapshot(ctx, &csi.CreateSnapshotRequest{Name: "snap-1", SourceVolumeId: v1})
	if err != nil {
		t.Fatal(err)
	}
	again, err := d.CreateSnapshot(ctx, &csi.CreateSnapshotRequest{Name: "snap-1", SourceVolumeId: v1})
	if err != nil || again.GetSnapshot().GetSnapshotId() != s1.GetSnapshot().GetSnapshotId() {
		t.Fatalf("retry = %v, %v; want the same snapshot", again, err)
	}
	if n := cloud.Calls("CreateSnapshot"); n != 1 {
		t.Errorf("Cinder snapshot create called %d times", n)
	}
	tests := []struct {
		name string
		req  *csi.CreateSnapshotRequest
		code codes.Code
	}{
		{"same name, other volume", &csi.CreateSnapshotRequest{Name: "snap-1", SourceVolumeId: v2}, codes.AlreadyExists},
		{"no name", &csi.CreateSnapshotRequest{SourceVolumeId: v1}, codes.InvalidArgument},
		{"no source", &csi.CreateSnapshotRequest{Name: "x"}, codes.InvalidArgument},
		{"missing source", &csi.CreateSnapshotRequest{Name: "x", SourceVolumeId: "00000000-0000-4000-8000-000000000000"}, codes.NotFound},
		{"bad type", &csi.CreateSnapshotRequest{Name: "x", SourceVolumeId: v1, Parameters: map[string]string{"type": "clone"}}, codes.InvalidArgument},
		{"unknown parameter", &csi.CreateSnapshotRequest{Name: "x", SourceVolumeId: v1, Parameters: map[string]string{"force": "true"}}, codes.InvalidArgument},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := d.CreateSnapshot(ctx, tt.req)
			wantCode(t, err, tt.code)
		})
	}
	b1, err := d.CreateSnapshot(ctx, &csi.CreateSnapshotRequest{Name: "bk-1", SourceVolumeId: v2, Parameters: map[string]string{"type": "backup"}})
	if err != nil {
		t.Fatal(err)
	}
	waitReady(t, d, s1.GetSnapshot().GetSnapshotId())
	waitReady(t, d, b1.GetSnapshot().GetSnapshotId())

	// Paging walks snapshots, then backups, one entry at a time.
	var ids []string
	tok := ""
	for i := 0; i < 5; i++ {
		resp, err := d.ListSnapshots(ctx, &csi.ListSnapshotsRequest{MaxEntries: 1, StartingToken: tok})
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range resp.GetEntries() {
			ids = append(ids, e.GetSnapshot().GetSnapshotId())
		}
		if tok = resp.GetNextToken(); tok == "" {
			break
		}
	}
	if len(ids) != 2 || ids[0] != s1.GetSnapshot().GetSnapshotId() || ids[1] != b1.GetSnapshot().GetSnapshotId() {
		t.Errorf("paged listing = %v", ids)
	}
	byVol, _ := d.ListSnapshots(ctx, &csi.ListSnapshotsRequest{SourceVolumeId: v2})
	if len(byVol.GetEntries()) != 1 {
		t.Errorf("filter by source volume gave %d entries, want 1", len(byVol.GetEntries()))
	}
	_, err = d.ListSnapshots(ctx, &csi.ListSnapshotsRequest{StartingToken: "garbage"})
	wantCode(t, err, codes.Aborted)

	// A volume with a snapshot cannot be deleted; after the snapshot goes, it can.
	_, err = d.DeleteVolume(ctx, &csi.DeleteVolumeRequest{VolumeId: v1})
	wantCode(t, err, codes.FailedPrecondition)
	for _, id := range []string{s1.GetSnapshot().GetSnapshotId(), b1.GetSnapshot().GetSnapshotId(), s1.GetSnapshot().GetSnapshotId(), "nope"} {
		if _, err := d.DeleteSnapshot(ctx, &csi.DeleteSnapshotRequest{SnapshotId: id}); err != nil {
			t.Fatalf("DeleteSnapshot(%s): %v", id, err)
		}
	}
	if _, s, b := cloud.Counts(); s+b != 0 {
		t.Errorf("%d snapshots and %d backups left", s, b)
	}
}

func TestFailedSnapshotIsDeleted(t *testing.T) {
	ctx := context.Background()
	d, cloud := newTestController(t, fake.Options{})
	v := mustCreate(t, d, "v")
	s, err := d.CreateSnapshot(ctx, &csi.CreateSnapshotRequest{Name: "s", SourceVolumeId: v})
	if err != nil {
		t.Fatal(err)
	}
	cloud.SetSnapshotStatus(s.GetSnapshot().GetSnapshotId(), cinder.StatusError)
	_, err = d.CreateSnapshot(ctx, &csi.CreateSnapshotRequest{Name: "s", SourceVolumeId: v})
	wantCode(t, err, codes.Internal)
	if _, n, _ := cloud.Counts(); n != 0 {
		t.Errorf("the failed snapshot was kept")
	}
}

func TestExpandAndModify(t *testing.T) {
	ctx := context.Background()
	d, cloud := newTestController(t, fake.Options{})
	id := mustCreate(t, d, "grow")
	resp, err := d.ControllerExpandVolume(ctx, &csi.ControllerExpandVolumeRequest{VolumeId: id,
		CapacityRange: &csi.CapacityRange{RequiredBytes: 3*gib - 1}})
	if err != nil || resp.GetCapacityBytes() != 3*gib || !resp.GetNodeExpansionRequired() {
		t.Fatalf("expand = %v, %v; want 3Gi with node expansion", resp, err)
	}
	if _, err := d.ControllerExpandVolume(ctx, &csi.ControllerExpandVolumeRequest{VolumeId: id,
		CapacityRange: &csi.CapacityRange{RequiredBytes: 2 * gib}}); err != nil {
		t.Fatalf("shrinking request should be a no-op success: %v", err)
	}
	if n := cloud.Calls("ExpandVolume"); n != 1 {
		t.Errorf("Cinder extend called %d times, want 1", n)
	}
	_, err = d.ControllerExpandVolume(ctx, &csi.ControllerExpandVolumeRequest{VolumeId: id})
	wantCode(t, err, codes.InvalidArgument)

	if _, err := d.ControllerModifyVolume(ctx, &csi.ControllerModifyVolumeRequest{VolumeId: id, MutableParameters: map[string]string{"type": "fast"}}); err != nil {
		t.Fatal(err)
	}
	if v, _ := cloud.GetVolume(ctx, id); v.VolumeType != "fast" {
		t.Errorf("type = %q after modify, want fast", v.VolumeType)
	}
	for _, p := range []map[string]string{{"size": "3"}, {"type": "gold"}} {
		_, err := d.ControllerModifyVolume(ctx, &csi.ControllerModifyVolumeRequest{VolumeId: id, MutableParameters: p})
		wantCode(t, err, codes.InvalidArgument)
	}
	// A class without parameters changes nothing (csi-sanity's default), but the volume
	// must exist.
	retypes := cloud.Calls("RetypeVolume")
	if _, err := d.ControllerModifyVolume(ctx, &csi.ControllerModifyVolumeRequest{VolumeId: id}); err != nil {
		t.Errorf("modify without parameters: %v", err)
	}
	if cloud.Calls("RetypeVolume") != retypes {
		t.Error("modify without parameters retyped the volume")
	}
	_, err = d.ControllerModifyVolume(ctx, &csi.ControllerModifyVolumeRequest{VolumeId: "6b1d5c36-2d1f-4a4b-9d36-1b0c2f1e9a99"})
	wantCode(t, err, codes.NotFound)
}

func TestGetCapacity(t *testing.T) {
	d, _ := newTestController(t, fake.Options{MaxTotalGiB: 10})
	mustCreate(t, d, "a")
	resp, err := d.GetCapacity(context.Background(), &csi.GetCapacityRequest{})
	if err != nil || resp.GetAvailableCapacity() != 9*gib {
		t.Fatalf("GetCapacity = %v, %v; want 9Gi", resp, err)
	}
}

// A backend that cannot touch attached volumes gets a precise refusal before Cinder is
// asked, so no volume is left in error_extending and no snapshot in error.
func TestBackendLimitsForAttachedVolumes(t *testing.T) {
	ctx := context.Background()
	d, cloud := newTestController(t, fake.Options{})
	d.opts.ExpandInUse, d.opts.SnapshotInUse = false, false
	id := mustCreate(t, d, "attached")
	// A snapshot made while the volume was detached, and a backup.
	before, err := d.CreateSnapshot(ctx, &csi.CreateSnapshotRequest{Name: "before", SourceVolumeId: id})
	if err != nil {
		t.Fatal(err)
	}
	backup, err := d.CreateSnapshot(ctx, &csi.CreateSnapshotRequest{Name: "backup", SourceVolumeId: id, Parameters: map[string]string{"type": "backup"}})
	if err != nil {
		t.Fatal(err)
	}
	creates, snaps, backups := cloud.Calls("CreateVolume"), cloud.Calls("CreateSnapshot"), cloud.Calls("CreateBackup")
	if _, err := d.ControllerPublishVolume(ctx, &csi.ControllerPublishVolumeRequest{VolumeId: id, NodeId: testNode, VolumeCapability: mountCap()}); err != nil {
		t.Fatal(err)
	}
	_, err = d.ControllerExpandVolume(ctx, &csi.ControllerExpandVolumeRequest{VolumeId: id, CapacityRange: &csi.CapacityRange{RequiredBytes: 2 * gib}})
	wantCode(t, err, codes.FailedPrecondition)
	for _, params := range []map[string]string{nil, {"type": "backup"}} {
		_, err = d.CreateSnapshot(ctx, &csi.CreateSnapshotRequest{Name: "s", SourceVolumeId: id, Parameters: params})
		wantCode(t, err, codes.FailedPrecondition)
	}
	clone := &csi.CreateVolumeRequest{Name: "clone", VolumeCapabilities: []*csi.VolumeCapability{mountCap()},
		VolumeContentSource: &csi.VolumeContentSource{Type: &csi.VolumeContentSource_Volume{Volume: &csi.VolumeContentSource_VolumeSource{VolumeId: id}}}}
	_, err = d.CreateVolume(ctx, clone)
	wantCode(t, err, codes.FailedPrecondition)
	_, err = d.DeleteSnapshot(ctx, &csi.DeleteSnapshotRequest{SnapshotId: before.GetSnapshot().GetSnapshotId()})
	wantCode(t, err, codes.FailedPrecondition)
	// A backup does not depend on its volume: deleting it is fine while attached.
	if _, err := d.DeleteSnapshot(ctx, &csi.DeleteSnapshotRequest{SnapshotId: backup.GetSnapshot().GetSnapshotId()}); err != nil {
		t.Errorf("deleting a backup of an attached volume: %v", err)
	}
	if cloud.Calls("ExpandVolume") != 0 || cloud.Calls("CreateSnapshot") != snaps || cloud.Calls("CreateBackup") != backups ||
		cloud.Calls("CreateVolume") != creates || cloud.Calls("DeleteSnapshot") != 0 {
		t.Error("Cinder was asked anyway")
	}
	caps, _ := d.GetPluginCapabilities(ctx, &csi.GetPluginCapabilitiesRequest{})
	found := false
	for _, c := range caps.GetCapabilities() {
		if c.GetVolumeExpansion().GetType() == csi.PluginCapability_VolumeExpansion_OFFLINE {
			found = true
		}
	}
	if !found {
		t.Error("offline-only expansion is not advertised as OFFLINE")
	}
	// Detached, both work.
	if _, err := d.ControllerUnpublishVolume(ctx, &csi.ControllerUnpublishVolumeRequest{VolumeId: id, NodeId: testNode}); err != nil {
		t.Fatal(err)
	}
	if _, err := d.ControllerExpandVolume(ctx, &csi.ControllerExpandVolumeRequest{VolumeId: id, CapacityRange: &csi.CapacityRange{RequiredBytes: 2 * gib}}); err != nil {
		t.Fatal(err)
	}
	if _, err := d.CreateSnapshot(ctx, &csi.CreateSnapshotRequest{Name: "s", SourceVolumeId: id}); err != nil {
		t.Fatal(err)
	}
	if _, err := d.CreateVolume(ctx, clone); err != nil {
		t.Errorf("clone of the detached volume: %v", err)
	}
	if _, err := d.DeleteSnapshot(ctx, &csi.DeleteSnapshotRequest{SnapshotId: before.GetSnapshot().GetSnapshotId()}); err != nil {
		t.Errorf("deleting the snapshot of the detached volume: %v", err)
	}
}
