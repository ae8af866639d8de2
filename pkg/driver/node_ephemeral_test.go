package driver

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/cinder-csi/cinder-csi-driver/pkg/cinder"
	"github.com/cinder-csi/cinder-csi-driver/pkg/cinder/fake"
	"github.com/cinder-csi/cinder-csi-driver/pkg/mount"
)

// kubelet's handles look like these: "csi-" and a hex digest.
const (
	ephA = "csi-4f1c2b9e0d7a6c5b4a39281706f5e4d3c2b1a09f8e7d6c5b4a3928170f6e5d4c"
	ephB = "csi-0a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f"
	ephC = "csi-99887766554433221100ffeeddccbbaa99887766554433221100ffeeddccbb"
)

// ephemeralEnv is a node plugin with --ephemeral on the fake cloud and the fake host.
type ephemeralEnv struct {
	d     *Driver
	cloud *fake.Cloud
	m     *fakeMounter
	l     *fakeLocator
}

// failingMounter fails one kind of mount; everything else goes to the fake.
type failingMounter struct {
	*fakeMounter
	formatErr, bindErr error
}

func (f *failingMounter) FormatAndMount(ctx context.Context, device, target, fsType string, mo, fo []string) error {
	if f.formatErr != nil {
		return f.formatErr
	}
	return f.fakeMounter.FormatAndMount(ctx, device, target, fsType, mo, fo)
}

func (f *failingMounter) BindMount(source, target string, ro bool, mo []string) error {
	if f.bindErr != nil {
		return f.bindErr
	}
	return f.fakeMounter.BindMount(source, target, ro, mo)
}

// failingLocator fails Connect with err; Disconnect works.
type failingLocator struct {
	*fakeLocator
	err error
}

func (f *failingLocator) Connect(ctx context.Context, id string, att mount.Attachment) (string, error) {
	if f.err != nil {
		return "", f.err
	}
	return f.fakeLocator.Connect(ctx, id, att)
}

type envConfig struct {
	opts      func(*Options)
	formatErr error
	bindErr   error
	connErr   error
}

func newEphemeralEnv(t *testing.T, c envConfig) *ephemeralEnv {
	t.Helper()
	e := &ephemeralEnv{cloud: fake.New(fake.Options{Latency: time.Millisecond, Zones: []string{"az1"}}),
		m: newFakeMounter(), l: &fakeLocator{connected: map[string]string{}}}
	opts := DefaultOptions()
	opts.Mode, opts.Attacher, opts.Cluster, opts.Ephemeral = ModeNode, AttacherCinder, "c1", true
	if c.opts != nil {
		c.opts(&opts)
	}
	d, err := New(opts, Deps{
		Mounter:   &failingMounter{fakeMounter: e.m, formatErr: c.formatErr, bindErr: c.bindErr},
		Locators:  map[string]mount.DeviceLocator{AttacherCinder: &failingLocator{fakeLocator: e.l, err: c.connErr}},
		Node:      NodeIdentity{ID: testNode, Zone: "az1"},
		NodeCloud: e.cloud, NodeAttacher: e.cloud.CinderAttacher(),
	})
	if err != nil {
		t.Fatal(err)
	}
	e.d = d
	return e
}

func targetOf(handle string) string {
	return "/var/lib/kubelet/pods/uid-" + handle[4:12] + "/volumes/kubernetes.io~csi/scratch/mount"
}

func ephReq(handle string, attrs map[string]string) *csi.NodePublishVolumeRequest {
	vc := map[string]string{ctxEphemeral: "true", ctxPodNamespace: "shop", ctxPodName: "web-0", ctxPodUID: "uid-" + handle[4:12],
		"csi.storage.k8s.io/serviceAccount.name": "default"}
	for k, v := range attrs {
		vc[k] = v
	}
	return &csi.NodePublishVolumeRequest{VolumeId: handle, TargetPath: targetOf(handle), VolumeCapability: mountCap(), VolumeContext: vc}
}

