package driver

import (
	"context"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"k8s.io/klog/v2"
)

// NodePublishVolume bind-mounts the staged filesystem (or, for raw block, the device
// file) at the pod's target path, read-only when asked. Inline ephemeral volumes, when
// enabled, are created and mounted by publishEphemeral instead.
func (d *Driver) NodePublishVolume(ctx context.Context, req *csi.NodePublishVolumeRequest) (*csi.NodePublishVolumeResponse, error) {
	if d.ephemeralEnabled() && isEphemeralRequest(req.GetVolumeContext()) {
		return d.publishEphemeral(ctx, req)
	}
	a, err := validateNodePublish(req)
	if err != nil {
		return nil, err
	}
	unlock, err := d.lockNodeVolume(a.volumeID)
	if err != nil {
		return nil, err
	}
	defer unlock()

	source := a.stagingPath
	var flags []string
	if a.cap.block {
		// Connecting is idempotent: it finds the device NodeStageVolume connected.
		var err error
		if source, err = d.connect(ctx, "publish", "block", a.volumeID, a.handover); err != nil {
			return nil, err
		}
		if err := d.checkSingleWriter(a, source); err != nil {
			return nil, err
		}
	} else {
		mounted, err := d.deps.Mounter.IsMountPoint(a.stagingPath)
		if err != nil {
			return nil, toStatus(err, "checking staging path %s", a.stagingPath)
		}
		if !mounted {
			return nil, failedPrecondition("volume %s is not staged at %s: call NodeStageVolume first", a.volumeID, a.stagingPath)
		}
		flags = a.cap.mountFlags
		if err := d.checkSingleWriter(a, a.stagingPath); err != nil {
			return nil, err
		}
	}
	if err := d.deps.Mounter.BindMount(source, a.targetPath, a.readOnly, flags); err != nil {
		return nil, toStatus(d.nodeFailed("publish", publishFSType(a.cap), "mount", err), "publishing volume %s at %s", a.volumeID, a.targetPath)
	}
	klog.InfoS("Published volume", "volumeID", a.volumeID, "targetPath", a.targetPath, "readOnly", a.readOnly, "block", a.cap.block)
	return &csi.NodePublishVolumeResponse{}, nil
}

// NodeUnpublishVolume unmounts and removes the target path; an absent one is success.
// An inline ephemeral volume (a kubelet handle, not a Cinder UUID) is also deleted.
func (d *Driver) NodeUnpublishVolume(ctx context.Context, req *csi.NodeUnpublishVolumeRequest) (*csi.NodeUnpublishVolumeResponse, error) {
	if d.ephemeralEnabled() && isEphemeralHandle(req.GetVolumeId()) {
		return d.unpublishEphemeral(ctx, req)
	}
	id, target, err := validateNodeUnpublish(req)
	if err != nil {
		return nil, err
	}
	unlock, err := d.lockNodeVolume(id)
	if err != nil {
		return nil, err
	}
	defer unlock()
	if err := d.deps.Mounter.Unmount(target); err != nil {
		return nil, toStatus(err, "unpublishing volume %s from %s", id, target)
	}
	klog.InfoS("Unpublished volume", "volumeID", id, "targetPath", target)
	return &csi.NodeUnpublishVolumeResponse{}, nil
}

// checkSingleWriter enforces ReadWriteOncePod on the node: a SINGLE_NODE_SINGLE_WRITER
// volume may be published at one target path only.
func (d *Driver) checkSingleWriter(a nodePublishArgs, source string) error {
	if a.cap.mode != csi.VolumeCapability_AccessMode_SINGLE_NODE_SINGLE_WRITER {
		return nil
	}
	refs, err := d.deps.Mounter.MountRefs(source)
	if err != nil {
		return toStatus(err, "checking where volume %s is published", a.volumeID)
	}
	for _, r := range refs {
		if r != a.targetPath {
			return failedPrecondition("volume %s has access mode SINGLE_NODE_SINGLE_WRITER and is already published at %s; unpublish it there first", a.volumeID, r)
		}
	}
	return nil
}
