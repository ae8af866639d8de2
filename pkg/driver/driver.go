package driver

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"sync/atomic"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc"
	"k8s.io/klog/v2"

	"github.com/cinder-csi/cinder-csi-driver/pkg/cinder"
	"github.com/cinder-csi/cinder-csi-driver/pkg/metrics"
	"github.com/cinder-csi/cinder-csi-driver/pkg/mount"
)

// NodeIdentity is what the node plugin reports about its node. ID is the Nova server
// UUID, or the host name on the Cinder attachments path, where IP and Initiator (the
// iSCSI initiator name, empty without one) go into the node ID too (node_id.go).
type NodeIdentity struct {
	ID        string
	Zone      string
	IP        string
	Initiator string
}

// Deps are the driver's collaborators. Controller mode needs Cloud and Attacher; node
// mode needs Mounter, Locators and Node, and with --ephemeral NodeCloud and NodeAttacher.
type Deps struct {
	Cloud    cinder.Cloud
	Attacher cinder.Attacher
	// Groups makes volume group snapshots; nil: the GroupController service is
	// neither served nor advertised.
	Groups  cinder.GroupSnapshotter
	Mounter mount.Mounter
	// Locators find a volume's device per attach path (AttacherNova, AttacherCinder).
	Locators map[string]mount.DeviceLocator
	Node     NodeIdentity
	// MaxVolumesPerNode is the resolved attach limit (flag, cloud.conf or default).
	MaxVolumesPerNode int
	// IgnoreVolumeAZ (--ignore-volume-az or cloud.conf's ignore-volume-az): Cinder's
	// zones are not the nodes' zones, so none is sent or reported (topology.go).
	IgnoreVolumeAZ bool
	Version        string
	// NodeCloud and NodeAttacher let the node plugin create, attach and delete inline
	// ephemeral volumes. They are set only with --ephemeral: without it the node holds
	// no cloud credentials.
	NodeCloud    cinder.Cloud
	NodeAttacher cinder.Attacher
	// PublishKey (the content of --publish-key-file, shared by the controller and node
	// plugins) seals the credentials of Cinder connection info in publish contexts.
	PublishKey []byte
	// Metrics records the driver's metrics, served at /metrics on --http-endpoint;
	// nil records nothing.
	Metrics *metrics.Metrics
	// StorageHealth checks the node's storage for NodeGetStorageHealth
	// (mount.NodeStorage); nil: the node plugin does not advertise it.
	StorageHealth interface{ Problems() []mount.StorageProblem }
	// OtherDisks counts the node's disks that take attach slots without being this
	// driver's volumes (mount.DiskSlots, the Nova path); nil: NodeGetInfo reports the
	// whole limit.
	OtherDisks interface{ Others() (int, []string, error) }
}

// CSISpecVersion is the CSI spec the driver implements.
const CSISpecVersion = "1.13.0"

// Driver serves the CSI services.
type Driver struct {
	csi.UnimplementedIdentityServer
	csi.UnimplementedControllerServer
	csi.UnimplementedNodeServer
	csi.UnimplementedGroupControllerServer

	opts  Options
	deps  Deps
	locks *keyLocks
	// sealer seals connection credentials in publish contexts; nil without a publish key.
	sealer *sealer
	// nodeKey (the publish key) signs and checks node IDs of the Cinder path.
	nodeKey []byte
	// nodeID is what NodeGetInfo reports.
	nodeID string
	// slots counts attachments in flight per node, for the attach limit.
	slots *attachSlots
	ready atomic.Bool
}