func (e *ephemeralEnv) publish(handle string, attrs map[string]string) error {
	_, err := e.d.NodePublishVolume(context.Background(), ephReq(handle, attrs))
	return err
}

func (e *ephemeralEnv) unpublish(handle string) error {
	_, err := e.d.NodeUnpublishVolume(context.Background(), &csi.NodeUnpublishVolumeRequest{VolumeId: handle, TargetPath: targetOf(handle)})
	return err
}

func (e *ephemeralEnv) volumes(t *testing.T) []cinder.Volume {
	t.Helper()
	vols, _, err := e.cloud.ListVolumes(context.Background(), cinder.ListOpts{})
	if err != nil {
		t.Fatal(err)
	}
	return vols
}

// assertNothingLeft checks the end state: no volume, attachment, device or mount.
func (e *ephemeralEnv) assertNothingLeft(t *testing.T) {
	t.Helper()
	if vols := e.volumes(t); len(vols) != 0 {
		t.Errorf("leaked volumes: %+v", vols)
	}
	if att, _ := e.cloud.CinderAttacher().AttachedVolumes(context.Background(), testNode, true); len(att) != 0 {
		t.Errorf("leaked attachments: %v", att)
	}
	if len(e.m.mounts) != 0 || len(e.l.connected) != 0 {
		t.Errorf("left on the node: mounts %v, devices %v", e.m.mounts, e.l.connected)
	}
}

func TestEphemeralLifecycle(t *testing.T) {
	e := newEphemeralEnv(t, envConfig{})
	if err := e.publish(ephA, map[string]string{attrSize: "1500Mi", attrType: "fast"}); err != nil {
		t.Fatal(err)
	}
	vols := e.volumes(t)
	if len(vols) != 1 {
		t.Fatalf("got %d volumes, want 1", len(vols))
	}
	v := vols[0]
	want := map[string]string{metaEphemeral: "true", metaNode: testNode, metaCluster: "c1", metaTargetPath: targetOf(ephA),
		metaPodNamespace: "shop", metaPodName: "web-0", metaPodUID: "uid-" + ephA[4:12]}
	for k, val := range want {
		if v.Metadata[k] != val {
			t.Errorf("metadata %s = %q, want %q", k, v.Metadata[k], val)
		}
	}
	if v.Name != "csi-ephemeral-"+ephA || v.SizeGiB != 2 || v.VolumeType != "fast" || v.AvailabilityZone != "az1" || !v.AttachedTo(testNode) {
		t.Errorf("volume = %+v; want name csi-ephemeral-<handle>, 2 GiB (1500Mi rounded up), type fast, zone az1, attached to %s", v, testNode)
	}
	staging := filepath.Join("/var/lib/cinder-csi/ephemeral", ephA)
	if e.m.mounts[staging] != "/dev/fake-"+v.ID[:8] || e.m.mounts[targetOf(ephA)] != staging {
		t.Errorf("mounts = %v; want the device at %s and %s bound at the target", e.m.mounts, staging, staging)
	}

	// kubelet retries: with the target mounted, and after losing the mount.
	for i, lose := range []bool{false, true} {
		if lose {
			delete(e.m.mounts, targetOf(ephA))
		}
		if err := e.publish(ephA, map[string]string{attrSize: "1500Mi", attrType: "fast"}); err != nil {
			t.Fatalf("retry %d: %v", i, err)
		}
		if n := len(e.volumes(t)); n != 1 || e.cloud.Calls("CreateVolume") != 1 {
			t.Fatalf("retry %d: %d volumes after %d creates; want one", i, n, e.cloud.Calls("CreateVolume"))
		}
	}

	// A retry while the pod uses the volume touches nothing, so no failure can undo it.
	e.cloud.InjectError("Attach", fmt.Errorf("nova is down: %w", cinder.ErrUnavailable))
	if err := e.publish(ephA, map[string]string{attrSize: "1500Mi", attrType: "fast"}); err != nil {
		t.Fatalf("retry of a published volume: %v", err)
	}
	if len(e.volumes(t)) != 1 || e.m.mounts[targetOf(ephA)] != staging {
		t.Fatalf("a retry of a published volume changed it: volumes %d, mounts %v", len(e.volumes(t)), e.m.mounts)
	}

	// Stats are asked for by kubelet's handle.
	if _, err := e.d.NodeGetVolumeStats(context.Background(), &csi.NodeGetVolumeStatsRequest{VolumeId: ephA, VolumePath: targetOf(ephA)}); err != nil {
		t.Errorf("NodeGetVolumeStats by handle: %v", err)
	}

	for i := 0; i < 2; i++ {
		if err := e.unpublish(ephA); err != nil {
			t.Fatalf("unpublish %d: %v", i, err)
		}
		e.assertNothingLeft(t)
	}
}

