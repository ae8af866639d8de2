package driver

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/cinder-csi/cinder-csi-driver/pkg/cinder"
	"github.com/cinder-csi/cinder-csi-driver/pkg/cinder/fake"
)

func TestCreateVolumeValidation(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name string
		req  *csi.CreateVolumeRequest
		code codes.Code
	}{
		{"no name", &csi.CreateVolumeRequest{VolumeCapabilities: []*csi.VolumeCapability{mountCap()}}, codes.InvalidArgument},
		{"no capabilities", &csi.CreateVolumeRequest{Name: "v"}, codes.InvalidArgument},
		{"limit below required", &csi.CreateVolumeRequest{Name: "v", VolumeCapabilities: []*csi.VolumeCapability{mountCap()},
			CapacityRange: &csi.CapacityRange{RequiredBytes: 2 * gib, LimitBytes: gib}}, codes.OutOfRange},
		{"limit below one GiB", &csi.CreateVolumeRequest{Name: "v", VolumeCapabilities: []*csi.VolumeCapability{mountCap()},
			CapacityRange: &csi.CapacityRange{LimitBytes: 100 << 20}}, codes.OutOfRange},
		{"unknown parameter", createReq("v", 1, map[string]string{"iops": "3"}), codes.InvalidArgument},
		{"unknown type", createReq("v", 1, map[string]string{"type": "gold"}), codes.InvalidArgument},
		{"filesystem on many nodes", &csi.CreateVolumeRequest{Name: "v", VolumeCapabilities: []*csi.VolumeCapability{{
			AccessType: &csi.VolumeCapability_Mount{Mount: &csi.VolumeCapability_MountVolume{}},
			AccessMode: &csi.VolumeCapability_AccessMode{Mode: csi.VolumeCapability_AccessMode_MULTI_NODE_MULTI_WRITER}}}}, codes.InvalidArgument},
		{"block on many nodes, not multiattach", &csi.CreateVolumeRequest{Name: "v",
			VolumeCapabilities: []*csi.VolumeCapability{blockCap(csi.VolumeCapability_AccessMode_MULTI_NODE_MULTI_WRITER)}}, codes.InvalidArgument},
		{"unsupported fsType", &csi.CreateVolumeRequest{Name: "v", VolumeCapabilities: []*csi.VolumeCapability{{
			AccessType: &csi.VolumeCapability_Mount{Mount: &csi.VolumeCapability_MountVolume{FsType: "zfs"}},
			AccessMode: &csi.VolumeCapability_AccessMode{Mode: csi.VolumeCapability_AccessMode_SINGLE_NODE_WRITER}}}}, codes.InvalidArgument},
		{"missing snapshot", &csi.CreateVolumeRequest{Name: "v", VolumeCapabilities: []*csi.VolumeCapability{mountCap()},
			VolumeContentSource: &csi.VolumeContentSource{Type: &csi.VolumeContentSource_Snapshot{Snapshot: &csi.VolumeContentSource_SnapshotSource{
				SnapshotId: "00000000-0000-4000-8000-000000000000"}}}}, codes.NotFound},
		{"malformed source volume", &csi.CreateVolumeRequest{Name: "v", VolumeCapabilities: []*csi.VolumeCapability{mountCap()},
			VolumeContentSource: &csi.VolumeContentSource{Type: &csi.VolumeContentSource_Volume{Volume: &csi.VolumeContentSource_VolumeSource{
				VolumeId: "../../etc"}}}}, codes.NotFound},
		{"over quota", createReq("v", 5000, nil), codes.ResourceExhausted},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, cloud := newTestController(t, fake.Options{})
			_, err := d.CreateVolume(ctx, tt.req)
			wantCode(t, err, tt.code)
			if v, _, _ := cloud.Counts(); v != 0 {
				t.Errorf("a refused CreateVolume left %d volumes", v)
			}
		})
	}
}

