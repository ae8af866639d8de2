package driver

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"k8s.io/klog/v2"

	"github.com/cinder-csi/cinder-csi-driver/pkg/cinder"
)

// ephemeralListPage is the page size for listing volumes; Cinder's default
// osapi_max_limit is 1000.
const ephemeralListPage = 500

// ephemeralCollectTimeout bounds leak collection at start-up: it must not keep the
// node plugin from serving persistent volumes when the cloud is slow.
const ephemeralCollectTimeout = 2 * time.Minute

// nodeEphemeralVolumes lists this node's inline ephemeral volumes by their metadata.
// Cinder is asked rather than memory, so the answer survives restarts and includes
// leaked volumes.
func (d *Driver) nodeEphemeralVolumes(ctx context.Context) ([]cinder.Volume, error) {
	var out []cinder.Volume
	marker := ""
	for {
		vols, next, err := d.deps.NodeCloud.ListVolumes(ctx, cinder.ListOpts{Marker: marker, Limit: ephemeralListPage})
		if err != nil {
			return nil, err
		}
		for _, v := range vols {
			if strings.HasPrefix(v.Name, ephemeralPrefix) && d.ownsEphemeral(v.Metadata) {
				out = append(out, v)
			}
		}
		if next == "" || next == marker {
			return out, nil
		}
		marker = next
	}
}

// CollectEphemeralLeaks tears down this node's inline ephemeral volumes that no pod
// uses any more: those whose recorded target path is not a mount point (the node
// rebooted, or kubelet lost track of the pod), attached or not. It runs before the
// node plugin serves, so no publish is in flight; volumes whose target is still
// mounted, or cannot be checked, are kept. Errors are collected, not fatal.
func (d *Driver) CollectEphemeralLeaks(ctx context.Context) error {
	if !d.ephemeralEnabled() {
		return nil
	}
	vols, err := d.nodeEphemeralVolumes(ctx)
	if err != nil {
		return toStatus(err, "listing the inline ephemeral volumes of node %s", d.deps.Node.ID)
	}
	klog.InfoS("Looking for leaked inline ephemeral volumes", "nodeID", d.deps.Node.ID, "volumes", len(vols))
	var errs []error
	collected := 0
	for _, v := range vols {
		if done, err := d.collectEphemeral(ctx, v); err != nil {
			errs = append(errs, err)
		} else if done {
			collected++
		}
	}
	klog.InfoS("Leaked inline ephemeral volumes collected", "nodeID", d.deps.Node.ID, "collected", collected,
		"kept", len(vols)-collected-len(errs), "failed", len(errs))
	return errors.Join(errs...)
}

// collectEphemeral tears v down when its pod is gone and reports whether it did.
func (d *Driver) collectEphemeral(ctx context.Context, v cinder.Volume) (bool, error) {
	handle := strings.TrimPrefix(v.Name, ephemeralPrefix)
	target := v.Metadata[metaTargetPath]
	if !isEphemeralHandle(handle) || checkPath("target path", target) != nil {
		klog.InfoS("Keeping an inline ephemeral volume whose name or target path metadata is not this driver's", "volumeID", v.ID, "name", v.Name)
		return false, nil
	}
	mounted, err := d.deps.Mounter.IsMountPoint(target)
	if err != nil || mounted {
		klog.V(2).InfoS("Keeping an inline ephemeral volume in use", "volumeID", v.ID, "handle", handle, "targetPath", target, "err", err)
		return false, nil
	}
	unlock, err := d.lockEphemeral(handle)
	if err != nil {
		return false, err
	}
	defer unlock()
	klog.InfoS("Collecting a leaked inline ephemeral volume: its target is not mounted", "volumeID", v.ID, "handle", handle, "targetPath", target,
		"status", v.Status, "attached", len(v.Attachments) > 0, "podNamespace", v.Metadata[metaPodNamespace], "podName", v.Metadata[metaPodName])
	// The target is not a mount point; it stays for kubelet, which owns the pod's directories.
	if err := d.unmountEphemeral(handle, ""); err != nil {
		return false, fmt.Errorf("volume %s: %w", v.ID, err)
	}
	if err := d.deleteEphemeral(ctx, handle, []cinder.Volume{v}); err != nil {
		return false, fmt.Errorf("volume %s: %w", v.ID, err)
	}
	return true, nil
}

// collectEphemeralAtStart runs leak collection once before the node plugin serves.
func (d *Driver) collectEphemeralAtStart(ctx context.Context) {
	if !d.ephemeralEnabled() {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, ephemeralCollectTimeout)
	defer cancel()
	if err := d.CollectEphemeralLeaks(ctx); err != nil {
		klog.ErrorS(err, "Leak collection of inline ephemeral volumes did not finish; serving anyway, the next start retries", "nodeID", d.deps.Node.ID)
	}
}
