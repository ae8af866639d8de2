package cinder

import (
	"context"
	"errors"
	"fmt"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/volumeattach"
	"k8s.io/klog/v2"
)

// NovaAttacher returns the Attacher for clouds with Nova: node IDs are Nova
// instance UUIDs and Nova plugs the volume into the instance, where it shows up
// as a disk. On a cloud without Nova every call fails with ErrNotSupported.
//
// API calls on the usual paths: an attach is one Nova POST and the Cinder GETs of
// the wait (the caller has read the volume); a detach is one Cinder GET, one Nova DELETE and the wait.
// Only a volume in an unexpected state (attached elsewhere, reserved, stuck) costs
// the calls that tell a live attachment from a stale one.
func (c *Client) NovaAttacher() Attacher { return &novaAttacher{c: c} }

type novaAttacher struct{ c *Client }

// Attach implements Attacher. Nova has the volume reserved in Cinder before it
// answers the POST, so a volume that is "available" afterwards, and not attached,
// means the attach failed on the compute host.
func (a *novaAttacher) Attach(ctx context.Context, v *Volume, node Node) (*Attachment, error) {
	volumeID, serverID := v.ID, node.ID
	nova, err := a.c.nova(mvNovaBase)
	if err != nil {
		return nil, fmt.Errorf("attach volume %s to server %s: %w", volumeID, serverID, err)
	}
	if att, ok := attachmentOf(v, serverID); ok {
		return novaAttachment(volumeID, serverID, att, ""), nil
	}

	inFlightHere := false
	if v.Status != StatusAvailable || len(v.Attachments) > 0 {
		// Attached elsewhere, reserved or half-way: find out which attachments Nova
		// still stands behind, and drop those it has forgotten.
		if inFlightHere, err = a.clearStale(ctx, nova, volumeID, serverID); err != nil {
			return nil, fmt.Errorf("attach: %w", err)
		}
		if v, err = a.c.GetVolume(ctx, volumeID); err != nil {
			return nil, fmt.Errorf("attach: %w", err)
		}
		if att, ok := attachmentOf(v, serverID); ok {
			return novaAttachment(volumeID, serverID, att, ""), nil
		}
		if err := checkNotElsewhere(v, serverID); err != nil {
			return nil, err
		}
	}

	device := ""
	if !inFlightHere {
		created, err := volumeattach.Create(ctx, nova, serverID, volumeattach.CreateOpts{VolumeID: volumeID}).Extract()
		if err != nil {
			return nil, fmt.Errorf("attach volume %s to server %s: %w", volumeID, serverID, mapError(err))
		}
		device = created.Device
		klog.V(4).InfoS("Nova accepted the attachment", "volumeID", volumeID, "nodeID", serverID, "device", device)
	}
	// else an earlier call's attach to this server is under way: wait for it, do
	// not ask twice.

	att, err := a.c.waitAttached(ctx, kindNovaAttach, true, volumeID, serverID, func(v *Volume) bool { return v.Status == StatusAvailable })
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
	if v.Status == StatusDetaching {
		// An earlier call's detach may be under way (asking again would be
		// refused), or Nova gave up on it and left the volume stuck.
		if _, err := a.clearStale(ctx, nova, volumeID, serverID); err != nil {
			return fmt.Errorf("detach: %w", err)
		}
	} else {
		err := volumeattach.Delete(ctx, nova, serverID, volumeID).ExtractErr()
		switch {
		case isNotFound(err):
			// The server is gone, or Nova does not have the volume on it. Cinder may
			// still list an attachment Nova forgot (the stuck volumes of deleted
			// servers): drop it, or the volume stays "in-use" forever.
			if _, err := a.clearStale(ctx, nova, volumeID, serverID); err != nil {
				return fmt.Errorf("detach: %w", err)
			}
		case err != nil:
			return fmt.Errorf("detach volume %s from server %s: %w", volumeID, serverID, mapError(err))
		default:
			klog.V(4).InfoS("Nova accepted the detachment", "volumeID", volumeID, "nodeID", serverID)
		}
	}
	if err := a.c.waitDetached(ctx, kindNovaDetach, true, volumeID, serverID); err != nil {
		return fmt.Errorf("detach: %w", err)
	}
	klog.V(2).InfoS("Volume detached", "volumeID", volumeID, "nodeID", serverID)
	return nil
}

// clearStale deletes the volume's Cinder attachments that Nova no longer stands
// behind: made for a server that is gone, or for a server that has no block device
// mapping of the volume (an attach or detach that died half-way). Nova creates its
// mapping before the Cinder attachment and removes it after, so an attachment
// without one is a leftover, and Cinder itself checks with Nova before it lets a
// user delete an instance's attachment. Attachments made without Nova (no
// instance) are left alone. It reports whether Nova has an attach of the volume
// to serverID under way (a mapping with the attachment not yet complete).
func (a *novaAttacher) clearStale(ctx context.Context, nova *gophercloud.ServiceClient, volumeID, serverID string) (inFlightHere bool, err error) {
	list, err := a.c.listAttachments(ctx, volumeID)
	if err != nil {
		return false, err
	}
	for _, att := range list {
		if att.Instance == "" {
			continue
		}
		_, err := volumeattach.Get(ctx, nova, att.Instance, volumeID).Extract()
		switch {
		case err == nil:
			if att.Instance == serverID && att.Status != attachmentStatusAttached {
				inFlightHere = true
			}
			continue
		case !isNotFound(err):
			return false, fmt.Errorf("ask Nova whether server %s uses volume %s: %w", att.Instance, volumeID, mapError(err))
		}
		klog.InfoS("Deleting an attachment Nova no longer knows (server deleted, or an attach or detach died half-way)",
			"volumeID", volumeID, "serverID", att.Instance, "attachmentID", att.ID, "status", att.Status)
		a.c.observer().Repair(RepairStuckAttachment)
		if err := a.c.deleteAttachment(ctx, volumeID, att.ID); err != nil {
			return false, err
		}
	}
	return inFlightHere, nil
}

// AttachedVolumes implements Attacher from Nova's list of the server's volumes,
// always read fresh: one call, whatever the project holds.
func (a *novaAttacher) AttachedVolumes(ctx context.Context, serverID string, _ bool) ([]string, error) {
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
