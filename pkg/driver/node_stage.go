package driver

import (
	"context"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"k8s.io/klog/v2"

	"github.com/cinder-csi/cinder-csi-driver/pkg/mount"
)

const defaultFSType = "ext4"

// deviceWait bounds the wait for a device when the CO sent no deadline: a disk that
// has not appeared by then will not, and the CO retries the call anyway.
const deviceWait = 2 * time.Minute

// connect finds the volume's device, within the request's deadline or deviceWait;
// a failure is counted for op (stage, publish) and fsType.
func (d *Driver) connect(ctx context.Context, op, fsType, volumeID string, h handover) (string, error) {
	loc, err := d.locator(h.attacher)
	if err != nil {
		return "", err
	}
	if h, err = d.unsealConnection(volumeID, h); err != nil {
		return "", err
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, deviceWait)
		defer cancel()
	}
	started := time.Now()
	device, err := loc.Connect(ctx, volumeID, h.att)
	if err != nil {
		return "", toStatus(d.nodeFailed(op, fsType, "connect", err), "finding the device of volume %s", volumeID)
	}
	d.deps.Metrics.DeviceFound(time.Since(started))
	return device, nil
}

// locator picks the device locator for the attach path the controller used.
func (d *Driver) locator(path string) (mount.DeviceLocator, error) {
	if path == "" {
		path = d.opts.Attacher
	}
	l, ok := d.deps.Locators[path]
	if !ok {
		return nil, invalid("this node plugin cannot reach volumes attached through %q; it serves %q", path, d.opts.Attacher)
	}
	return l, nil
}

// NodeStageVolume finds the volume's device and, for filesystem volumes, formats it
// when blank, mounts it at the staging path and grows the filesystem when the volume
// is larger than it (a volume restored or cloned into a bigger size).
func (d *Driver) NodeStageVolume(ctx context.Context, req *csi.NodeStageVolumeRequest) (*csi.NodeStageVolumeResponse, error) {
	a, err := validateNodeStage(req)
	if err != nil {
		return nil, err
	}
	unlock, err := d.lockNodeVolume(a.volumeID)
	if err != nil {
		return nil, err
	}
	defer unlock()

	fsType := publishFSType(a.cap)
	device, err := d.connect(ctx, "stage", fsType, a.volumeID, a.handover)
	if err != nil {
		return nil, err
	}
	if a.cap.block {
		klog.InfoS("Staged block volume", "volumeID", a.volumeID, "device", device)
		return &csi.NodeStageVolumeResponse{}, nil
	}
	mounted, err := d.deps.Mounter.IsMountPoint(a.stagingPath)
	if err != nil {
		return nil, toStatus(err, "checking staging path %s", a.stagingPath)
	}
	if !mounted {
		// A volume restored or cloned into a larger size, or expanded while detached,
		// is grown before it is mounted: offline growth works everywhere.
		if _, err := d.deps.Mounter.GrowUnmounted(ctx, device); err != nil {
			return nil, toStatus(d.nodeFailed("stage", fsType, "resize", err), "growing the filesystem of volume %s on %s", a.volumeID, device)
		}
	}
	if err := d.deps.Mounter.FormatAndMount(ctx, device, a.stagingPath, fsType, a.cap.mountFlags, a.mkfsOptions); err != nil {
		return nil, toStatus(d.nodeFailed("stage", fsType, "mount", err), "mounting volume %s (%s) at %s", a.volumeID, device, a.stagingPath)
	}
	grown, err := d.deps.Mounter.ResizeFS(ctx, device, a.stagingPath)
	if err != nil {
		return nil, toStatus(d.nodeFailed("stage", fsType, "resize", err), "growing the filesystem of volume %s to its device size", a.volumeID)
	}
	klog.InfoS("Staged volume", "volumeID", a.volumeID, "device", device, "stagingPath", a.stagingPath, "fsType", fsType, "grown", grown)
	return &csi.NodeStageVolumeResponse{}, nil
}

// NodeUnstageVolume unmounts the staging path and undoes what staging connected (loop
// devices included). It derives what to undo from the system, so it works after a
// restart of the node plugin.
func (d *Driver) NodeUnstageVolume(ctx context.Context, req *csi.NodeUnstageVolumeRequest) (*csi.NodeUnstageVolumeResponse, error) {
	id, staging, err := validateNodeUnstage(req)
	if err != nil {
		return nil, err
	}
	unlock, err := d.lockNodeVolume(id)
	if err != nil {
		return nil, err
	}
	defer unlock()
	if err := d.deps.Mounter.Unmount(staging); err != nil {
		return nil, toStatus(err, "unmounting volume %s from %s", id, staging)
	}
	for name, loc := range d.deps.Locators {
		if err := loc.Disconnect(ctx, id); err != nil {
			return nil, toStatus(err, "disconnecting volume %s (%s path)", id, name)
		}
	}
	klog.InfoS("Unstaged volume", "volumeID", id, "stagingPath", staging)
	return &csi.NodeUnstageVolumeResponse{}, nil
}
