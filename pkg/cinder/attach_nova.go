package cinder

import (
	"context"
	"errors"
	"fmt"

	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/volumeattach"
	"k8s.io/klog/v2"
)

// NovaAttacher returns the Attacher for clouds with Nova: node IDs are Nova
// instance UUIDs and Nova plugs the volume into the instance, where it shows up
// as a disk. On a cloud without Nova every call fails with ErrNotSupported.
func (c *Client) NovaAttacher() Attacher { return &novaAttacher{c: c} }

type novaAttacher struct{ c *Client }

// Attach implements Attacher. Nova has the volume reserved in Cinder before it
// answers the POST, so a volume that is "available" afterwards, and not attached,
// means the attach failed on the compute host.
func (a *novaAttacher) Attach(ctx context.Context, volumeID, serverID string) (*Attachment, error) {
	nova, err := a.c.nova(mvNovaBase)
	if err != nil {
		return nil, fmt.Errorf("attach volume %s to server %s: %w", volumeID, serverID, err)
	}
	v, err := a.c.GetVolume(ctx, volumeID)
	if err != nil {
		return nil, fmt.Errorf("attach: %w", err)
	}
	if att, ok := attachmentOf(v, serverID); ok {
		return novaAttachment(volumeID, serverID, att, ""), nil
	}
	if err := checkNotElsewhere(v, serverID); err != nil {
		return nil, err
	}

	device := ""
	if existing, err := volumeattach.Get(ctx, nova, serverID, volumeID).Extract(); err == nil {
		// An earlier call's attach is still under way: wait for it, do not ask twice.
		device = existing.Device
	} else {
		created, err := volumeattach.Create(ctx, nova, serverID, volumeattach.CreateOpts{VolumeID: volumeID}).Extract()
		if err != nil {
			return nil, fmt.Errorf("attach volume %s to server %s: %w", volumeID, serverID, mapError(err))
		}
		device = created.Device
		klog.V(4).InfoS("Nova accepted the attachment", "volumeID", volumeID, "nodeID", serverID, "device", device)
	}

	att, err := a.c.waitAttached(ctx, volumeID, serverID, func(v *Volume) bool { return v.Status == StatusAvailable })
	if err != nil {
		return nil, fmt.Errorf("attach: %w", err)
	}
	klog.V(2).InfoS("Volume attached", "volumeID", volumeID, "nodeID", serverID, "device", firstNonEmpty(device, att.Device))
	return novaAttachment(volumeID, serverID, att, device), nil
}

func novaAttachment(volumeID, serverID string, att VolumeAttachment, device string) *Attachment {
	return &Attachment{
		VolumeID:     volumeID,
		NodeID:       serverID,
		AttachmentID: att.AttachmentID,
		DevicePath:   firstNonEmpty(device, att.Device),
	}
}

// Detach implements Attacher.
func (a *novaAttacher) Detach(ctx context.Context, volumeID, serverID string) error {
	nova, err := a.c.nova(mvNovaBase)
	if err != nil {
		return fmt.Errorf("detach volume %s from server %s: %w", volumeID, serverID, err)
	}
	v, err := a.c.GetVolume(ctx, volumeID)
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("detach: %w", err)
	}
	_, attached := attachmentOf(v, serverID)
	if !attached && !inFlight(v.Status) {
		return nil
	}
	// "detaching" is an earlier call's detach under way: asking again would be
	// refused, so just wait for it.
	if v.Status != StatusDetaching {
		err := volumeattach.Delete(ctx, nova, serverID, volumeID).ExtractErr()
		if isNotFound(err) {
			// The server is gone or the volume is not attached to it.
			return nil
		}
		if err != nil {
			return fmt.Errorf("detach volume %s from server %s: %w", volumeID, serverID, mapError(err))
		}
		klog.V(4).InfoS("Nova accepted the detachment", "volumeID", volumeID, "nodeID", serverID)
	}
	if err := a.c.waitDetached(ctx, volumeID, serverID); err != nil {
		return fmt.Errorf("detach: %w", err)
	}
	klog.V(2).InfoS("Volume detached", "volumeID", volumeID, "nodeID", serverID)
	return nil
}

// AttachedVolumes implements Attacher from Nova's list of the server's volumes.
func (a *novaAttacher) AttachedVolumes(ctx context.Context, serverID string) ([]string, error) {
	nova, err := a.c.nova(mvNovaBase)
	if err != nil {
		return nil, fmt.Errorf("list volumes of server %s: %w", serverID, err)
	}
	pages, err := volumeattach.List(nova, serverID).AllPages(ctx)
	if err != nil {
		return nil, fmt.Errorf("list volumes of server %s: %w", serverID, mapError(err))
	}
	list, err := volumeattach.ExtractVolumeAttachments(pages)
	if err != nil {
		return nil, fmt.Errorf("list volumes of server %s: %w", serverID, err)
	}
	ids := make([]string, 0, len(list))
	for _, va := range list {
		ids = append(ids, va.VolumeID)
	}
	return ids, nil
}
