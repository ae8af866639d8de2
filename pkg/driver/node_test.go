package driver

import (
	"context"
	"testing"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"

	"github.com/cinder-csi/cinder-csi-driver/pkg/mount"
)

const volID = "6b1d5c36-2d1f-4a4b-9d36-1b0c2f1e9a10"

func cinderPC() map[string]string {
	return map[string]string{pcAttacher: AttacherCinder, pcDriverVolumeType: "file",
		pcConnectionData: `{"path":"/x/volume-` + volID + `"}`}
}

func TestNodeValidation(t *testing.T) {
	ctx := context.Background()
	d, m, _ := newTestNode(t)
	stage := func(r *csi.NodeStageVolumeRequest) error { _, err := d.NodeStageVolume(ctx, r); return err }
	publish := func(r *csi.NodePublishVolumeRequest) error { _, err := d.NodePublishVolume(ctx, r); return err }
	tests := []struct {
		name string
		call func() error
		code codes.Code
	}{
		{"stage: no volume", func() error {
			return stage(&csi.NodeStageVolumeRequest{StagingTargetPath: "/s", VolumeCapability: mountCap()})
		}, codes.InvalidArgument},
		{"stage: relative path", func() error {
			return stage(&csi.NodeStageVolumeRequest{VolumeId: volID, StagingTargetPath: "s", VolumeCapability: mountCap(), PublishContext: cinderPC()})
		}, codes.InvalidArgument},
		{"stage: unclean path", func() error {
			return stage(&csi.NodeStageVolumeRequest{VolumeId: volID, StagingTargetPath: "/a/../etc", VolumeCapability: mountCap(), PublishContext: cinderPC()})
		}, codes.InvalidArgument},
		{"stage: no capability", func() error {
			return stage(&csi.NodeStageVolumeRequest{VolumeId: volID, StagingTargetPath: "/s", PublishContext: cinderPC()})
		}, codes.InvalidArgument},
		{"stage: bad mkfs options", func() error {
			return stage(&csi.NodeStageVolumeRequest{VolumeId: volID, StagingTargetPath: "/s", VolumeCapability: mountCap(), PublishContext: cinderPC(),
				VolumeContext: map[string]string{ctxMkfsOptions: "-E $(reboot)"}})
		}, codes.InvalidArgument},
		{"stage: path-like volume id", func() error {
			return stage(&csi.NodeStageVolumeRequest{VolumeId: "../../dev/sda", StagingTargetPath: "/s", VolumeCapability: mountCap(), PublishContext: cinderPC()})
		}, codes.NotFound},
		{"stage: incomplete publish context", func() error {
			return stage(&csi.NodeStageVolumeRequest{VolumeId: volID, StagingTargetPath: "/s", VolumeCapability: mountCap(),
				PublishContext: map[string]string{pcAttacher: AttacherCinder}})
		}, codes.InvalidArgument},
		{"publish: not staged", func() error {
			return publish(&csi.NodePublishVolumeRequest{VolumeId: volID, StagingTargetPath: "/s", TargetPath: "/t", VolumeCapability: mountCap(), PublishContext: cinderPC()})
		}, codes.FailedPrecondition},
		{"publish: target inside staging", func() error {
			return publish(&csi.NodePublishVolumeRequest{VolumeId: volID, StagingTargetPath: "/s", TargetPath: "/s/t", VolumeCapability: mountCap()})
		}, codes.InvalidArgument},
		{"publish: ephemeral disabled", func() error {
			return publish(&csi.NodePublishVolumeRequest{VolumeId: volID, StagingTargetPath: "/s", TargetPath: "/t", VolumeCapability: mountCap(),
				VolumeContext: map[string]string{"csi.storage.k8s.io/ephemeral": "true"}})
		}, codes.InvalidArgument},
		{"stats: missing path", func() error {
			_, err := d.NodeGetVolumeStats(ctx, &csi.NodeGetVolumeStatsRequest{VolumeId: volID, VolumePath: "/nowhere"})
			return err
		}, codes.NotFound},
		// Required fields before existence: csi-sanity sends IDs that name nothing.
		{"unstage: no path, unknown volume", func() error {
			_, err := d.NodeUnstageVolume(ctx, &csi.NodeUnstageVolumeRequest{VolumeId: "some-id"})
			return err
		}, codes.InvalidArgument},
		{"unstage: unknown volume", func() error {
			_, err := d.NodeUnstageVolume(ctx, &csi.NodeUnstageVolumeRequest{VolumeId: "some-id", StagingTargetPath: "/s"})
			return err
		}, codes.NotFound},
		{"unpublish: no path, unknown volume", func() error {
			_, err := d.NodeUnpublishVolume(ctx, &csi.NodeUnpublishVolumeRequest{VolumeId: "some-id"})
			return err
		}, codes.InvalidArgument},
		{"unpublish: relative path, unknown volume", func() error {
			_, err := d.NodeUnpublishVolume(ctx, &csi.NodeUnpublishVolumeRequest{VolumeId: "some-id", TargetPath: "t"})
			return err
		}, codes.InvalidArgument},
		{"unpublish: no volume", func() error {
			_, err := d.NodeUnpublishVolume(ctx, &csi.NodeUnpublishVolumeRequest{TargetPath: "/t"})
			return err
		}, codes.InvalidArgument},
		{"expand: no path", func() error {
			_, err := d.NodeExpandVolume(ctx, &csi.NodeExpandVolumeRequest{VolumeId: volID})
			return err
		}, codes.InvalidArgument},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantCode(t, tt.call(), tt.code)
			if len(m.mounts) != 0 {
				t.Errorf("a refused call left mounts: %v", m.mounts)
			}
		})
	}
}