func TestEphemeralRefused(t *testing.T) {
	tests := []struct {
		name   string
		opts   func(*Options)
		change func(*csi.NodePublishVolumeRequest)
		code   codes.Code
		want   string
	}{
		{"size over the cap", nil, func(r *csi.NodePublishVolumeRequest) { r.VolumeContext[attrSize] = "11Gi" }, codes.OutOfRange, "--ephemeral-max-size"},
		{"size over the cap by a fraction", nil, func(r *csi.NodePublishVolumeRequest) { r.VolumeContext[attrSize] = "10241Mi" }, codes.OutOfRange, "10Gi"},
		{"lower cap", func(o *Options) { o.EphemeralMaxSizeGiB = 1 }, func(r *csi.NodePublishVolumeRequest) { r.VolumeContext[attrSize] = "2G" }, codes.OutOfRange, "1Gi"},
		{"size not a quantity", nil, func(r *csi.NodePublishVolumeRequest) { r.VolumeContext[attrSize] = "lots" }, codes.InvalidArgument, "quantity"},
		{"size zero", nil, func(r *csi.NodePublishVolumeRequest) { r.VolumeContext[attrSize] = "0" }, codes.InvalidArgument, "positive"},
		{"unknown attribute", nil, func(r *csi.NodePublishVolumeRequest) { r.VolumeContext["iops"] = "3000" }, codes.InvalidArgument, `"iops"`},
		{"raw block", nil, func(r *csi.NodePublishVolumeRequest) {
			r.VolumeCapability = blockCap(csi.VolumeCapability_AccessMode_SINGLE_NODE_WRITER)
		}, codes.InvalidArgument, "raw block"},
		{"fsType ext3", nil, func(r *csi.NodePublishVolumeRequest) {
			r.VolumeCapability.GetMount().FsType = ""
			r.VolumeContext[attrFSType] = "ext3"
		}, codes.InvalidArgument, "ext4 (default), xfs or btrfs"},
		{"fsType conflict", nil, func(r *csi.NodePublishVolumeRequest) { r.VolumeContext[attrFSType] = "xfs" }, codes.InvalidArgument, "set one of them"},
		{"path-like handle", nil, func(r *csi.NodePublishVolumeRequest) { r.VolumeId = "../../etc" }, codes.InvalidArgument, "handle"},
		{"handle too long", nil, func(r *csi.NodePublishVolumeRequest) { r.VolumeId = "csi-" + strings.Repeat("a", 125) }, codes.InvalidArgument, "128"},
		{"Cinder UUID as handle", nil, func(r *csi.NodePublishVolumeRequest) { r.VolumeId = volID }, codes.InvalidArgument, "PersistentVolume"},
		{"relative target", nil, func(r *csi.NodePublishVolumeRequest) { r.TargetPath = "pods/x" }, codes.InvalidArgument, "absolute"},
		{"unknown volume type", nil, func(r *csi.NodePublishVolumeRequest) { r.VolumeContext[attrType] = "gold" }, codes.InvalidArgument, "gold"},
		{"over quota", nil, func(r *csi.NodePublishVolumeRequest) {}, codes.ResourceExhausted, "quota"},
		{"ephemeral off", func(o *Options) { o.Ephemeral = false }, func(r *csi.NodePublishVolumeRequest) {}, codes.InvalidArgument, "--ephemeral"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEphemeralEnv(t, envConfig{opts: tt.opts})
			if tt.name == "over quota" {
				e.cloud.InjectError("CreateVolume", fmt.Errorf("gigabytes quota exceeded: %w", cinder.ErrQuotaExceeded))
			}
			if tt.name == "ephemeral off" {
				// Without --ephemeral the node has no cloud at all.
				e.d.deps.NodeCloud, e.d.deps.NodeAttacher = nil, nil
			}
			r := ephReq(ephA, nil)
			tt.change(r)
			_, err := e.d.NodePublishVolume(context.Background(), r)
			wantCode(t, err, tt.code)
			if !strings.Contains(status.Convert(err).Message(), tt.want) {
				t.Errorf("message %q does not mention %q", status.Convert(err).Message(), tt.want)
			}
			e.assertNothingLeft(t)
		})
	}
}

