package realnova

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/gophercloud/gophercloud/v2/openstack/blockstorage/v3/attachments"
	"k8s.io/klog/v2"
	utilexec "k8s.io/utils/exec"

	"github.com/cinder-csi/cinder-csi-driver/pkg/mount"
)

// Hypervisor stands in for the compute host and udev of the test servers: every
// tick it asks Nova which volumes each server has, plugs the new ones (a loop device
// over the file named by the Cinder attachment's connection info, which is what
// libvirt would hand the VM) and links them as virtio-<first 20 chars of the volume
// ID> in the server's device directory, and shows each of the server's disks, its
// boot volume first, as the guest's sysfs would (<device directory>/../sys-block/vdX
// with its virtio serial); volumes Nova no longer lists, and all volumes of a server
// that is gone, are unplugged.
type Hypervisor struct {
	st   *Stack
	disk mount.Connector

	mu  sync.Mutex
	vms map[string]*vm
	// Errors are the plug and unplug failures seen, for the test to report.
	errs []error

	stop chan struct{}
	done chan struct{}
}

type vm struct {
	devDir string
	// sysBlock stands in for the guest's /sys/block; names maps each disk shown there
	// (boot volume included) to its vdX name.
	sysBlock string
	names    map[string]string
	// ignore holds volumes never plugged (the boot volume).
	ignore map[string]bool
	// disks maps each plugged volume to its device.
	disks map[string]string
}

// NewHypervisor starts the stand-in; Stop ends it and unplugs everything.
func NewHypervisor(st *Stack) *Hypervisor {
	loop := mount.NewLoopDevices(utilexec.New())
	h := &Hypervisor{
		st: st, disk: mount.NewNFSConnector(loop, ""), vms: map[string]*vm{},
		stop: make(chan struct{}), done: make(chan struct{}),
	}
	go h.run()
	return h
}

// AddServer makes the stand-in host srv, with its disks linked under devDir.
func (h *Hypervisor) AddServer(srv *Server, devDir string) error {
	if err := os.MkdirAll(devDir, 0o755); err != nil {
		return err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	m := &vm{devDir: devDir, sysBlock: SysBlockOf(devDir), names: map[string]string{},
		ignore: map[string]bool{srv.BootVolume: true}, disks: map[string]string{}}
	h.vms[srv.ID] = m
	return m.show(srv.BootVolume)
}

// SysBlockOf is where the stand-in shows the disks of the server whose device
// directory is devDir.
func SysBlockOf(devDir string) string { return filepath.Join(filepath.Dir(devDir), "sys-block") }

// show adds the volume's disk to the guest's sysfs under the first free vdX name,
// with the serial Nova's libvirt driver gives it (the volume ID's first 20 characters).
func (m *vm) show(volumeID string) error {
	used := map[string]bool{}
	for _, n := range m.names {
		used[n] = true
	}
	name := ""
	for c := 'a'; c <= 'z' && name == ""; c++ {
		if !used["vd"+string(c)] {
			name = "vd" + string(c)
		}
	}
	dir := filepath.Join(m.sysBlock, name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	m.names[volumeID] = name
	return os.WriteFile(filepath.Join(dir, "serial"), []byte(volumeID[:min(20, len(volumeID))]+"\n"), 0o644)
}

func (m *vm) hide(volumeID string) error {
	name, ok := m.names[volumeID]
	if !ok {
		return nil
	}
	delete(m.names, volumeID)
	return os.RemoveAll(filepath.Join(m.sysBlock, name))
}

// Errors returns the plug and unplug failures so far.
func (h *Hypervisor) Errors() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	return errors.Join(h.errs...)
}

// Stop ends the polling and unplugs every disk.
func (h *Hypervisor) Stop() error {
	close(h.stop)
	<-h.done
	h.mu.Lock()
	defer h.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var errs []error
	for _, m := range h.vms {
		for vol := range m.disks {
			errs = append(errs, h.unplug(ctx, m, vol))
		}
	}
	return errors.Join(errs...)
}

func (h *Hypervisor) run() {
	defer close(h.done)
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-h.stop:
			return
		case <-t.C:
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			h.sync(ctx)
			cancel()
		}
	}
}

