package driver

import (
	"context"
	"errors"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"k8s.io/klog/v2"

	"github.com/cinder-csi/cinder-csi-driver/pkg/cinder"
)

// CSI inline ephemeral volumes: kubelet calls NodePublishVolume and
// NodeUnpublishVolume only, with its own handle as the volume ID, so the node plugin
// does what the controller and NodeStageVolume do for a persistent volume: create,
// attach, connect, format and mount, and in reverse on unpublish. See docs/ephemeral.md.

// ephemeralCleanupTimeout bounds undoing a failed publish, which runs even when the
// request's own deadline has passed.
const ephemeralCleanupTimeout = 2 * time.Minute

func (d *Driver) ephemeralEnabled() bool {
	return d.opts.Ephemeral && d.opts.Mode != ModeController
}

// lockEphemeral serialises the operations on one inline volume. Its key space is apart
// from the persistent volumes', whose IDs are Cinder UUIDs.
func (d *Driver) lockEphemeral(handle string) (func(), error) {
	return d.locks.tryLock("ephemeral/"+handle, "inline ephemeral volume "+handle)
}

// publishEphemeral finds or creates the pod's Cinder volume, attaches it to this node,
// mounts it at a private staging directory and bind-mounts that at the target. A
// failure after the volume exists undoes everything, so a pod whose publish fails for
// good (and that kubelet will never unpublish) leaks nothing.
func (d *Driver) publishEphemeral(ctx context.Context, req *csi.NodePublishVolumeRequest) (*csi.NodePublishVolumeResponse, error) {
	a, err := d.validateEphemeralPublish(req)
	if err != nil {
		return nil, err
	}
	unlock, err := d.lockEphemeral(a.handle)
	if err != nil {
		return nil, err
	}
	defer unlock()

	// A published volume is left as it is: a retry must not touch a running pod's data,
	// and so the undo below only ever runs on a volume that no pod uses yet.
	mounted, err := d.deps.Mounter.IsMountPoint(a.targetPath)
	if err != nil {
		return nil, toStatus(err, "checking target path %s", a.targetPath)
	}
	if mounted {
		klog.V(4).InfoS("Inline ephemeral volume already published", "handle", a.handle, "targetPath", a.targetPath)
		return &csi.NodePublishVolumeResponse{}, nil
	}
	vol, err := d.findOrCreateEphemeral(ctx, a)
	if err != nil {
		return nil, err
	}
	if err := d.mountEphemeral(ctx, a, vol); err != nil {
		d.undoEphemeral(ctx, a, vol)
		return nil, err
	}
	klog.InfoS("Published inline ephemeral volume", "handle", a.handle, "volumeID", vol.ID, "sizeGiB", vol.SizeGiB,
		"fsType", a.fsType, "targetPath", a.targetPath, "podNamespace", a.podNS, "podName", a.podName)
	return &csi.NodePublishVolumeResponse{}, nil
}

// findOrCreateEphemeral returns the handle's volume, creating it within the per-node
// count cap. Cinder names are not unique; the per-handle lock keeps this plugin from
// creating two.
func (d *Driver) findOrCreateEphemeral(ctx context.Context, a ephemeralArgs) (*cinder.Volume, error) {
	name := ephemeralName(a.handle)
	vol, err := d.findEphemeral(ctx, name)
	if err != nil || vol != nil {
		return vol, err
	}
	// Counting and creating are one step per node: without it, two pods starting at
	// once could both pass the cap. The other one gets Aborted and kubelet retries.
	unlock, err := d.locks.tryLock("ephemeral-create", "creating an inline ephemeral volume on this node")
	if err != nil {
		return nil, err
	}
	defer unlock()
	if err := d.checkEphemeralCount(ctx); err != nil {
		return nil, err
	}
	opts := cinder.CreateVolumeOpts{Name: name, SizeGiB: a.sizeGiB, VolumeType: a.volumeType, Metadata: d.ephemeralMetadata(a)}
	if d.zoneTopology() {
		// The volume must be where the node can attach it, as CreateVolume's topology does.
		opts.AvailabilityZone = d.deps.Node.Zone
	}
	vol, err = d.deps.NodeCloud.CreateVolume(ctx, opts)
	if err != nil {
		return nil, toStatus(err, "creating inline ephemeral volume %q (%d GiB, type %q)", name, a.sizeGiB, a.volumeType)
	}
	klog.InfoS("Created inline ephemeral volume", "handle", a.handle, "volumeID", vol.ID, "sizeGiB", vol.SizeGiB, "type", vol.VolumeType,
		"nodeID", d.deps.Node.ID, "podNamespace", a.podNS, "podName", a.podName)
	return vol, nil
}

