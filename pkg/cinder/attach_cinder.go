package cinder

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/gophercloud/gophercloud/v2/openstack/blockstorage/v3/attachments"
	"github.com/gophercloud/gophercloud/v2/openstack/blockstorage/v3/volumes"
	"k8s.io/klog/v2"
)

// CinderAttacher returns the Attacher for clouds without Nova (standalone Cinder,
// bare metal): node IDs are host names, and Attach returns the connection info
// with which the node reaches the volume itself (an NFS export, an iSCSI target).
//
// Callers serialise Attach and Detach per volume (the driver's per-volume lock).
// This matters because Cinder's attachments API does not show which host an
// attachment that is not yet complete was made for: such leftovers of an
// interrupted call are deleted on a volume that is not multiattach.
func (c *Client) CinderAttacher() Attacher {
	a := &cinderAttacher{c: c}
	a.index = &attachedIndex{now: time.Now, list: a.listAttached}
	return a
}

type cinderAttacher struct {
	c     *Client
	index *attachedIndex
}

// attachmentStatusAttached is the attachment (not volume) status once complete.
const attachmentStatusAttached = "attached"

// Attach implements Attacher; the index learns of every attach that succeeds.
func (a *cinderAttacher) Attach(ctx context.Context, v *Volume, n Node) (*Attachment, error) {
	att, err := a.attach(ctx, v, n)
	if err == nil {
		a.index.record(n.ID, v.ID, true)
	}
	return att, err
}

func (a *cinderAttacher) attach(ctx context.Context, v *Volume, n Node) (*Attachment, error) {
	c, volumeID, node := a.c, v.ID, n.ID
	var err error
	if existing, ok := attachmentOf(v, node); ok {
		att, err := a.reuse(ctx, volumeID, node, existing.AttachmentID)
		if att != nil || err != nil {
			return att, err
		}
		if v, err = c.GetVolume(ctx, volumeID); err != nil {
			return nil, fmt.Errorf("attach: %w", err)
		}
	}
	if err := checkNotElsewhere(v, node); err != nil {
		return nil, err
	}
	// An unfinished attachment leaves the volume "reserved" or "attaching": only then
	// is there one to clean up (a multiattach volume may have live ones in flight).
	if !v.Multiattach && v.Status != StatusAvailable {
		if err := a.deleteIncomplete(ctx, volumeID); err != nil {
			return nil, err
		}
	}

	created, err := attachments.Create(ctx, c.cinder(mvAttachments), createOpts(volumeID, n)).Extract()
	if err != nil {
		err = fmt.Errorf("attach volume %s to %s: %w", volumeID, node, mapError(err))
		if !v.Multiattach {
			// Cinder reserves the attachment before the backend connects it: when
			// the backend fails (a 500), the reserved one stays and keeps the volume
			// from snapshots and deletes until someone removes it.
			if cerr := a.deleteIncomplete(context.WithoutCancel(ctx), volumeID); cerr != nil {
				klog.ErrorS(cerr, "Could not delete the attachment a failed attach left", "volumeID", volumeID)
			}
		}
		return nil, err
	}
	conn := connectionFrom(created.ConnectionInfo)
	if conn == nil {
		a.cleanUp(ctx, volumeID, created.ID)
		return nil, fmt.Errorf("%w: Cinder attached volume %s to %s without connection info", ErrBackend, volumeID, node)
	}
	// Cinder's complete marks the attachment attached and the volume in-use in its
	// database before it answers (AttachmentsController.complete, since 3.44): once
	// it has answered there is nothing to wait for.
	if err := attachments.Complete(ctx, c.cinder(mvAttachComplete), created.ID).ExtractErr(); err != nil {
		a.cleanUp(ctx, volumeID, created.ID)
		return nil, fmt.Errorf("complete attachment %s of volume %s: %w", created.ID, volumeID, mapError(err))
	}
	klog.V(2).InfoS("Volume attached", "volumeID", volumeID, "nodeID", node, "attachmentID", created.ID, "driverVolumeType", conn.DriverVolumeType)
	return &Attachment{VolumeID: volumeID, NodeID: node, AttachmentID: created.ID, Connection: conn}, nil
}

