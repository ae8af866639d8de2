package testbed

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	utilexec "k8s.io/utils/exec"

	"github.com/cinder-csi/cinder-csi-driver/pkg/cinder"
	"github.com/cinder-csi/cinder-csi-driver/pkg/driver"
	"github.com/cinder-csi/cinder-csi-driver/pkg/mount"
)

// Client connects to one cloud of the test bed.
func Client(ctx context.Context, cloudName string) (*cinder.Client, error) {
	path, err := CloudsFile()
	if err != nil {
		return nil, err
	}
	cfg, err := cinder.LoadConfig(path, cloudName)
	if err != nil {
		return nil, err
	}
	return cinder.NewClient(ctx, cfg, cinder.ClientOptions{UserAgent: "cinder-csi-realcinder-test"})
}

// DriverOptions are the driver settings for this backend: Cinder's NFS driver cannot
// extend or snapshot attached volumes, so the driver is told so.
func DriverOptions(endpoint, nodeID string) driver.Options {
	o := driver.DefaultOptions()
	o.Endpoint, o.Mode, o.Attacher = endpoint, driver.ModeAll, driver.AttacherCinder
	o.NodeID, o.Cluster = nodeID, "realcinder-test"
	o.ExpandInUse, o.SnapshotInUse = false, false
	o.WithTopology = true
	return o
}

// NodeDeps builds the real node side as the binary does: the host's mounter and
// every connector of the Cinder attachments path, with the default state directory.
func NodeDeps() (mount.Mounter, map[string]mount.DeviceLocator) {
	return mount.NewMounter(), map[string]mount.DeviceLocator{
		driver.AttacherCinder: mount.NewCinderLocator(mount.CinderConnectors(utilexec.New(), "", "")),
	}
}

// PublishKey is the publish key (--publish-key-file) of every driver the suites start:
// node IDs are signed with it, as in a deployment of the chart.
const PublishKey = "realcinder-suites-publish-key-0123456789abcdef"

// Node is the node a suite's driver plays: the host, a loopback address that is not
// the attachment connector's default (127.0.0.1) and an iSCSI initiator name of its own.
func Node(host string) driver.NodeIdentity {
	return driver.NodeIdentity{ID: host, Zone: "nova", IP: "127.0.0.3", Initiator: "iqn.2026-12.test.cinder-csi:" + host}
}

// NodeID is the node ID the node plugin of host reports (NodeGetInfo), signed with
// PublishKey: what Kubernetes would hand ControllerPublishVolume.
func NodeID(host string) string {
	id, err := driver.CinderNodeID([]byte(PublishKey), Node(host))
	if err != nil {
		panic(err)
	}
	return id
}

// WritePublishKey writes PublishKey into dir for a driver process and returns the
// --publish-key-file flag.
func WritePublishKey(dir string) (string, error) {
	p := filepath.Join(dir, "publish-key")
	return "--publish-key-file=" + p, os.WriteFile(p, []byte(PublishKey+"\n"), 0o600)
}

// StartDriver runs the driver in-process on a socket in dir, in "all" mode against
// the cloud, as the node host (Node), and returns a connection and a stop function.
func StartDriver(ctx context.Context, cloud *cinder.Client, dir, host string, maxVolumes int) (*grpc.ClientConn, func() error, error) {
	sock := filepath.Join(dir, "csi.sock")
	mounter, locators := NodeDeps()
	o := DriverOptions("unix://"+sock, host)
	return Serve(ctx, o, driver.Deps{
		Cloud: cloud, Attacher: cloud.CinderAttacher(), Groups: cloud, Mounter: mounter, Locators: locators, StorageHealth: driver.NodeStorage(o),
		Node: Node(host), MaxVolumesPerNode: maxVolumes, Version: "realcinder-test", PublishKey: []byte(PublishKey),
	})
}

// Serve runs a driver with these options and dependencies in-process until the
// returned stop function is called; the connection reaches it on o.Endpoint.
func Serve(ctx context.Context, o driver.Options, deps driver.Deps) (*grpc.ClientConn, func() error, error) {
	d, err := driver.New(o, deps)
	if err != nil {
		return nil, nil, err
	}
	sock := strings.TrimPrefix(o.Endpoint, "unix://")
	rctx, cancel := context.WithCancel(ctx)
	exited, wait := Run(func() error { return d.Run(rctx) })
	if err := WaitServing(ctx, sock, exited, 5*time.Second); err != nil {
		cancel()
		return nil, nil, fmt.Errorf("%w (it stopped with: %v)", err, wait())
	}
	conn, err := grpc.NewClient(o.Endpoint, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		cancel()
		return nil, nil, err
	}
	stop := func() error {
		conn.Close()
		cancel()
		return wait()
	}
	return conn, stop, nil
}
