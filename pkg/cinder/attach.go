package cinder

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/gophercloud/gophercloud/v2/openstack/blockstorage/v3/attachments"
)

// Helpers shared by the Nova and the Cinder attacher. Both read the truth from the
// volume's "attachments" list, which Cinder fills only once an attachment is
// complete, so "attached" means the same thing on both paths.

// attachmentOf returns the volume's attachment to node, if there is one.
func attachmentOf(v *Volume, node string) (VolumeAttachment, bool) {
	for _, a := range v.Attachments {
		if a.ServerID == node || (a.ServerID == "" && a.HostName == node) {
			return a, true
		}
	}
	return VolumeAttachment{}, false
}

// checkNotElsewhere returns ErrAttachedElsewhere when v is not multiattach and is
// attached to a node other than node.
func checkNotElsewhere(v *Volume, node string) error {
	if v.Multiattach {
		return nil
	}
	var others []string
	for _, n := range v.Nodes() {
		if n != node {
			others = append(others, n)
		}
	}
	if len(others) > 0 {
		return fmt.Errorf("%w: volume %s is attached to %s and is not multiattach",
			ErrAttachedElsewhere, v.ID, strings.Join(others, ", "))
	}
	return nil
}

// waitAttached polls until the volume lists an attachment to node and returns it.
// failed reports a state that means the attach will not happen, ending the wait.
// kind is the wait's kind; afterRequest says it follows the attach request (a
// learned schedule) rather than a change already made.
func (c *Client) waitAttached(ctx context.Context, kind string, afterRequest bool, volumeID, node string, failed func(*Volume) bool) (VolumeAttachment, error) {
	var att VolumeAttachment
	err := c.poll(ctx, kind, afterRequest, fmt.Sprintf("volume %s to be attached to %s", volumeID, node), func(ctx context.Context) (bool, string, error) {
		v, err := c.GetVolume(ctx, volumeID)
		if err != nil {
			return pollError(err)
		}
		var ok bool
		if att, ok = attachmentOf(v, node); ok {
			return true, "", nil
		}
		if failed != nil && failed(v) {
			return true, "", fmt.Errorf("%w: volume %s is %q and not attached to %s: the attachment failed; Cinder's user messages (openstack volume message list) may tell why",
				ErrBackend, volumeID, v.Status, node)
		}
		return false, "status " + v.Status, nil
	})
	return att, err
}

// waitDetached polls until the volume no longer lists an attachment to node. A
// volume that disappears is detached too. kind and afterRequest are as for waitAttached.
func (c *Client) waitDetached(ctx context.Context, kind string, afterRequest bool, volumeID, node string) error {
	return c.poll(ctx, kind, afterRequest, fmt.Sprintf("volume %s to be detached from %s", volumeID, node), func(ctx context.Context) (bool, string, error) {
		v, err := c.GetVolume(ctx, volumeID)
		if errors.Is(err, ErrNotFound) {
			return true, "", nil
		}
		if err != nil {
			return pollError(err)
		}
		_, attached := attachmentOf(v, node)
		return !attached, "status " + v.Status, nil
	})
}

// inFlight reports the statuses of a volume whose attach or detach is under way.
func inFlight(status string) bool {
	switch status {
	case StatusReserved, StatusAttaching, StatusDetaching:
		return true
	}
	return false
}

// listAttachments returns the volume's Cinder attachments, complete or not.
func (c *Client) listAttachments(ctx context.Context, volumeID string) ([]attachments.Attachment, error) {
	pages, err := attachments.List(c.cinder(mvAttachments), attachments.ListOpts{VolumeID: volumeID}).AllPages(ctx)
	if err != nil {
		return nil, fmt.Errorf("list attachments of volume %s: %w", volumeID, mapError(err))
	}
	list, err := attachments.ExtractAttachments(pages)
	if err != nil {
		return nil, fmt.Errorf("list attachments of volume %s: %w", volumeID, err)
	}
	return list, nil
}

// deleteAttachment deletes one Cinder attachment; one already gone is fine.
func (c *Client) deleteAttachment(ctx context.Context, volumeID, attachmentID string) error {
	err := attachments.Delete(ctx, c.cinder(mvAttachments), attachmentID).ExtractErr()
	if err != nil && !isNotFound(err) {
		return fmt.Errorf("delete attachment %s of volume %s: %w", attachmentID, volumeID, mapError(err))
	}
	return nil
}

// AttachmentIDs describes ("<id> (<volume>, <status>)") every Cinder attachment of volumeID, or of the whole
// project when volumeID is "", reserved ones included: what an inventory of leaks
// needs, since a volume's "attachments" shows complete ones only.
func (c *Client) AttachmentIDs(ctx context.Context, volumeID string) ([]string, error) {
	list, err := c.listAttachments(ctx, volumeID)
	if err != nil {
		return nil, err
	}
	ids := make([]string, len(list))
	for i, a := range list {
		ids[i] = a.ID + " (" + a.VolumeID + ", " + a.Status + ")"
	}
	return ids, nil
}