// findEphemeral returns a usable volume of this name, nil when there is none
// (findByName); one of the name that is not this node's inline ephemeral volume
// is FailedPrecondition.
func (d *Driver) findEphemeral(ctx context.Context, name string) (*cinder.Volume, error) {
	return findByName(ctx, d.deps.NodeCloud, name, "inline ephemeral volume", func(v *cinder.Volume) error {
		if !d.ownsEphemeral(v.Metadata) {
			return failedPrecondition("volume %s is named %q but is not tagged as an inline ephemeral volume of node %s (metadata %s): delete or rename it",
				v.ID, name, d.deps.Node.ID, metaNode)
		}
		return nil
	})
}

// checkEphemeralCount refuses a new volume beyond --ephemeral-max-per-node. The count
// comes from Cinder, so it holds across restarts and counts leaked volumes too.
func (d *Driver) checkEphemeralCount(ctx context.Context) error {
	vols, err := d.nodeEphemeralVolumes(ctx)
	if err != nil {
		return toStatus(err, "counting the inline ephemeral volumes of node %s", d.deps.Node.ID)
	}
	if len(vols) >= d.opts.EphemeralMaxPerNode {
		return exhausted("node %s already has %d inline ephemeral volumes, its limit (--ephemeral-max-per-node); "+
			"wait for pods using them to end, or use generic ephemeral volumes", d.deps.Node.ID, len(vols))
	}
	return nil
}

// mountEphemeral does what ControllerPublishVolume, NodeStageVolume and
// NodePublishVolume do for a persistent volume; every step is idempotent.
func (d *Driver) mountEphemeral(ctx context.Context, a ephemeralArgs, vol *cinder.Volume) error {
	att, err := d.deps.NodeAttacher.Attach(ctx, vol, d.attachNode())
	if err != nil {
		return toStatus(err, "attaching inline ephemeral volume %s to node %s", vol.ID, d.deps.Node.ID)
	}
	device, err := d.connect(ctx, "stage", a.fsType, vol.ID, d.localHandover(att))
	if err != nil {
		return err
	}
	staging := d.ephemeralStagingPath(a.handle)
	if err := d.deps.Mounter.FormatAndMount(ctx, device, staging, a.fsType, a.mountFlags, nil); err != nil {
		return toStatus(err, "mounting inline ephemeral volume %s (%s) at %s", vol.ID, device, staging)
	}
	if err := d.deps.Mounter.BindMount(staging, a.targetPath, a.readOnly, a.mountFlags); err != nil {
		return toStatus(err, "publishing inline ephemeral volume %s at %s", vol.ID, a.targetPath)
	}
	return nil
}

// undoEphemeral tears down a failed publish, even when the request was cancelled.
func (d *Driver) undoEphemeral(ctx context.Context, a ephemeralArgs, vol *cinder.Volume) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), ephemeralCleanupTimeout)
	defer cancel()
	err := d.unmountEphemeral(a.handle, a.targetPath)
	if err == nil {
		err = d.deleteEphemeral(ctx, a.handle, []cinder.Volume{*vol})
	}
	if err != nil {
		klog.ErrorS(err, "Could not undo a failed inline ephemeral publish; the next publish or unpublish of the volume, or leak collection at start-up, retries",
			"handle", a.handle, "volumeID", vol.ID)
		return
	}
	klog.InfoS("Undid a failed inline ephemeral publish", "handle", a.handle, "volumeID", vol.ID)
}

