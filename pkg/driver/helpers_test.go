package driver

import (
	"context"
	"testing"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/cinder-csi/cinder-csi-driver/pkg/cinder/fake"
	"github.com/cinder-csi/cinder-csi-driver/pkg/mount"
)

const testNode = "node-1"

func newTestController(t *testing.T, o fake.Options) (*Driver, *fake.Cloud) {
	t.Helper()
	if o.Latency == 0 {
		o.Latency = time.Millisecond
	}
	cloud := fake.New(o)
	opts := DefaultOptions()
	opts.Mode, opts.Attacher, opts.Cluster = ModeController, AttacherCinder, "c1"
	d, err := New(opts, Deps{Cloud: cloud, Attacher: cloud.CinderAttacher(), Groups: cloud, MaxVolumesPerNode: 2})
	if err != nil {
		t.Fatal(err)
	}
	return d, cloud
}

func mountCap() *csi.VolumeCapability {
	return &csi.VolumeCapability{
		AccessType: &csi.VolumeCapability_Mount{Mount: &csi.VolumeCapability_MountVolume{FsType: "ext4"}},
		AccessMode: &csi.VolumeCapability_AccessMode{Mode: csi.VolumeCapability_AccessMode_SINGLE_NODE_WRITER},
	}
}

func blockCap(mode csi.VolumeCapability_AccessMode_Mode) *csi.VolumeCapability {
	return &csi.VolumeCapability{
		AccessType: &csi.VolumeCapability_Block{Block: &csi.VolumeCapability_BlockVolume{}},
		AccessMode: &csi.VolumeCapability_AccessMode{Mode: mode},
	}
}

func createReq(name string, gi int64, params map[string]string) *csi.CreateVolumeRequest {
	return &csi.CreateVolumeRequest{Name: name, CapacityRange: &csi.CapacityRange{RequiredBytes: gi * gib},
		VolumeCapabilities: []*csi.VolumeCapability{mountCap()}, Parameters: params}
}

func mustCreate(t *testing.T, d *Driver, name string) string {
	t.Helper()
	resp, err := d.CreateVolume(context.Background(), createReq(name, 1, nil))
	if err != nil {
		t.Fatalf("CreateVolume(%s): %v", name, err)
	}
	return resp.GetVolume().GetVolumeId()
}

func wantCode(t *testing.T, err error, code codes.Code) {
	t.Helper()
	if got := status.Code(err); got != code {
		t.Fatalf("got code %s (%v), want %s", got, err, code)
	}
}

// fakeMounter and fakeLocator are the host seams for node unit tests; real mounts are
// covered by pkg/mount's and the sanity suite's loop-device tests.
type fakeMounter struct {
	mounts map[string]string   // target -> source
	opts   map[string][]string // target -> mount options
	calls  []string
	// mountErr, if set, is FormatAndMount's answer.
	mountErr error
}

func newFakeMounter() *fakeMounter {
	return &fakeMounter{mounts: map[string]string{}, opts: map[string][]string{}}
}

func (m *fakeMounter) FormatAndMount(_ context.Context, device, target, fsType string, opts, _ []string) error {
	m.calls = append(m.calls, "format-mount "+device+" "+target+" "+fsType)
	if m.mountErr != nil {
		return m.mountErr
	}
	m.mounts[target], m.opts[target] = device, opts
	return nil
}
func (m *fakeMounter) BindMount(source, target string, ro bool, opts []string) error {
	m.calls = append(m.calls, "bind "+source+" "+target)
	m.mounts[target], m.opts[target] = source, opts
	return nil
}
func (m *fakeMounter) Unmount(target string) error {
	m.calls = append(m.calls, "unmount "+target)
	delete(m.mounts, target)
	return nil
}
func (m *fakeMounter) IsMountPoint(p string) (bool, error) { _, ok := m.mounts[p]; return ok, nil }
func (m *fakeMounter) DeviceForMount(p string) (string, error) {
	if s, ok := m.mounts[p]; ok {
		return s, nil
	}
	return "", mount.ErrNotMounted
}
func (m *fakeMounter) GrowUnmounted(context.Context, string) (bool, error)    { return false, nil }
func (m *fakeMounter) ResizeFS(context.Context, string, string) (bool, error) { return false, nil }
func (m *fakeMounter) FSStats(string) (*mount.Stats, error) {
	return &mount.Stats{TotalBytes: 100, AvailableBytes: 60, UsedBytes: 40, TotalInodes: 10, FreeInodes: 7, UsedInodes: 3}, nil
}
func (m *fakeMounter) DeviceSize(context.Context, string) (int64, error) { return gib, nil }
func (m *fakeMounter) MountRefs(p string) ([]string, error) {
	var refs []string
	for t, s := range m.mounts {
		if s == p {
			refs = append(refs, t)
		}
	}
	return refs, nil
}
func (m *fakeMounter) PathExists(p string) (bool, error) {
	_, ok := m.mounts[p]
	return ok, nil
}

type fakeLocator struct {
	connected map[string]string
}

func (l *fakeLocator) Connect(_ context.Context, id string, _ mount.Attachment) (string, error) {
	l.connected[id] = "/dev/fake-" + id[:8]
	return l.connected[id], nil
}
func (l *fakeLocator) Disconnect(_ context.Context, id string) error {
	delete(l.connected, id)
	return nil
}

func newTestNode(t *testing.T) (*Driver, *fakeMounter, *fakeLocator) {
	t.Helper()
	m, l := newFakeMounter(), &fakeLocator{connected: map[string]string{}}
	opts := DefaultOptions()
	opts.Mode, opts.Attacher = ModeNode, AttacherCinder
	d, err := New(opts, Deps{Mounter: m, Locators: map[string]mount.DeviceLocator{AttacherCinder: l},
		Node: NodeIdentity{ID: testNode, Zone: "az1"}})
	if err != nil {
		t.Fatal(err)
	}
	return d, m, l
}

func testLocators() map[string]mount.DeviceLocator {
	return map[string]mount.DeviceLocator{AttacherCinder: &fakeLocator{connected: map[string]string{}}}
}