// Two live volumes of one name (a crashed create's straggler and its retry's
// volume): a CreateVolume that finds the name keeps the earliest and deletes the
// other, so that neither stays behind once the name is used.
func TestCreateVolumeFindsDuplicates(t *testing.T) {
	ctx := context.Background()
	d, cloud := newTestController(t, fake.Options{})
	first, err := cloud.CreateVolume(ctx, cinder.CreateVolumeOpts{Name: "pvc-dup", SizeGiB: 1})
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Millisecond) // a later created_at
	if _, err := cloud.CreateVolume(ctx, cinder.CreateVolumeOpts{Name: "pvc-dup", SizeGiB: 1}); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		resp, err := d.CreateVolume(ctx, createReq("pvc-dup", 1, nil))
		if err != nil {
			t.Fatal(err)
		}
		if got := resp.GetVolume().GetVolumeId(); got != first.ID {
			t.Errorf("call %d returned %s, want the earliest %s", i, got, first.ID)
		}
		vols, _ := cloud.FindVolumesByName(ctx, "pvc-dup")
		if len(vols) != 1 || vols[0].ID != first.ID {
			t.Errorf("call %d left %+v, want only %s", i, vols, first.ID)
		}
	}
}

func TestCreateVolumeIdempotent(t *testing.T) {
	ctx := context.Background()
	d, cloud := newTestController(t, fake.Options{})
	req := createReq("pvc-1", 1, map[string]string{"type": "fast", keyPVCName: "data", keyPVCNamespace: "ns"})
	first, err := d.CreateVolume(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		again, err := d.CreateVolume(ctx, req)
		if err != nil || again.GetVolume().GetVolumeId() != first.GetVolume().GetVolumeId() {
			t.Fatalf("retry %d: got %v, %v; want the same volume", i, again, err)
		}
	}
	if n := cloud.Calls("CreateVolume"); n != 1 {
		t.Errorf("Cinder create called %d times, want 1", n)
	}
	v, _ := cloud.GetVolume(ctx, first.GetVolume().GetVolumeId())
	if v.VolumeType != "fast" || v.Metadata[keyPVCName] != "data" || v.Metadata[keyPVCNamespace] != "ns" || v.Metadata[metaCluster] != "c1" {
		t.Errorf("volume = %+v; want type fast with PVC and cluster metadata", v)
	}
	if seg := first.GetVolume().GetAccessibleTopology()[0].GetSegments()[TopologyZoneKey]; seg != "nova" {
		t.Errorf("topology zone %q, want nova", seg)
	}
	_, err = d.CreateVolume(ctx, createReq("pvc-1", 2, nil))
	wantCode(t, err, codes.AlreadyExists)
}

// While one CreateVolume of a name is inside the cloud (held there by the fake's
// Block), every other call of that name is Aborted at once, and none reaches the
// cloud; released, the first makes the one volume.
func TestCreateVolumeConcurrentSameName(t *testing.T) {
	d, cloud := newTestController(t, fake.Options{})
	arrived, release := cloud.Block("CreateVolume")
	defer release()
	first := make(chan error, 1)
	go func() {
		_, err := d.CreateVolume(context.Background(), createReq("pvc-race", 1, nil))
		first <- err
	}()
	<-arrived
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := d.CreateVolume(context.Background(), createReq("pvc-race", 1, nil))
			wantCode(t, err, codes.Aborted)
		}()
	}
	others := make(chan struct{})
	go func() { wg.Wait(); close(others) }()
	select {
	case <-others:
	case <-time.After(10 * time.Second):
		release()
		t.Fatal("the other calls did not return while the first was held in the cloud: nothing refused them")
	}
	if n := cloud.Calls("CreateVolume"); n != 1 {
		t.Errorf("%d CreateVolume calls reached the cloud while the first was in it, want 1", n)
	}
	release()
	if err := <-first; err != nil {
		t.Fatalf("the first CreateVolume: %v", err)
	}
	if vols, _ := cloud.FindVolumesByName(context.Background(), "pvc-race"); len(vols) != 1 {
		t.Fatalf("%d Cinder volumes named pvc-race, want exactly 1", len(vols))
	}
}

