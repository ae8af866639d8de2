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

// ephemeralCollectTimeout bounds leak collection at start-up: it must not keep the
// node plugin from serving persistent volumes when the cloud is slow.
const ephemeralCollectTimeout = 2 * time.Minute

// nodeEphemeralVolumes lists this node's inline ephemeral volumes by their metadata.
// Cinder is asked rather than memory, so the answer survives restarts and includes
// leaked volumes.
func (d *Driver) nodeEphemeralVolumes(ctx context.Context) ([]cinder.Volume, error) {
	// One filtered query (Cinder's metadata filter), not a walk through the project;
	// the cluster is checked here, as it may be absent from the metadata.
	vols, err := d.deps.NodeCloud.FindVolumesByMetadata(ctx, map[string]string{metaEphemeral: "true", metaNode: d.deps.Node.ID})
	if err != nil {
		return nil, err
	}
	var out []cinder.Volume
	for _, v := range vols {
		if strings.HasPrefix(v.Name, ephemeralPrefix) && d.ownsEphemeral(v.Metadata) {
			out = append(out, v)
		}
	}
	return out, nil
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
	d.deps.Metrics.Repair(repairInlineLeak)
	return true, nil
}

// repairInlineLeak counts, in cinder_csi_repairs_total, the inline ephemeral
// volumes collected because no pod used them any more.
const repairInlineLeak = "inline-volume-leak"

// NodeRepairKinds are the repair kinds the node plugin reports, beside the cloud's.
var NodeRepairKinds = []string{repairInlineLeak}

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
