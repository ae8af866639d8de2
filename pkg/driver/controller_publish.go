package driver

import (
	"context"
	"errors"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"k8s.io/klog/v2"
)

// ControllerPublishVolume attaches a volume to a node through the configured attach
// path and hands the node what it needs to find the device.
func (d *Driver) ControllerPublishVolume(ctx context.Context, req *csi.ControllerPublishVolumeRequest) (*csi.ControllerPublishVolumeResponse, error) {
	a, err := d.validateControllerPublish(req)
	if err != nil {
		return nil, err
	}
	unlock, err := d.lockVolume(a.volumeID)
	if err != nil {
		return nil, err
	}
	defer unlock()

	vol, err := d.deps.Cloud.GetVolume(ctx, a.volumeID)
	if err != nil {
		return nil, toStatus(err, "getting volume %s", a.volumeID)
	}
	if a.cap.multiNode() && !vol.Multiattach {
		return nil, invalid("access mode %s needs a multiattach volume, and volume %s (type %q) is not one", a.cap.mode, a.volumeID, vol.VolumeType)
	}
	// Nova enforces its own limit ([compute] max_disk_devices_to_attach, refused as
	// ResourceExhausted) and counts the boot disk, which Kubernetes does not: the
	// guard is for the Cinder-attachments path, where nothing else counts.
	if d.opts.Attacher == AttacherCinder && !vol.AttachedTo(a.nodeID) {
		release, err := d.reserveAttachSlot(ctx, a.nodeID)
		if err != nil {
			return nil, err
		}
		defer release()
	}
	att, err := d.deps.Attacher.Attach(ctx, vol, a.node)
	if err != nil {
		return nil, toStatus(err, "attaching volume %s to node %s", a.volumeID, a.nodeID)
	}
	klog.InfoS("Attached volume", "volumeID", a.volumeID, "nodeID", a.nodeID, "attachmentID", att.AttachmentID, "device", att.DevicePath)
	pc, err := d.publishContext(att)
	if err != nil {
		return nil, err
	}
	return &csi.ControllerPublishVolumeResponse{PublishContext: pc}, nil
}

// reserveAttachSlot refuses a new attachment beyond the node's attach limit, counting
// the attachments Cinder shows and those this controller has in flight (attachSlots).
// The scheduler honours the limit NodeGetInfo reports; this guards the cloud against
// any caller that does not. The returned function frees the slot once attached.
func (d *Driver) reserveAttachSlot(ctx context.Context, nodeID string) (func(), error) {
	others, release := d.slots.take(nodeID)
	ids, err := d.deps.Attacher.AttachedVolumes(ctx, nodeID, false)
	if err == nil && len(ids)+others >= d.deps.MaxVolumesPerNode {
		// The attacher may have answered from memory: a refusal rests on Cinder.
		ids, err = d.deps.Attacher.AttachedVolumes(ctx, nodeID, true)
	}
	if err != nil {
		release()
		return nil, toStatus(err, "listing volumes attached to node %s", nodeID)
	}
	if len(ids)+others >= d.deps.MaxVolumesPerNode {
		release()
		return nil, exhausted("node %s has %d volumes attached and %d more being attached, its limit is %d (--max-volumes-per-node or cloud.conf node-volume-attach-limit); detach one first",
			nodeID, len(ids), others, d.deps.MaxVolumesPerNode)
	}
	return release, nil
}

// ControllerUnpublishVolume detaches; a missing volume, node or attachment is success.
func (d *Driver) ControllerUnpublishVolume(ctx context.Context, req *csi.ControllerUnpublishVolumeRequest) (*csi.ControllerUnpublishVolumeResponse, error) {
	a, err := d.validateControllerUnpublish(req)
	if err != nil {
		if errors.Is(err, errNotFound) {
			return &csi.ControllerUnpublishVolumeResponse{}, nil
		}
		return nil, err
	}
	unlock, err := d.lockVolume(a.volumeID)
	if err != nil {
		return nil, err
	}
	defer unlock()
	nodes := []string{a.nodeID}
	if a.nodeID == "" { // the CSI spec: detach from every node
		vol, err := d.deps.Cloud.GetVolume(ctx, a.volumeID)
		if err != nil {
			return nil, toStatus(err, "getting volume %s", a.volumeID)
		}
		nodes = vol.Nodes()
	}
	for _, n := range nodes {
		if err := d.deps.Attacher.Detach(ctx, a.volumeID, n); err != nil {
			return nil, toStatus(err, "detaching volume %s from node %s", a.volumeID, n)
		}
		klog.InfoS("Detached volume", "volumeID", a.volumeID, "nodeID", n)
	}
	return &csi.ControllerUnpublishVolumeResponse{}, nil
}