func TestCreateVolumeErrorStateIsNotLeaked(t *testing.T) {
	ctx := context.Background()
	d, cloud := newTestController(t, fake.Options{})
	cloud.InjectError("CreateVolume", fmt.Errorf("volume went to error: %w", cinder.ErrBackend))
	_, err := d.CreateVolume(ctx, createReq("pvc-e", 1, nil))
	wantCode(t, err, codes.Internal)
	cloud.InjectError("CreateVolume", fmt.Errorf("503: %w", cinder.ErrUnavailable))
	_, err = d.CreateVolume(ctx, createReq("pvc-e", 1, nil))
	wantCode(t, err, codes.Unavailable)
	// A leftover in error from an earlier attempt is replaced, not reused.
	id := mustCreate(t, d, "pvc-e2")
	cloud.SetVolumeStatus(id, cinder.StatusError)
	newID := mustCreate(t, d, "pvc-e2")
	if newID == id {
		t.Fatal("the failed volume was reused")
	}
	if _, err := cloud.GetVolume(ctx, id); err == nil {
		t.Error("the failed volume was not deleted")
	}
}

func TestCreateVolumeFromSources(t *testing.T) {
	ctx := context.Background()
	d, cloud := newTestController(t, fake.Options{})
	src := mustCreate(t, d, "src")
	snap, err := d.CreateSnapshot(ctx, &csi.CreateSnapshotRequest{Name: "s1", SourceVolumeId: src})
	if err != nil {
		t.Fatal(err)
	}
	backup, err := d.CreateSnapshot(ctx, &csi.CreateSnapshotRequest{Name: "b1", SourceVolumeId: src, Parameters: map[string]string{"type": "backup"}})
	if err != nil {
		t.Fatal(err)
	}
	waitReady(t, d, snap.GetSnapshot().GetSnapshotId())
	waitReady(t, d, backup.GetSnapshot().GetSnapshotId())
	for _, tc := range []struct {
		name string
		src  *csi.VolumeContentSource
		want func(*cinder.Volume) bool
	}{
		{"snapshot", &csi.VolumeContentSource{Type: &csi.VolumeContentSource_Snapshot{Snapshot: &csi.VolumeContentSource_SnapshotSource{SnapshotId: snap.GetSnapshot().GetSnapshotId()}}},
			func(v *cinder.Volume) bool { return v.SnapshotID == snap.GetSnapshot().GetSnapshotId() }},
		{"backup", &csi.VolumeContentSource{Type: &csi.VolumeContentSource_Snapshot{Snapshot: &csi.VolumeContentSource_SnapshotSource{SnapshotId: backup.GetSnapshot().GetSnapshotId()}}},
			func(v *cinder.Volume) bool { return v.BackupID == backup.GetSnapshot().GetSnapshotId() }},
		{"clone", &csi.VolumeContentSource{Type: &csi.VolumeContentSource_Volume{Volume: &csi.VolumeContentSource_VolumeSource{VolumeId: src}}},
			func(v *cinder.Volume) bool { return v.SourceVolID == src }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := createReq("from-"+tc.name, 2, nil)
			req.VolumeContentSource = tc.src
			resp, err := d.CreateVolume(ctx, req)
			if err != nil {
				t.Fatal(err)
			}
			v, _ := cloud.GetVolume(ctx, resp.GetVolume().GetVolumeId())
			if !tc.want(v) || v.SizeGiB != 2 || resp.GetVolume().GetContentSource() == nil || resp.GetVolume().GetCapacityBytes() != 2*gib {
				t.Errorf("volume %+v does not record its %s source at 2 GiB", v, tc.name)
			}
		})
	}
}