func TestEphemeralCountCap(t *testing.T) {
	ctx := context.Background()
	e := newEphemeralEnv(t, envConfig{opts: func(o *Options) { o.EphemeralMaxPerNode = 2 }})
	// Another node's and another cluster's volumes do not count.
	for _, md := range []map[string]string{
		{metaEphemeral: "true", metaNode: "node-2", metaCluster: "c1", metaTargetPath: "/t"},
		{metaEphemeral: "true", metaNode: testNode, metaCluster: "c2", metaTargetPath: "/t"},
	} {
		if _, err := e.cloud.CreateVolume(ctx, cinder.CreateVolumeOpts{Name: ephemeralName(ephC), SizeGiB: 1, Metadata: md}); err != nil {
			t.Fatal(err)
		}
	}
	for _, h := range []string{ephA, ephB} {
		if err := e.publish(h, nil); err != nil {
			t.Fatalf("publish %s: %v", h, err)
		}
	}
	err := e.publish("csi-0123456789abcdef", nil)
	wantCode(t, err, codes.ResourceExhausted)
	if n := len(e.volumes(t)); n != 4 {
		t.Errorf("%d volumes after a refused publish, want 4", n)
	}
	// A retry of a volume that exists is not a new volume.
	delete(e.m.mounts, targetOf(ephA))
	if err := e.publish(ephA, nil); err != nil {
		t.Errorf("republishing an existing volume at the cap: %v", err)
	}
}

func TestEphemeralUndoesFailedPublish(t *testing.T) {
	tests := []struct {
		name string
		cfg  envConfig
		fail func(*fake.Cloud)
		code codes.Code
	}{
		{"attach", envConfig{}, func(c *fake.Cloud) { c.InjectError("Attach", fmt.Errorf("nova is down: %w", cinder.ErrUnavailable)) }, codes.Unavailable},
		{"attached elsewhere", envConfig{}, func(c *fake.Cloud) { c.InjectError("Attach", fmt.Errorf("in use: %w", cinder.ErrAttachedElsewhere)) }, codes.FailedPrecondition},
		{"device", envConfig{connErr: fmt.Errorf("no disk: %w", mount.ErrDeviceNotFound)}, nil, codes.NotFound},
		{"format", envConfig{formatErr: fmt.Errorf("bad superblock: %w", mount.ErrFilesystemCorrupt)}, nil, codes.FailedPrecondition},
		{"bind", envConfig{bindErr: errors.New("mount: permission denied")}, nil, codes.Internal},
		{"create", envConfig{}, func(c *fake.Cloud) {
			c.InjectError("CreateVolume", fmt.Errorf("volume went to error: %w", cinder.ErrBackend))
		}, codes.Internal},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEphemeralEnv(t, tt.cfg)
			if tt.fail != nil {
				tt.fail(e.cloud)
			}
			wantCode(t, e.publish(ephA, nil), tt.code)
			e.assertNothingLeft(t)
		})
	}

	// An undo that fails (the volume cannot be deleted) leaves the volume for the next
	// attempt, which reuses it.
	e := newEphemeralEnv(t, envConfig{})
	e.cloud.InjectError("Attach", fmt.Errorf("timeout: %w", cinder.ErrUnavailable))
	e.cloud.InjectError("DeleteVolume", fmt.Errorf("cinder is down: %w", cinder.ErrUnavailable))
	wantCode(t, e.publish(ephA, nil), codes.Unavailable)
	if err := e.publish(ephA, nil); err != nil {
		t.Fatal(err)
	}
	if n, c := len(e.volumes(t)), e.cloud.Calls("CreateVolume"); n != 1 || c != 1 {
		t.Errorf("%d volumes after %d creates; want the first one reused", n, c)
	}
}

