package fake

import (
	"context"
	"fmt"

	"github.com/cinder-csi/cinder-csi-driver/pkg/cinder"
)

// Attacher is the fake's attacher for one attach path.
type Attacher struct {
	c    *Cloud
	nova bool
}

var _ cinder.Attacher = (*Attacher)(nil)

// NovaAttacher attaches to registered servers (AddServer); unknown servers are NotFound.
func (c *Cloud) NovaAttacher() *Attacher { return &Attacher{c: c, nova: true} }

// CinderAttacher attaches to any host name, handing out "file" connection info
// pointing at the volume's sparse file (Options.FileDir must be set for nodes to use it).
func (c *Cloud) CinderAttacher() *Attacher { return &Attacher{c: c} }

// Attach is idempotent per node and refuses a second node for non-multiattach volumes.
func (a *Attacher) Attach(ctx context.Context, vol *cinder.Volume, node cinder.Node) (*cinder.Attachment, error) {
	c, volumeID, nodeID := a.c, vol.ID, node.ID
	if err := c.enter("Attach"); err != nil {
		return nil, err
	}
	c.mu.Lock()
	v, ok := c.volumes[volumeID]
	if !ok {
		c.mu.Unlock()
		return nil, notFound("volume", volumeID)
	}
	if a.nova && !c.servers[nodeID] {
		c.mu.Unlock()
		return nil, notFound("server", nodeID)
	}
	for _, at := range v.Attachments {
		if a.matches(at, nodeID) {
			c.mu.Unlock()
			return a.result(v, at), nil
		}
	}
	if len(v.Attachments) > 0 && !v.Multiattach {
		c.mu.Unlock()
		return nil, fmt.Errorf("volume %s is attached to %v and is not multiattach: %w", volumeID, v.Nodes(), cinder.ErrAttachedElsewhere)
	}
	if v.Status != cinder.StatusAvailable && v.Status != cinder.StatusInUse {
		c.mu.Unlock()
		return nil, fmt.Errorf("volume %s is %q: %w", volumeID, v.Status, cinder.ErrInvalidState)
	}
	prev := v.Status
	setStatus(v, cinder.StatusReserved)
	at := cinder.VolumeAttachment{AttachmentID: NewID(), HostName: nodeID}
	if a.nova {
		at.ServerID = nodeID
		at.Device = fmt.Sprintf("/dev/vd%c", 'b'+c.attachedCountLocked(nodeID)%24)
	}
	c.mu.Unlock()
	if err := c.sleep(ctx); err != nil {
		c.SetVolumeStatus(volumeID, prev)
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	v.Attachments = append(v.Attachments, at)
	setStatus(v, cinder.StatusInUse)
	if c.connectors == nil {
		c.connectors = map[string]cinder.Node{}
	}
	c.connectors[at.AttachmentID] = node
	return a.result(v, at), nil
}

// Connector returns the node an attachment was made for, as Attach received it (the
// connector a real Cinder gets: host, IP, initiator).
func (c *Cloud) Connector(attachmentID string) (cinder.Node, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	n, ok := c.connectors[attachmentID]
	return n, ok
}

func (a *Attacher) matches(at cinder.VolumeAttachment, nodeID string) bool {
	if a.nova {
		return at.ServerID == nodeID
	}
	return at.ServerID == "" && at.HostName == nodeID
}

func (a *Attacher) result(v *cinder.Volume, at cinder.VolumeAttachment) *cinder.Attachment {
	out := &cinder.Attachment{VolumeID: v.ID, NodeID: at.HostName, AttachmentID: at.AttachmentID, DevicePath: at.Device}
	if !a.nova {
		out.Connection = &cinder.ConnectionInfo{DriverVolumeType: "file", Data: map[string]any{"path": a.c.volumeFile(v.ID)}}
	}
	return out
}

func (c *Cloud) attachedCountLocked(nodeID string) int {
	n := 0
	for _, v := range c.volumes {
		if v.AttachedTo(nodeID) {
			n++
		}
	}
	return n
}

// Detach removes the node's attachment; missing volume or attachment is not an error.
func (a *Attacher) Detach(ctx context.Context, volumeID, nodeID string) error {
	c := a.c
	if err := c.enter("Detach"); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if v, ok := c.volumes[volumeID]; ok {
		c.detachLocked(v, nodeID)
	}
	return nil
}

func (c *Cloud) detachLocked(v *cinder.Volume, nodeID string) {
	kept := v.Attachments[:0]
	for _, at := range v.Attachments {
		if at.ServerID != nodeID && !(at.ServerID == "" && at.HostName == nodeID) {
			kept = append(kept, at)
		}
	}
	v.Attachments = kept
	if len(kept) == 0 && v.Status == cinder.StatusInUse {
		setStatus(v, cinder.StatusAvailable)
	}
}

// AttachedVolumes lists the volumes attached to the node.
func (a *Attacher) AttachedVolumes(ctx context.Context, nodeID string, _ bool) ([]string, error) {
	c := a.c
	if err := c.enter("AttachedVolumes"); err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for _, v := range c.sortedVolumesLocked() {
		for _, at := range v.Attachments {
			if a.matches(at, nodeID) {
				out = append(out, v.ID)
			}
		}
	}
	return out, nil
}