func TestNodeLifecycle(t *testing.T) {
	ctx := context.Background()
	d, m, l := newTestNode(t)
	for i := 0; i < 2; i++ {
		if _, err := d.NodeStageVolume(ctx, &csi.NodeStageVolumeRequest{VolumeId: volID, StagingTargetPath: "/s", VolumeCapability: mountCap(),
			PublishContext: cinderPC(), VolumeContext: map[string]string{ctxMkfsOptions: "-E nodiscard"}}); err != nil {
			t.Fatal(err)
		}
	}
	if m.mounts["/s"] != "/dev/fake-"+volID[:8] {
		t.Fatalf("staging mount = %v", m.mounts)
	}
	if _, err := d.NodePublishVolume(ctx, &csi.NodePublishVolumeRequest{VolumeId: volID, StagingTargetPath: "/s", TargetPath: "/t",
		VolumeCapability: mountCap(), PublishContext: cinderPC(), Readonly: true}); err != nil {
		t.Fatal(err)
	}
	stats, err := d.NodeGetVolumeStats(ctx, &csi.NodeGetVolumeStatsRequest{VolumeId: volID, VolumePath: "/t"})
	if err != nil || len(stats.GetUsage()) != 2 || stats.GetUsage()[0].GetTotal() != 100 {
		t.Fatalf("stats = %v, %v", stats, err)
	}
	h, err := d.NodeGetVolumeHealth(ctx, &csi.NodeGetVolumeHealthRequest{VolumeId: volID, VolumePublishPath: "/t"})
	if err != nil || len(h.GetVolumeHealth().GetHealthStatuses()) != 0 {
		t.Fatalf("health = %v, %v; want healthy", h, err)
	}
	h, _ = d.NodeGetVolumeHealth(ctx, &csi.NodeGetVolumeHealthRequest{VolumeId: volID, VolumePublishPath: "/gone"})
	if len(h.GetVolumeHealth().GetHealthStatuses()) != 1 {
		t.Fatalf("health of a missing path = %v; want INACCESSIBLE", h)
	}
	if _, err := d.NodeUnpublishVolume(ctx, &csi.NodeUnpublishVolumeRequest{VolumeId: volID, TargetPath: "/t"}); err != nil {
		t.Fatal(err)
	}
	if _, err := d.NodeUnstageVolume(ctx, &csi.NodeUnstageVolumeRequest{VolumeId: volID, StagingTargetPath: "/s"}); err != nil {
		t.Fatal(err)
	}
	if len(m.mounts) != 0 || len(l.connected) != 0 {
		t.Fatalf("left behind: mounts %v, devices %v", m.mounts, l.connected)
	}
	info, _ := d.NodeGetInfo(ctx, &csi.NodeGetInfoRequest{})
	// 26, not the constant: a KVM guest's virtio-blk disks take 26 of its 32 PCI slots
	// (README); a change of the default must change this line knowingly.
	if info.GetNodeId() != testNode || info.GetMaxVolumesPerNode() != 26 || info.GetAccessibleTopology().GetSegments()[TopologyZoneKey] != "az1" {
		t.Errorf("NodeGetInfo = %v", info)
	}
}