func TestEphemeralUnpublishRetries(t *testing.T) {
	for _, method := range []string{"FindVolumesByName", "Detach", "DeleteVolume"} {
		t.Run(method, func(t *testing.T) {
			e := newEphemeralEnv(t, envConfig{})
			if err := e.publish(ephA, nil); err != nil {
				t.Fatal(err)
			}
			e.cloud.InjectError(method, fmt.Errorf("cinder is down: %w", cinder.ErrUnavailable))
			wantCode(t, e.unpublish(ephA), codes.Unavailable)
			if _, ok := e.m.mounts[targetOf(ephA)]; ok {
				t.Error("the pod's target stayed mounted while the cloud was down")
			}
			if err := e.unpublish(ephA); err != nil {
				t.Fatal(err)
			}
			e.assertNothingLeft(t)
		})
	}
}

func TestEphemeralUnpublishLeavesOthersAlone(t *testing.T) {
	ctx := context.Background()
	e := newEphemeralEnv(t, envConfig{})
	// A volume that carries the name but not this node's tags is not ours to delete.
	if _, err := e.cloud.CreateVolume(ctx, cinder.CreateVolumeOpts{Name: ephemeralName(ephA), SizeGiB: 1}); err != nil {
		t.Fatal(err)
	}
	if err := e.unpublish(ephA); err != nil {
		t.Fatal(err)
	}
	if n := len(e.volumes(t)); n != 1 {
		t.Errorf("%d volumes, want the untagged one kept", n)
	}
	wantCode(t, e.publish(ephA, nil), codes.FailedPrecondition)
}

func TestEphemeralBusyIsAborted(t *testing.T) {
	e := newEphemeralEnv(t, envConfig{})
	unlock, err := e.d.lockEphemeral(ephA)
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	wantCode(t, e.publish(ephA, nil), codes.Aborted)
	wantCode(t, e.unpublish(ephA), codes.Aborted)
}