// unpublishEphemeral unmounts the pod's volume and deletes it. Each step tolerates
// having been done, so a retry after any failure, or after a restart, finishes the job.
func (d *Driver) unpublishEphemeral(ctx context.Context, req *csi.NodeUnpublishVolumeRequest) (*csi.NodeUnpublishVolumeResponse, error) {
	handle, target := req.GetVolumeId(), req.GetTargetPath()
	if err := checkPath("target_path", target); err != nil {
		return nil, err
	}
	unlock, err := d.lockEphemeral(handle)
	if err != nil {
		return nil, err
	}
	defer unlock()
	// Unmounting first frees the pod even when the cloud is unreachable.
	if err := d.unmountEphemeral(handle, target); err != nil {
		return nil, err
	}
	vols, err := d.ownedEphemeral(ctx, handle)
	if err != nil {
		return nil, err
	}
	if err := d.deleteEphemeral(ctx, handle, vols); err != nil {
		return nil, err
	}
	klog.InfoS("Unpublished inline ephemeral volume", "handle", handle, "targetPath", target, "deleted", len(vols))
	return &csi.NodeUnpublishVolumeResponse{}, nil
}

// ownedEphemeral returns the volumes of handle that this node made; any other volume
// that happens to carry the name is left alone.
func (d *Driver) ownedEphemeral(ctx context.Context, handle string) ([]cinder.Volume, error) {
	name := ephemeralName(handle)
	vols, err := d.deps.NodeCloud.FindVolumesByName(ctx, name)
	if err != nil {
		return nil, toStatus(err, "looking up volumes named %q", name)
	}
	var out []cinder.Volume
	for _, v := range vols {
		if d.ownsEphemeral(v.Metadata) {
			out = append(out, v)
		} else {
			klog.InfoS("Leaving a volume that is not this node's inline ephemeral volume", "volumeID", v.ID, "name", name)
		}
	}
	return out, nil
}

// unmountEphemeral unmounts the pod's bind mount (target "" skips it) and then the
// private staging mount; both directories are removed.
func (d *Driver) unmountEphemeral(handle, target string) error {
	if target != "" {
		if err := d.deps.Mounter.Unmount(target); err != nil {
			return toStatus(err, "unmounting inline ephemeral volume %s from %s", handle, target)
		}
	}
	staging := d.ephemeralStagingPath(handle)
	if err := d.deps.Mounter.Unmount(staging); err != nil {
		return toStatus(err, "unmounting inline ephemeral volume %s from %s", handle, staging)
	}
	return nil
}

// deleteEphemeral disconnects, detaches and deletes unmounted volumes. It stops at the
// first failure, so that a volume is never deleted while its device is still in use.
func (d *Driver) deleteEphemeral(ctx context.Context, handle string, vols []cinder.Volume) error {
	for _, v := range vols {
		for name, loc := range d.deps.Locators {
			if err := loc.Disconnect(ctx, v.ID); err != nil {
				return toStatus(err, "disconnecting inline ephemeral volume %s (%s path)", v.ID, name)
			}
		}
		if err := d.deps.NodeAttacher.Detach(ctx, v.ID, d.deps.Node.ID); err != nil {
			return toStatus(err, "detaching inline ephemeral volume %s from node %s", v.ID, d.deps.Node.ID)
		}
		if err := d.deps.NodeCloud.DeleteVolume(ctx, v.ID); err != nil && !errors.Is(err, cinder.ErrNotFound) {
			return toStatus(err, "deleting inline ephemeral volume %s", v.ID)
		}
		klog.InfoS("Deleted inline ephemeral volume", "handle", handle, "volumeID", v.ID, "nodeID", d.deps.Node.ID)
	}
	return nil
}
