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
	return startNode(ctx, cloud, h, srv, dir, nil)
}

// StartCountingNode is StartNode whose NodeGetInfo counts the server's disks (the
// stand-in's sysfs) against Nova's own limit, max_disk_devices_to_attach (4 on the
// bed): those that are not volumes kubelet holds for the driver, as kubeletDir
// records them, take slots.
func StartCountingNode(ctx context.Context, cloud *cinder.Client, h *Hypervisor, srv *Server, dir, kubeletDir string) (*Node, error) {
	return startNode(ctx, cloud, h, srv, dir, &kubeletDir)
}

func startNode(ctx context.Context, cloud *cinder.Client, h *Hypervisor, srv *Server, dir string, kubeletDir *string) (*Node, error) {
	n := &Node{Server: srv, DevDir: filepath.Join(dir, "by-id"), Sock: filepath.Join(dir, "csi.sock")}
	if err := h.AddServer(srv, n.DevDir); err != nil {
		return nil, err
	}
	o := testbed.DriverOptions("unix://"+n.Sock, srv.ID)
	o.Attacher = driver.AttacherNova
	mounter, _ := testbed.NodeDeps()
	storage := driver.NodeStorage(o)
	storage.DiskByID = n.DevDir // the stand-in's links, not udev's
	deps := driver.Deps{
		Cloud: cloud, Attacher: cloud.NovaAttacher(), Groups: cloud, Mounter: mounter, StorageHealth: storage,
		// No udev trigger: the stand-in links the disk when Nova attaches it.
		Locators:          map[string]mount.DeviceLocator{driver.AttacherNova: mount.NewNovaLocator(n.DevDir, nil)},
		Node:              driver.NodeIdentity{ID: srv.ID, Zone: srv.Zone},
		MaxVolumesPerNode: 3, Version: "realnova-test",
	}
	if kubeletDir != nil {
		deps.MaxVolumesPerNode = 4
		deps.OtherDisks = mount.DiskSlots{SysBlock: SysBlockOf(n.DevDir), KubeletDir: *kubeletDir, DriverName: o.DriverName}
	}
	conn, stop, err := testbed.Serve(ctx, o, deps)
	if err != nil {
		return nil, err
	}
	n.Conn, n.stop = conn, stop
	return n, nil
}

// Stop ends the driver.
func (n *Node) Stop() error { return n.stop() }