func TestBusyVolumeIsAborted(t *testing.T) {
	d, _, _ := newTestNode(t)
	unlock, err := d.locks.tryLock("node/"+volID, "x")
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	_, err = d.NodeUnpublishVolume(context.Background(), &csi.NodeUnpublishVolumeRequest{VolumeId: volID, TargetPath: "/t"})
	wantCode(t, err, codes.Aborted)
}

// ReadWriteOncePod on the node: a SINGLE_NODE_SINGLE_WRITER volume is published at one
// target only, for a filesystem and for a raw block device alike (csi-sanity found the
// block case unguarded).
func TestNodeSingleWriter(t *testing.T) {
	ctx := context.Background()
	for _, tt := range []struct {
		name string
		cap  *csi.VolumeCapability
	}{
		{"filesystem", &csi.VolumeCapability{
			AccessType: &csi.VolumeCapability_Mount{Mount: &csi.VolumeCapability_MountVolume{FsType: "ext4"}},
			AccessMode: &csi.VolumeCapability_AccessMode{Mode: csi.VolumeCapability_AccessMode_SINGLE_NODE_SINGLE_WRITER}}},
		{"block", blockCap(csi.VolumeCapability_AccessMode_SINGLE_NODE_SINGLE_WRITER)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			d, _, _ := newTestNode(t)
			if _, err := d.NodeStageVolume(ctx, &csi.NodeStageVolumeRequest{VolumeId: volID, StagingTargetPath: "/s", VolumeCapability: tt.cap, PublishContext: cinderPC()}); err != nil {
				t.Fatal(err)
			}
			publish := func(target string) error {
				_, err := d.NodePublishVolume(ctx, &csi.NodePublishVolumeRequest{VolumeId: volID, StagingTargetPath: "/s", TargetPath: target,
					VolumeCapability: tt.cap, PublishContext: cinderPC()})
				return err
			}
			if err := publish("/t1"); err != nil {
				t.Fatal(err)
			}
			if err := publish("/t1"); err != nil {
				t.Errorf("publishing again at the same target: %v", err)
			}
			wantCode(t, publish("/t2"), codes.FailedPrecondition)
			if _, err := d.NodeUnpublishVolume(ctx, &csi.NodeUnpublishVolumeRequest{VolumeId: volID, TargetPath: "/t1"}); err != nil {
				t.Fatal(err)
			}
			if err := publish("/t2"); err != nil {
				t.Errorf("publishing at a new target once the first is gone: %v", err)
			}
		})
	}
}

