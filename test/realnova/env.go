package realnova

import (
	"context"
	"path/filepath"

	"google.golang.org/grpc"

	"github.com/cinder-csi/cinder-csi-driver/pkg/cinder"
	"github.com/cinder-csi/cinder-csi-driver/pkg/driver"
	"github.com/cinder-csi/cinder-csi-driver/pkg/mount"
	"github.com/cinder-csi/cinder-csi-driver/test/internal/testbed"
)

// Node is the driver as it runs on one test server: controller and node service in
// one process, --attacher nova, the node finding disks in the server's device
// directory (its /dev/disk/by-id).
type Node struct {
	Server *Server
	DevDir string
	Sock   string
	Conn   *grpc.ClientConn
	stop   func() error
}

// StartNode runs the driver for srv with its socket and device directory in dir,
// and registers srv with the hypervisor stand-in.
func StartNode(ctx context.Context, cloud *cinder.Client, h *Hypervisor, srv *Server, dir string) (*Node, error) {
	n := &Node{Server: srv, DevDir: filepath.Join(dir, "by-id"), Sock: filepath.Join(dir, "csi.sock")}
	if err := h.AddServer(srv, n.DevDir); err != nil {
		return nil, err
	}
	o := testbed.DriverOptions("unix://"+n.Sock, srv.ID)
	o.Attacher = driver.AttacherNova
	mounter, _ := testbed.NodeDeps()
	storage := driver.NodeStorage(o)
	storage.DiskByID = n.DevDir // the stand-in's links, not udev's
	conn, stop, err := testbed.Serve(ctx, o, driver.Deps{
		Cloud: cloud, Attacher: cloud.NovaAttacher(), Groups: cloud, Mounter: mounter, StorageHealth: storage,
		// No udev trigger: the stand-in links the disk when Nova attaches it.
		Locators:          map[string]mount.DeviceLocator{driver.AttacherNova: mount.NewNovaLocator(n.DevDir, nil)},
		Node:              driver.NodeIdentity{ID: srv.ID, Zone: "nova"},
		MaxVolumesPerNode: 3, Version: "realnova-test",
	})
	if err != nil {
		return nil, err
	}
	n.Conn, n.stop = conn, stop
	return n, nil
}

// Stop ends the driver.
func (n *Node) Stop() error { return n.stop() }
