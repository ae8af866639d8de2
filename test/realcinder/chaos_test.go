package realcinder_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"gopkg.in/yaml.v2"

	"github.com/cinder-csi/cinder-csi-driver/pkg/cinder"
	"github.com/cinder-csi/cinder-csi-driver/test/internal/inventory"
	"github.com/cinder-csi/cinder-csi-driver/test/internal/testbed"
	"github.com/cinder-csi/cinder-csi-driver/test/sanityrun"
)

// The chaos suite's bounds: at least chaosMinOps operations and chaosMinKills
// controller kills, whichever takes longer, within chaosBudget.
const (
	chaosMinOps   = 200
	chaosMinKills = 20
	chaosWorkers  = 4
	chaosBudget   = 8 * time.Minute
	chaosGiB      = int64(1) << 30
)

// TestChaosController drives the real binary (controller mode, Cinder path) through
// whole volume lives, create, expand, snapshot, restore, publish, unpublish and the
// deletes, while a proxy breaks Cinder requests at random (resets, 5xx, lost answers,
// 429 with Retry-After, latency) and the controller is SIGKILLed and restarted at
// random moments. The client retries like the sidecars, with the same names. A monitor
// watching Cinder directly fails the test on any name with two volumes or snapshots;
// at the end nothing the run made may be left: no volume, snapshot, backup or
// attachment.
func TestChaosController(t *testing.T) {
	bed := requireChaosBed(t)
	ctx, cancel := context.WithTimeout(context.Background(), chaosBudget+5*time.Minute)
	defer cancel()
	before, err := inventory.Inventory(ctx, bed.direct)
	if err != nil {
		t.Fatal(err)
	}
	proxy, clouds := bed.proxied(t, 0.2)
	seed := uint64(time.Now().UnixNano())
	t.Logf("chaos seed %d", seed)
	ctrl := newDriverProcess(bed.bin, bed.dir, "controller", "--mode=controller", "--attacher=cinder",
		"--cloud-config="+clouds, "--cloud=local-noauth", "--cluster=chaos", "--expand-in-use=false", "--snapshot-in-use=false", bed.keyFlag)
	if err := ctrl.start(); err != nil {
		t.Fatal(err)
	}
	defer ctrl.stop()

	prefix := fmt.Sprintf("chaos-%d", time.Now().UnixNano()%1_000_000)
	mon := &duplicateMonitor{cloud: bed.direct, prefix: prefix, seen: map[string][]string{},
		inFlight: map[string]int{}, touched: map[string]bool{}, settling: map[string]bool{}}
	monCtx, stopMon := context.WithCancel(ctx)
	monDone := make(chan struct{})
	go func() { mon.run(monCtx); close(monDone) }()

	killCtx, stopKills := context.WithCancel(ctx)
	rnd := rand.New(rand.NewPCG(seed, seed+1))
	var rmu sync.Mutex
	killsDone := make(chan struct{})
	go func() {
		ctrl.killer(killCtx, t, func() time.Duration {
			rmu.Lock()
			defer rmu.Unlock()
			return time.Duration(800+rnd.IntN(3200)) * time.Millisecond
		})
		close(killsDone)
	}()

	c := &chaosClient{p: ctrl, direct: bed.direct, mon: mon}
	deadline := time.Now().Add(chaosBudget)
	var lives atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, chaosWorkers)
	for w := 0; w < chaosWorkers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				ctrl.mu.Lock()
				kills := ctrl.kills
				ctrl.mu.Unlock()
				if (c.ops.Load() >= chaosMinOps && kills >= chaosMinKills) || time.Now().After(deadline) {
					return
				}
				name := fmt.Sprintf("%s-%03d", prefix, lives.Add(1))
				if err := c.life(ctx, name); err != nil {
					errs <- fmt.Errorf("%s: %w", name, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	stopKills()
	<-killsDone
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	left, err := inventory.Leftovers(ctx, bed.direct, before, 3*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	stopMon()
	<-monDone
	faults, injected := proxy.summary()
	dups := mon.duplicates()
	t.Logf("chaos: %d operations (%d calls) in %d volume lives, %d controller kills, %s; %d leaked, %d duplicated, %d settled during their create",
		c.ops.Load(), c.calls.Load(), lives.Load(), ctrl.kills, faults, len(left), len(dups), mon.settled())
	fmt.Printf("chaos controller: operations=%d calls=%d lives=%d kills=%d faults=%d leaks=%d duplicates=%d settled=%d\n",
		c.ops.Load(), c.calls.Load(), lives.Load(), ctrl.kills, injected, len(left), len(dups), mon.settled())
	for _, l := range left {
		t.Errorf("left in Cinder: %s", l)
	}
	for _, d := range dups {
		t.Errorf("duplicate: %s", d)
	}
	if n := c.ops.Load(); n < chaosMinOps {
		t.Errorf("only %d operations in %s, want at least %d", n, chaosBudget, chaosMinOps)
	}
	if ctrl.kills < chaosMinKills {
		t.Errorf("only %d controller kills, want at least %d", ctrl.kills, chaosMinKills)
	}
	if injected == 0 {
		t.Error("the proxy injected no fault")
	}
	if t.Failed() {
		keepLog(t, ctrl.log)
	}
}

// chaosBed is what the chaos suites share: the binary, a work directory, a direct
// client (not through the proxy) and the test bed's clouds.yaml.
type chaosBed struct {
	bin, dir, clouds string
	// keyFlag is --publish-key-file with testbed.PublishKey, for every process.
	keyFlag string
	direct  *cinder.Client
}

func requireChaosBed(t *testing.T) *chaosBed {
	t.Helper()
	skip := sanityrun.Missing(t, "REQUIRE_REAL_CINDER")
	clouds, err := testbed.CloudsFile()
	if err != nil {
		skip("%v", err)
	}
	if os.Geteuid() != 0 {
		skip("the node service mounts loop devices: run as root")
	}
	direct, err := testbed.Client(context.Background(), "local")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	keyFlag, err := testbed.WritePublishKey(dir)
	if err != nil {
		t.Fatal(err)
	}
	return &chaosBed{bin: testbed.DriverBinary(t), dir: dir, clouds: clouds, keyFlag: keyFlag, direct: direct}
}

// proxied starts a chaos proxy in front of the noauth Cinder API and returns it with
// a clouds.yaml whose local-noauth cloud goes through it.
func (b *chaosBed) proxied(t *testing.T, rate float64) (*chaosProxy, string) {
	t.Helper()
	raw, err := os.ReadFile(b.clouds)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]map[string]map[string]any
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	cloud := doc["clouds"]["local-noauth"]
	auth, _ := cloud["auth"].(map[any]any)
	endpoint, _ := auth["endpoint"].(string)
	target, err := url.Parse(endpoint)
	if err != nil || endpoint == "" {
		t.Fatalf("local-noauth in %s has no usable endpoint (%q): %v", b.clouds, endpoint, err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := newChaosProxy(&url.URL{Scheme: target.Scheme, Host: target.Host}, uint64(time.Now().UnixNano()), rate)
	srv := &http.Server{Handler: p, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(func() { _ = srv.Close() })
	auth["endpoint"] = "http://" + lis.Addr().String() + target.Path
	out, err := yaml.Marshal(map[string]any{"clouds": map[string]any{"local-noauth": cloud}})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(b.dir, "clouds.yaml")
	if err := os.WriteFile(path, out, 0o600); err != nil {
		t.Fatal(err)
	}
	return p, path
}

// chaosClient plays the sidecars: every call gets a fresh connection and the
// sidecars' 15 s timeout, and is retried with the same arguments until it succeeds.
type chaosClient struct {
	p      *driverProcess
	direct *cinder.Client
	mon    *duplicateMonitor // told which names have a create in flight
	ops    atomic.Int64      // operations that ended in success
	calls  atomic.Int64      // attempts
}

// final are the codes a sidecar would not retry into success: a wrong request.
var final = map[codes.Code]bool{codes.InvalidArgument: true, codes.AlreadyExists: true, codes.Unimplemented: true, codes.OutOfRange: true}

// do retries call until it succeeds; done, when set, decides when a success is the
// end (a snapshot is taken until it is ready to use).
func (c *chaosClient) do(ctx context.Context, what string, call func(context.Context, csi.ControllerClient) error) error {
	var last error
	for try := 1; ; try++ {
		if ctx.Err() != nil {
			return fmt.Errorf("%s: gave up after %d tries: %v (last: %v)", what, try-1, ctx.Err(), last)
		}
		conn, err := c.p.conn()
		if err != nil {
			return err
		}
		cctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		c.calls.Add(1)
		err = call(cctx, csi.NewControllerClient(conn))
		cancel()
		conn.Close()
		if err == nil {
			c.ops.Add(1)
			return nil
		}
		if final[status.Code(err)] {
			return fmt.Errorf("%s: %w (a final error after %d tries)", what, err, try)
		}
		last = err
		time.Sleep(time.Duration(100+50*min(try, 10)) * time.Millisecond)
	}
}

// life takes one name through a volume's whole life.
func (c *chaosClient) life(ctx context.Context, name string) error {
	caps := []*csi.VolumeCapability{{AccessType: &csi.VolumeCapability_Mount{Mount: &csi.VolumeCapability_MountVolume{FsType: "ext4"}},
		AccessMode: &csi.VolumeCapability_AccessMode{Mode: csi.VolumeCapability_AccessMode_SINGLE_NODE_WRITER}}}
	var volID, snapID, restoreID string
	steps := []struct {
		what string
		call func(context.Context, csi.ControllerClient) error
		then func() error
	}{
		{"CreateVolume", func(ctx context.Context, cc csi.ControllerClient) error {
			r, err := cc.CreateVolume(ctx, &csi.CreateVolumeRequest{Name: name, CapacityRange: &csi.CapacityRange{RequiredBytes: chaosGiB}, VolumeCapabilities: caps})
			volID = r.GetVolume().GetVolumeId()
			return err
		}, func() error { return c.exactly(ctx, name, 1) }},
		{"ControllerExpandVolume", func(ctx context.Context, cc csi.ControllerClient) error {
			_, err := cc.ControllerExpandVolume(ctx, &csi.ControllerExpandVolumeRequest{VolumeId: volID, CapacityRange: &csi.CapacityRange{RequiredBytes: 2 * chaosGiB}, VolumeCapability: caps[0]})
			return err
		}, nil},
		{"CreateSnapshot", func(ctx context.Context, cc csi.ControllerClient) error {
			r, err := cc.CreateSnapshot(ctx, &csi.CreateSnapshotRequest{Name: name + "-snap", SourceVolumeId: volID})
			if err == nil && !r.GetSnapshot().GetReadyToUse() {
				return status.Error(codes.Unavailable, "not ready to use yet")
			}
			snapID = r.GetSnapshot().GetSnapshotId()
			return err
		}, nil},
		{"CreateVolume from snapshot", func(ctx context.Context, cc csi.ControllerClient) error {
			r, err := cc.CreateVolume(ctx, &csi.CreateVolumeRequest{Name: name + "-restore", CapacityRange: &csi.CapacityRange{RequiredBytes: 2 * chaosGiB}, VolumeCapabilities: caps,
				VolumeContentSource: &csi.VolumeContentSource{Type: &csi.VolumeContentSource_Snapshot{Snapshot: &csi.VolumeContentSource_SnapshotSource{SnapshotId: snapID}}}})
			restoreID = r.GetVolume().GetVolumeId()
			return err
		}, func() error { return c.exactly(ctx, name+"-restore", 1) }},
		{"ControllerPublishVolume", func(ctx context.Context, cc csi.ControllerClient) error {
			_, err := cc.ControllerPublishVolume(ctx, &csi.ControllerPublishVolumeRequest{VolumeId: volID, NodeId: testbed.NodeID("chaos-node"), VolumeCapability: caps[0]})
			return err
		}, func() error { return c.attachments(ctx, volID, 1) }},
		{"ControllerUnpublishVolume", func(ctx context.Context, cc csi.ControllerClient) error {
			_, err := cc.ControllerUnpublishVolume(ctx, &csi.ControllerUnpublishVolumeRequest{VolumeId: volID, NodeId: testbed.NodeID("chaos-node")})
			return err
		}, func() error { return c.attachments(ctx, volID, 0) }},
		{"DeleteVolume (restore)", func(ctx context.Context, cc csi.ControllerClient) error {
			_, err := cc.DeleteVolume(ctx, &csi.DeleteVolumeRequest{VolumeId: restoreID})
			return err
		}, nil},
		{"DeleteSnapshot", func(ctx context.Context, cc csi.ControllerClient) error {
			_, err := cc.DeleteSnapshot(ctx, &csi.DeleteSnapshotRequest{SnapshotId: snapID})
			return err
		}, nil},
		{"DeleteVolume", func(ctx context.Context, cc csi.ControllerClient) error {
			_, err := cc.DeleteVolume(ctx, &csi.DeleteVolumeRequest{VolumeId: volID})
			return err
		}, nil},
	}
	creates := map[string]string{"CreateVolume": "volume " + name, "CreateSnapshot": "snapshot " + name + "-snap",
		"CreateVolume from snapshot": "volume " + name + "-restore"}
	for _, s := range steps {
		key, isCreate := creates[s.what]
		if isCreate {
			c.mon.begin(key)
		}
		err := c.do(ctx, s.what, s.call)
		if isCreate {
			c.mon.end(key)
		}
		if err != nil {
			return err
		}
		if s.then != nil {
			if err := s.then(); err != nil {
				return fmt.Errorf("after %s: %w", s.what, err)
			}
		}
	}
	return nil
}

// exactly checks that Cinder holds n volumes named name.
func (c *chaosClient) exactly(ctx context.Context, name string, n int) error {
	vols, err := c.direct.FindVolumesByName(ctx, name)
	if err != nil {
		return err
	}
	if len(vols) != n {
		var ids []string
		for _, v := range vols {
			ids = append(ids, v.ID+" ("+v.Status+")")
		}
		return fmt.Errorf("Cinder holds %d volumes named %s, want %d: %s", len(vols), name, n, strings.Join(ids, ", "))
	}
	return nil
}

// attachments checks that the volume has n Cinder attachments (complete or not).
func (c *chaosClient) attachments(ctx context.Context, volumeID string, n int) error {
	atts, err := c.direct.AttachmentIDs(ctx, volumeID)
	if err != nil {
		return err
	}
	if len(atts) != n {
		return fmt.Errorf("volume %s has %d Cinder attachments, want %d: %v", volumeID, len(atts), n, atts)
	}
	return nil
}

// duplicateMonitor lists the run's volumes and snapshots in Cinder, directly, over
// and over, and remembers every name that ever had two while no create of it was in
// flight: a duplicate Kubernetes could see. Two while the create runs are the driver
// settling what an interrupted create made (pkg/cinder/volumes_settle.go): counted,
// and an error only if they outlive the create.
type duplicateMonitor struct {
	cloud    *cinder.Client
	prefix   string
	mu       sync.Mutex
	seen     map[string][]string // "volume <name>" -> IDs, when more than one
	inFlight map[string]int      // creates in flight per key
	touched  map[string]bool     // keys with a create in flight since the last scan began
	settling map[string]bool     // keys seen twice during their create
}

func (m *duplicateMonitor) begin(key string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.inFlight[key]++
	m.touched[key] = true
}

func (m *duplicateMonitor) end(key string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.inFlight[key]--
}

// settled is how many names had two during their create and one after.
func (m *duplicateMonitor) settled() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.settling)
}

func (m *duplicateMonitor) run(ctx context.Context) {
	for ctx.Err() == nil {
		// A create in flight at any time during the scan may be settling its name.
		m.mu.Lock()
		busy := map[string]bool{}
		for k, n := range m.inFlight {
			if n > 0 {
				busy[k] = true
			}
		}
		m.touched = map[string]bool{}
		m.mu.Unlock()
		byName := map[string][]string{}
		if vols, _, err := m.cloud.ListVolumes(ctx, cinder.ListOpts{}); err == nil {
			for _, v := range vols {
				if strings.HasPrefix(v.Name, m.prefix) {
					byName["volume "+v.Name] = append(byName["volume "+v.Name], v.ID)
				}
			}
		}
		if snaps, _, err := m.cloud.ListSnapshots(ctx, cinder.SnapshotListOpts{}); err == nil {
			for _, s := range snaps {
				if strings.HasPrefix(s.Name, m.prefix) {
					byName["snapshot "+s.Name] = append(byName["snapshot "+s.Name], s.ID)
				}
			}
		}
		m.mu.Lock()
		for k, ids := range byName {
			switch {
			case len(ids) < 2:
			case busy[k] || m.touched[k] || m.inFlight[k] > 0:
				m.settling[k] = true
			default:
				m.seen[k] = ids
			}
		}
		m.mu.Unlock()
		select {
		case <-ctx.Done():
		case <-time.After(250 * time.Millisecond):
		}
	}
}

func (m *duplicateMonitor) duplicates() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []string
	for k, ids := range m.seen {
		out = append(out, fmt.Sprintf("%s: %s", k, strings.Join(ids, ", ")))
	}
	sort.Strings(out)
	return out
}