func TestCollectEphemeralLeaks(t *testing.T) {
	ctx := context.Background()
	e := newEphemeralEnv(t, envConfig{})
	for _, h := range []string{ephA, ephB} {
		if err := e.publish(h, nil); err != nil {
			t.Fatal(err)
		}
	}
	// A's pod is gone but kubelet never unpublished it; its device is still staged.
	delete(e.m.mounts, targetOf(ephA))
	tags := func(node, cluster string) map[string]string {
		return map[string]string{metaEphemeral: "true", metaNode: node, metaCluster: cluster, metaTargetPath: targetOf(ephC)}
	}
	create := func(name string, md map[string]string) string {
		v, err := e.cloud.CreateVolume(ctx, cinder.CreateVolumeOpts{Name: name, SizeGiB: 1, Metadata: md})
		if err != nil {
			t.Fatal(err)
		}
		return v.ID
	}
	stuck := create(ephemeralName(ephC), tags(testNode, "c1")) // created, never attached
	kept := []string{
		create(ephemeralName(ephC), tags("node-2", "c1")),
		create(ephemeralName(ephC), tags(testNode, "c2")),
		create("pvc-1", map[string]string{metaCluster: "c1"}),
	}
	var b string
	for _, v := range e.volumes(t) {
		if v.Name == ephemeralName(ephB) {
			b = v.ID
		}
	}

	if err := e.d.CollectEphemeralLeaks(ctx); err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, v := range e.volumes(t) {
		got[v.ID] = true
		if v.Name == ephemeralName(ephA) || v.ID == stuck {
			t.Errorf("leaked volume %s (%s) was kept", v.ID, v.Name)
		}
	}
	for _, id := range append(kept, b) {
		if !got[id] {
			t.Errorf("volume %s was collected, but it is in use or not this node's", id)
		}
	}
	if len(e.m.mounts) != 2 || e.m.mounts[targetOf(ephB)] == "" {
		t.Errorf("mounts = %v; want only B's staging and target", e.m.mounts)
	}
	if att, _ := e.cloud.CinderAttacher().AttachedVolumes(ctx, testNode, true); len(att) != 1 || att[0] != b {
		t.Errorf("attached = %v, want only B (%s)", att, b)
	}
	if len(e.l.connected) != 1 {
		t.Errorf("devices = %v, want only B's", e.l.connected)
	}
}

// TestRunCollectsEphemeralLeaks: a node plugin with --ephemeral collects before it serves.
func TestRunCollectsEphemeralLeaks(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "csi.sock")
	e := newEphemeralEnv(t, envConfig{opts: func(o *Options) { o.Endpoint = "unix://" + sock }})
	if _, err := e.cloud.CreateVolume(context.Background(), cinder.CreateVolumeOpts{Name: ephemeralName(ephC), SizeGiB: 1,
		Metadata: map[string]string{metaEphemeral: "true", metaNode: testNode, metaCluster: "c1", metaTargetPath: targetOf(ephC)}}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.d.Run(ctx) }()
	for i := 0; i < 500 && !e.d.ready.Load(); i++ {
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if n := len(e.volumes(t)); n != 0 {
		t.Errorf("%d volumes after start-up, want the leaked one collected", n)
	}
}

func TestEphemeralOptions(t *testing.T) {
	tests := []struct {
		name   string
		change func(*Options)
		want   string
	}{
		{"node", func(o *Options) { o.Mode = ModeNode }, ""},
		{"all", func(o *Options) {}, ""},
		{"controller", func(o *Options) { o.Mode = ModeController }, "--mode controller"},
		{"max size", func(o *Options) { o.EphemeralMaxSizeGiB = 0 }, "--ephemeral-max-size"},
		{"max per node", func(o *Options) { o.EphemeralMaxPerNode = 0 }, "--ephemeral-max-per-node"},
		{"state dir", func(o *Options) { o.StateDir = "var/lib/x" }, "--state-dir"},
		{"off ignores the rest", func(o *Options) { o.Ephemeral, o.StateDir, o.EphemeralMaxPerNode = false, "", 0 }, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := DefaultOptions()
			o.Ephemeral = true
			tt.change(&o)
			err := o.Validate()
			if tt.want == "" && err != nil || tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)) {
				t.Fatalf("Validate() = %v, want error containing %q", err, tt.want)
			}
		})
	}
	o := DefaultOptions()
	o.Mode, o.Attacher, o.Ephemeral = ModeNode, AttacherCinder, true
	_, err := New(o, Deps{Mounter: newFakeMounter(), Locators: map[string]mount.DeviceLocator{AttacherCinder: &fakeLocator{}}, Node: NodeIdentity{ID: testNode}})
	if err == nil || !strings.Contains(err.Error(), "--cloud-config") {
		t.Errorf("New without a node cloud = %v, want an error naming --cloud-config", err)
	}
}