// reuse returns the node's existing attachment with its connection info. An
// attachment without connection info cannot be used by the node: it is deleted
// and (nil, nil) tells the caller to make a new one.
func (a *cinderAttacher) reuse(ctx context.Context, volumeID, node, attachmentID string) (*Attachment, error) {
	existing, err := attachments.Get(ctx, a.c.cinder(mvAttachments), attachmentID).Extract()
	if err != nil && !isNotFound(err) {
		return nil, fmt.Errorf("get attachment %s of volume %s: %w", attachmentID, volumeID, mapError(err))
	}
	if err == nil {
		if conn := connectionFrom(existing.ConnectionInfo); conn != nil {
			return &Attachment{VolumeID: volumeID, NodeID: node, AttachmentID: attachmentID, Connection: conn}, nil
		}
		klog.InfoS("Replacing an attachment that has no connection info", "volumeID", volumeID, "nodeID", node, "attachmentID", attachmentID)
		if err := a.c.deleteAttachment(ctx, volumeID, attachmentID); err != nil {
			return nil, err
		}
	}
	return nil, nil
}

// deleteIncomplete deletes the volume's attachments that were made without Nova
// and never completed.
func (a *cinderAttacher) deleteIncomplete(ctx context.Context, volumeID string) error {
	list, err := a.c.listAttachments(ctx, volumeID)
	if err != nil {
		return err
	}
	for _, att := range list {
		if att.Status == attachmentStatusAttached || att.Instance != "" {
			// Completed, or Nova's (made for a server): not ours to clean up.
			continue
		}
		klog.InfoS("Deleting an attachment an interrupted call left behind", "volumeID", volumeID, "attachmentID", att.ID, "status", att.Status)
		a.c.observer().Repair(RepairStuckAttachment)
		if err := a.c.deleteAttachment(ctx, volumeID, att.ID); err != nil {
			return err
		}
	}
	return nil
}

// AttachedVolumes implements Attacher from the attacher's index of the project
// (attachedIndex): no Cinder call while the index is current, one listing of the
// project when it is old or fresh is asked for.
func (a *cinderAttacher) AttachedVolumes(ctx context.Context, node string, fresh bool) ([]string, error) {
	ids, err := a.index.volumes(ctx, node, fresh)
	if err != nil {
		return nil, fmt.Errorf("list volumes attached to %s: %w", node, err)
	}
	return ids, nil
}

// listAttached reads the project's volumes that can hold an attachment
// (attachedStatuses: not the available ones, which are most of a project) and
// groups those attached on this path (no Nova server) by host.
func (a *cinderAttacher) listAttached(ctx context.Context) (map[string]map[string]bool, error) {
	opts := volumes.ListOpts{Status: statusIn(attachedStatuses)}
	pages, err := volumes.List(a.c.cinder(mvVolumeRead), opts).AllPages(ctx)
	if err != nil {
		return nil, mapError(err)
	}
	all, err := volumes.ExtractVolumes(pages)
	if err != nil {
		return nil, err
	}
	byNode := map[string]map[string]bool{}
	for i := range all {
		for _, att := range all[i].Attachments {
			if att.ServerID == "" {
				apply(byNode, indexChange{attachedHost(att.ServerID, att.HostName, att.Device), all[i].ID, true})
			}
		}
	}
	return byNode, nil
}

// cleanUp deletes an attachment this call made and cannot finish, so that the
// retry starts clean. A failure is only logged: the caller reports the first one.
func (a *cinderAttacher) cleanUp(ctx context.Context, volumeID, attachmentID string) {
	if err := a.c.deleteAttachment(ctx, volumeID, attachmentID); err != nil {
		klog.ErrorS(err, "Could not delete an unfinished attachment", "volumeID", volumeID, "attachmentID", attachmentID)
	}
}