// A volume made larger than its source is created at the source's size and then
// extended (backends such as Cinder's NFS leave the data at the source's size).
func TestCreateLargerThanSourceExtends(t *testing.T) {
	ctx := context.Background()
	d, cloud := newTestController(t, fake.Options{})
	src := mustCreate(t, d, "src")
	req := createReq("bigger", 3, nil)
	req.VolumeContentSource = &csi.VolumeContentSource{Type: &csi.VolumeContentSource_Volume{Volume: &csi.VolumeContentSource_VolumeSource{VolumeId: src}}}
	if _, err := d.CreateVolume(ctx, req); err != nil {
		t.Fatal(err)
	}
	if n := cloud.Calls("ExpandVolume"); n != 1 {
		t.Errorf("extended %d times, want once", n)
	}
	cloud.InjectError("ExpandVolume", fmt.Errorf("extend failed: %w", cinder.ErrBackend))
	req.Name = "bigger-2"
	_, err := d.CreateVolume(ctx, req)
	wantCode(t, err, codes.Internal)
	if vols, _ := cloud.FindVolumesByName(ctx, "bigger-2"); len(vols) != 0 {
		t.Errorf("a volume that could not be grown was left: %+v", vols)
	}
}

func waitReady(t *testing.T, d *Driver, id string) {
	t.Helper()
	for i := 0; i < 100; i++ {
		resp, err := d.GetSnapshot(context.Background(), &csi.GetSnapshotRequest{SnapshotId: id})
		if err != nil {
			t.Fatal(err)
		}
		if resp.GetSnapshot().GetReadyToUse() {
			return
		}
		timeSleep()
	}
	t.Fatalf("snapshot %s never became ready", id)
}

func TestDeleteVolume(t *testing.T) {
	ctx := context.Background()
	d, cloud := newTestController(t, fake.Options{})
	id := mustCreate(t, d, "del")
	if _, err := d.ControllerPublishVolume(ctx, &csi.ControllerPublishVolumeRequest{VolumeId: id, NodeId: testNode, VolumeCapability: mountCap()}); err != nil {
		t.Fatal(err)
	}
	_, err := d.DeleteVolume(ctx, &csi.DeleteVolumeRequest{VolumeId: id})
	wantCode(t, err, codes.FailedPrecondition)
	if _, err := d.ControllerUnpublishVolume(ctx, &csi.ControllerUnpublishVolumeRequest{VolumeId: id, NodeId: testNode}); err != nil {
		t.Fatal(err)
	}
	for _, vid := range []string{id, id, "not-a-uuid", "00000000-0000-4000-8000-000000000000"} {
		if _, err := d.DeleteVolume(ctx, &csi.DeleteVolumeRequest{VolumeId: vid}); err != nil {
			t.Fatalf("DeleteVolume(%s) = %v, want success", vid, err)
		}
	}
	_, err = d.DeleteVolume(ctx, &csi.DeleteVolumeRequest{})
	wantCode(t, err, codes.InvalidArgument)
	if v, _, _ := cloud.Counts(); v != 0 {
		t.Errorf("%d volumes left", v)
	}
}

// A create whose wait was cut short (the provisioner's deadline) leaves the volume to
// Cinder, as the real client does; the retry with the same name answers Unavailable
// while it is still creating, then returns that volume: one volume, none leaked.
func TestCreateVolumeRetryWhileStillCreating(t *testing.T) {
	d, cloud := newTestController(t, fake.Options{Latency: 300 * time.Millisecond})
	req := &csi.CreateVolumeRequest{Name: "slow", VolumeCapabilities: []*csi.VolumeCapability{mountCap()}}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := d.CreateVolume(ctx, req); err == nil {
		t.Fatal("the create returned before the fake's latency")
	}
	_, err := d.CreateVolume(context.Background(), req)
	wantCode(t, err, codes.Unavailable)
	if !strings.Contains(status.Convert(err).Message(), "still \"creating\"") {
		t.Errorf("retry said %q, want it to say the volume is still creating", status.Convert(err).Message())
	}
	var resp *csi.CreateVolumeResponse
	for i := 0; i < 50; i++ {
		if resp, err = d.CreateVolume(context.Background(), req); status.Code(err) != codes.Unavailable {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("the retry after Cinder finished: %v", err)
	}
	if n, _, _ := cloud.Counts(); n != 1 || cloud.Calls("CreateVolume") != 1 {
		t.Errorf("%d volumes from %d creates, want 1 from 1", n, cloud.Calls("CreateVolume"))
	}
	if resp.GetVolume().GetVolumeId() == "" {
		t.Error("no volume ID")
	}
}