// kubelet's SELinuxMount (the CSIDriver's seLinuxMount) adds the pod's label as a
// context= mount option to NodeStageVolume and NodePublishVolume: it reaches the
// filesystem's mount and the bind mount unchanged.
func TestSELinuxContextReachesMounts(t *testing.T) {
	ctx := context.Background()
	d, m, _ := newTestNode(t)
	const label = `context="system_u:object_r:container_file_t:s0:c12,c34"`
	capability := mountCap()
	capability.GetMount().MountFlags = []string{label}
	if _, err := d.NodeStageVolume(ctx, &csi.NodeStageVolumeRequest{VolumeId: volID, StagingTargetPath: "/s",
		VolumeCapability: capability, PublishContext: cinderPC()}); err != nil {
		t.Fatal(err)
	}
	if _, err := d.NodePublishVolume(ctx, &csi.NodePublishVolumeRequest{VolumeId: volID, StagingTargetPath: "/s",
		TargetPath: "/t", VolumeCapability: capability, PublishContext: cinderPC()}); err != nil {
		t.Fatal(err)
	}
	for _, target := range []string{"/s", "/t"} {
		if got := m.opts[target]; len(got) != 1 || got[0] != label {
			t.Errorf("mount options at %s = %q, want [%s]", target, got, label)
		}
	}
}

type fakeStorage []mount.StorageProblem

func (f fakeStorage) Problems() []mount.StorageProblem { return f }

// NodeGetStorageHealth is advertised only with a check behind it, and says what the
// check found: UNREACHABLE for the whole node, DEGRADED for one filesystem's volumes.
func TestNodeGetStorageHealth(t *testing.T) {
	ctx := context.Background()
	advertised := func(d *Driver) bool {
		caps, err := d.NodeGetCapabilities(ctx, &csi.NodeGetCapabilitiesRequest{})
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range caps.GetCapabilities() {
			if c.GetRpc().GetType() == csi.NodeServiceCapability_RPC_GET_STORAGE_HEALTH {
				return true
			}
		}
		return false
	}
	d, _, _ := newTestNode(t)
	if advertised(d) {
		t.Error("GET_STORAGE_HEALTH advertised without a check")
	}
	_, err := d.NodeGetStorageHealth(ctx, &csi.NodeGetStorageHealthRequest{})
	wantCode(t, err, codes.Unimplemented)

	for _, tc := range []struct {
		name     string
		problems fakeStorage
		want     []*csi.NodeGetStorageHealthResponse_StorageBackendHealth
	}{
		{"healthy", nil, nil},
		{"state directory and xfs", fakeStorage{
			{Unreachable: true, Reason: "StateDirNotWritable", Message: "m1"},
			{Reason: "FilesystemToolMissing", Message: "m2", FSType: "xfs"},
		}, []*csi.NodeGetStorageHealthResponse_StorageBackendHealth{
			{Status: csi.StorageHealthErrorType_STORAGE_UNREACHABLE, Reason: "StateDirNotWritable", Message: "m1"},
			{Status: csi.StorageHealthErrorType_STORAGE_DEGRADED, Reason: "FilesystemToolMissing", Message: "m2",
				VolumeCapability: &csi.VolumeCapability{AccessType: &csi.VolumeCapability_Mount{Mount: &csi.VolumeCapability_MountVolume{FsType: "xfs"}}}},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts := DefaultOptions()
			opts.Mode, opts.Attacher = ModeNode, AttacherCinder
			d, err := New(opts, Deps{Mounter: newFakeMounter(), Locators: testLocators(), Node: NodeIdentity{ID: testNode}, StorageHealth: tc.problems})
			if err != nil {
				t.Fatal(err)
			}
			if !advertised(d) {
				t.Error("GET_STORAGE_HEALTH not advertised with a check")
			}
			resp, err := d.NodeGetStorageHealth(ctx, &csi.NodeGetStorageHealthRequest{})
			if err != nil {
				t.Fatal(err)
			}
			if got := resp.GetBackendHealth(); len(got) != len(tc.want) {
				t.Fatalf("backend health %v, want %v", got, tc.want)
			}
			for i, w := range tc.want {
				if !proto.Equal(resp.GetBackendHealth()[i], w) {
					t.Errorf("entry %d: %v, want %v", i, resp.GetBackendHealth()[i], w)
				}
			}
		})
	}
}