// New checks that the dependencies fit the mode and returns a driver.
func New(opts Options, deps Deps) (*Driver, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	if opts.Mode != ModeNode && (deps.Cloud == nil || deps.Attacher == nil) {
		return nil, errors.New("controller mode needs a cloud and an attacher")
	}
	if opts.Mode != ModeController {
		if deps.Mounter == nil || len(deps.Locators) == 0 {
			return nil, errors.New("node mode needs a mounter and device locators")
		}
		if deps.Node.ID == "" {
			return nil, errors.New("node mode needs a node ID: pass --node-id or make the metadata service or config drive reachable")
		}
		if opts.Ephemeral && (deps.NodeCloud == nil || deps.NodeAttacher == nil) {
			return nil, errors.New("--ephemeral needs a cloud client on the node: give the node plugin credentials (--cloud-config), or drop --ephemeral")
		}
	}
	if deps.MaxVolumesPerNode <= 0 {
		deps.MaxVolumesPerNode = DefaultMaxVolumesPerNode
	}
	d := &Driver{opts: opts, deps: deps, locks: newKeyLocks(), slots: newAttachSlots()}
	if len(deps.PublishKey) > 0 {
		s, err := newSealer(deps.PublishKey)
		if err != nil {
			return nil, fmt.Errorf("--publish-key-file: %w", err)
		}
		d.sealer, d.nodeKey = s, deps.PublishKey
	}
	d.nodeID = deps.Node.ID
	if opts.Mode != ModeController && opts.Attacher == AttacherCinder {
		id, err := CinderNodeID(d.nodeKey, deps.Node)
		if err != nil {
			return nil, err
		}
		d.nodeID = id
	}
	return d, nil
}

// Run serves until ctx is cancelled, then stops gracefully.
func (d *Driver) Run(ctx context.Context) error {
	network, addr, err := ParseEndpoint(d.opts.Endpoint)
	if err != nil {
		return err
	}
	d.collectEphemeralAtStart(ctx)
	if network == "unix" {
		if err := os.Remove(addr); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("removing stale socket %s: %w", addr, err)
		}
	}
	lis, err := net.Listen(network, addr)
	if err != nil {
		return fmt.Errorf("listening on %s: %w (is the directory there and writable?)", d.opts.Endpoint, err)
	}
	srv := grpc.NewServer(grpc.MaxRecvMsgSize(maxRecvBytes), grpc.ChainUnaryInterceptor(limitInterceptor, d.deps.Metrics.UnaryInterceptor(), logInterceptor))
	csi.RegisterIdentityServer(srv, d)
	if d.opts.Mode != ModeNode {
		csi.RegisterControllerServer(srv, d)
	}
	if d.groupSnapshots() {
		csi.RegisterGroupControllerServer(srv, d)
	}
	if d.opts.Mode != ModeController {
		csi.RegisterNodeServer(srv, d)
	}

	var health *http.Server
	if d.opts.HTTPEndpoint != "" {
		health, err = d.serveHealth()
		if err != nil {
			lis.Close()
			return err
		}
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(lis) }()
	d.ready.Store(true)
	klog.InfoS("CSI driver serving", "driver", d.opts.DriverName, "version", d.deps.Version,
		"mode", d.opts.Mode, "attacher", d.opts.Attacher, "endpoint", d.opts.Endpoint, "nodeID", d.nodeID)

	select {
	case err = <-errc:
	case <-ctx.Done():
		klog.InfoS("Shutting down: finishing in-flight requests")
		d.ready.Store(false)
		stopped := make(chan struct{})
		go func() { srv.GracefulStop(); close(stopped) }()
		select {
		case <-stopped:
		case <-time.After(30 * time.Second):
			klog.InfoS("In-flight requests did not finish within 30s; stopping")
			srv.Stop()
		}
		err = nil
	}
	if health != nil {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = health.Shutdown(sctx)
		cancel()
	}
	return err
}

func (d *Driver) serveHealth() (*http.Server, error) {
	lis, err := net.Listen("tcp", d.opts.HTTPEndpoint)
	if err != nil {
		return nil, fmt.Errorf("--http-endpoint %s: %w", d.opts.HTTPEndpoint, err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		if !d.ready.Load() {
			http.Error(w, "not ready", http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ok\n"))
	})
	if d.deps.Metrics != nil {
		mux.Handle("/metrics", d.deps.Metrics.Handler())
	}
	s := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = s.Serve(lis) }()
	return s, nil
}
