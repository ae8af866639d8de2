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

// Detach implements Attacher. It asks Nova first, without reading the volume:
// in the common case (attached, nothing under way) that saves a GET before the
// request. Nova's refusals tell what the read would have: 404 when the server is
// gone or does not have the volume, 400/409 when the volume is not in a state to
// detach (a detach already under way, or an attach). Only then is the volume read,
// to repair what Nova left behind or to find there is nothing to do.
func (a *novaAttacher) Detach(ctx context.Context, volumeID, serverID string) error {
	nova, err := a.c.nova(mvNovaBase)
	if err != nil {
		return fmt.Errorf("detach volume %s from server %s: %w", volumeID, serverID, err)
	}
	err = volumeattach.Delete(ctx, nova, serverID, volumeID).ExtractErr()
	if err == nil {
		klog.V(4).InfoS("Nova accepted the detachment", "volumeID", volumeID, "nodeID", serverID)
	} else {
		mapped := mapError(err)
		if !errors.Is(mapped, ErrNotFound) && !errors.Is(mapped, ErrInvalidState) {
			return fmt.Errorf("detach volume %s from server %s: %w", volumeID, serverID, mapped)
		}
		done, err := a.afterRefusal(ctx, nova, volumeID, serverID, mapped)
		if err != nil || done {
			return err
		}
	}
	if err := a.c.waitDetached(ctx, kindNovaDetach, true, volumeID, serverID); err != nil {
		return fmt.Errorf("detach: %w", err)
	}
	klog.V(2).InfoS("Volume detached", "volumeID", volumeID, "nodeID", serverID)
	return nil
}

// afterRefusal reads the volume after Nova refused to detach it (refusal is the
// mapped error) and reports whether the volume is already detached from serverID.
// A volume that is gone, or not attached to the server with nothing under way, is
// done. A detaching volume, or one Nova does not know on the server (the server was
// deleted, or Nova forgot the volume), has its stale Cinder attachments cleared and
// is then waited for. Any other state (an attach under way, a server busy) returns
// Nova's refusal, for the caller to retry.
func (a *novaAttacher) afterRefusal(ctx context.Context, nova *gophercloud.ServiceClient, volumeID, serverID string, refusal error) (done bool, err error) {
	v, err := a.c.GetVolume(ctx, volumeID)
	if errors.Is(err, ErrNotFound) {
		return true, nil
	}
	if err != nil {
		return false, fmt.Errorf("detach: %w", err)
	}
	_, attached := attachmentOf(v, serverID)
	if !attached && !inFlight(v.Status) {
		return true, nil
	}
	if !errors.Is(refusal, ErrNotFound) && v.Status != StatusDetaching {
		return false, fmt.Errorf("detach volume %s from server %s (volume is %q): %w", volumeID, serverID, v.Status, refusal)
	}
	// An earlier call's detach may be under way (asking again was refused), Nova
	// gave up on it and left the volume stuck, or Cinder still lists an attachment
	// of a server Nova no longer has the volume on (the stuck volumes of deleted
	// servers): drop what Nova does not stand behind, or the volume stays in use.
	if _, err := a.clearStale(ctx, nova, volumeID, serverID); err != nil {
		return false, fmt.Errorf("detach: %w", err)
	}
	return false, nil
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