// Detach implements Attacher; the index learns of every detach that succeeds.
func (a *cinderAttacher) Detach(ctx context.Context, volumeID, node string) error {
	err := a.detach(ctx, volumeID, node)
	if err == nil {
		a.index.record(node, volumeID, false)
	}
	return err
}

func (a *cinderAttacher) detach(ctx context.Context, volumeID, node string) error {
	v, err := a.c.GetVolume(ctx, volumeID)
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("detach: %w", err)
	}
	deleted := 0
	for _, att := range v.Attachments {
		if att.ServerID == "" && attachedHost(att.ServerID, att.HostName, att.Device) == node {
			if err := a.c.deleteAttachment(ctx, volumeID, att.AttachmentID); err != nil {
				return err
			}
			deleted++
		}
	}
	if deleted > 0 && (v.Status == StatusInUse || v.Multiattach) {
		// Cinder answers an attachment's DELETE once the backend has terminated the
		// connection and the attachment is gone: the volume of a completed attach
		// holds no leftover of this node, and there is nothing more to wait for.
		klog.V(2).InfoS("Volume detached", "volumeID", volumeID, "nodeID", node)
		return nil
	}
	if !v.Multiattach && v.Status != StatusInUse && v.Status != StatusAvailable && checkNotElsewhere(v, node) == nil {
		// A leftover of an interrupted Attach keeps the volume "reserved" or
		// "attaching" and undeletable; no other node can own it. An in-use or
		// available volume that is not multiattach cannot hold one (Cinder reserves
		// such a volume only when it is available, and reserving changes its status).
		if err := a.deleteIncomplete(ctx, volumeID); err != nil {
			return err
		}
	}
	if err := a.c.waitDetached(ctx, kindCinderDetach, false, volumeID, node); err != nil {
		return fmt.Errorf("detach: %w", err)
	}
	klog.V(2).InfoS("Volume detached", "volumeID", volumeID, "nodeID", node)
	return nil
}

// attachmentCreateOpts builds the create body by hand because gophercloud's
// CreateOpts always sends "instance_uuid", and Cinder rejects an empty one: an
// attachment without Nova has no instance at all.
type attachmentCreateOpts struct {
	volumeID  string
	connector map[string]any
}

func (o attachmentCreateOpts) ToAttachmentCreateMap() (map[string]any, error) {
	return map[string]any{"attachment": map[string]any{
		"volume_uuid": o.volumeID,
		"connector":   o.connector,
	}}, nil
}

// createOpts describes the node to Cinder as os-brick would. host is what the
// volume's attachment later shows as host_name (to admins), and the mountpoint,
// shown to every user as the attachment's device, names the node too (see
// csiMountpoint); ip and initiator are the node's own (backends that export per
// initiator or address, iSCSI arrays for one, need them).
func createOpts(volumeID string, n Node) attachmentCreateOpts {
	return attachmentCreateOpts{volumeID: volumeID, connector: map[string]any{
		"host":            n.ID,
		"ip":              firstNonEmpty(n.IP, "127.0.0.1"),
		"initiator":       n.Initiator,
		"platform":        "x86_64",
		"os_type":         "linux",
		"multipath":       false,
		"do_local_attach": false,
		"mountpoint":      csiMountpoint + n.ID,
	}}
}

// connectionFrom converts Cinder's connection_info; nil when it names no driver
// volume type, which a node cannot use. The attachments API returns it flat (the
// driver's data beside driver_volume_type); older APIs nest the data under "data".
func connectionFrom(info map[string]any) *ConnectionInfo {
	t, _ := info["driver_volume_type"].(string)
	if t == "" {
		return nil
	}
	if data, ok := info["data"].(map[string]any); ok {
		return &ConnectionInfo{DriverVolumeType: t, Data: data}
	}
	data := make(map[string]any, len(info))
	for k, v := range info {
		if k != "driver_volume_type" {
			data[k] = v
		}
	}
	return &ConnectionInfo{DriverVolumeType: t, Data: data}
}

var _ attachments.CreateOptsBuilder = attachmentCreateOpts{}