// sync does one tick: all unplugs first, so that a volume moving from one server to
// another never has two loop devices.
func (h *Hypervisor) sync(ctx context.Context) {
	h.mu.Lock()
	defer h.mu.Unlock()
	want := map[string]map[string]bool{}
	for id := range h.vms {
		vols, err := h.st.ServerVolumes(ctx, id)
		if err != nil {
			klog.V(4).InfoS("Hypervisor: cannot list the server's volumes", "serverID", id, "err", err)
			continue
		}
		want[id] = vols
	}
	for id, vols := range want {
		m := h.vms[id]
		for vol := range m.disks {
			if !vols[vol] {
				h.record(h.unplug(ctx, m, vol))
			}
		}
	}
	for id, vols := range want {
		m := h.vms[id]
		for vol := range vols {
			if _, ok := m.disks[vol]; !ok && !m.ignore[vol] {
				h.record(h.plug(ctx, id, m, vol))
			}
		}
	}
}

func (h *Hypervisor) record(err error) {
	if err != nil {
		klog.ErrorS(err, "Hypervisor stand-in")
		h.errs = append(h.errs, err)
	}
}

// plug connects the volume's file as the host would and links it as the guest's
// udev would. A volume whose Cinder attachment has no connection info yet is tried
// again next tick.
func (h *Hypervisor) plug(ctx context.Context, serverID string, m *vm, volumeID string) error {
	pages, err := attachments.List(h.st.Volume, attachments.ListOpts{VolumeID: volumeID, InstanceID: serverID}).AllPages(ctx)
	if err != nil {
		klog.V(4).InfoS("Hypervisor: cannot list the attachments", "volumeID", volumeID, "err", err)
		return nil
	}
	list, err := attachments.ExtractAttachments(pages)
	if err != nil {
		return err
	}
	var info map[string]any
	for _, a := range list {
		if a.Instance != serverID {
			continue
		}
		full, err := attachments.Get(ctx, h.st.Volume, a.ID).Extract()
		if err != nil {
			// Being deleted, or Cinder busy: look again next tick.
			klog.V(4).InfoS("Hypervisor: cannot read the attachment", "attachmentID", a.ID, "err", err)
			return nil
		}
		info = full.ConnectionInfo
	}
	if info["driver_volume_type"] == nil {
		// Reserved, not yet given a connector: look again next tick.
		return nil
	}
	// The attachments API shows connection_info flat: the driver's data next to
	// driver_volume_type (older releases nest it under "data").
	data, _ := info["data"].(map[string]any)
	if data == nil {
		data = info
	}
	if t := info["driver_volume_type"]; t != mount.DriverVolumeTypeNFS {
		return fmt.Errorf("volume %s: the stand-in plugs NFS volumes only, not %v", volumeID, t)
	}
	dev, err := h.disk.Connect(ctx, volumeID, data)
	if err != nil {
		return fmt.Errorf("plug volume %s into server %s: %w", volumeID, serverID, err)
	}
	if err := os.Symlink(dev, linkOf(m, volumeID)); err != nil && !os.IsExist(err) {
		return err
	}
	m.disks[volumeID] = dev
	klog.V(2).InfoS("Hypervisor: plugged", "serverID", serverID, "volumeID", volumeID, "device", dev)
	return m.show(volumeID)
}

func (h *Hypervisor) unplug(ctx context.Context, m *vm, volumeID string) error {
	if err := os.Remove(linkOf(m, volumeID)); err != nil && !os.IsNotExist(err) {
		return err
	}
	delete(m.disks, volumeID)
	if err := m.hide(volumeID); err != nil {
		return err
	}
	if err := h.disk.Disconnect(ctx, volumeID); err != nil {
		return fmt.Errorf("unplug volume %s: %w", volumeID, err)
	}
	klog.V(2).InfoS("Hypervisor: unplugged", "volumeID", volumeID)
	return nil
}

func linkOf(m *vm, volumeID string) string {
	return filepath.Join(m.devDir, "virtio-"+volumeID[:min(20, len(volumeID))])
}
