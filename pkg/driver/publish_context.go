package driver

import (
	"github.com/cinder-csi/cinder-csi-driver/pkg/cinder"
	"github.com/cinder-csi/cinder-csi-driver/pkg/mount"
)

// Keys of the CSI publish context: the controller's hand-over to the node, which
// kubelet passes back in NodeStageVolume and NodePublishVolume. The controller
// writes them from the attachment (publishContext); the node reads them once
// (parsePublishContext) into a handover.
const (
	// pcAttacher names the attach path: AttacherNova or AttacherCinder.
	pcAttacher = "attacher"
	// pcDevicePath is the hypervisor's device name (Nova path). A hint only.
	pcDevicePath = "devicePath"
	// pcAttachmentID is the Cinder attachment ID.
	pcAttachmentID = "attachmentID"
	// pcDriverVolumeType is Cinder's connection_info.driver_volume_type.
	pcDriverVolumeType = "driverVolumeType"
	// pcConnectionData is Cinder's connection_info.data as a JSON object, without
	// its credential fields.
	pcConnectionData = "connectionData"
	// pcSealedConnectionData holds the credential fields of connection_info.data
	// (passwords, keyrings), sealed with the publish key (publish_seal.go); the node
	// opens them and puts them back into the connection data before a connector
	// sees it.
	pcSealedConnectionData = "sealedConnectionData"
)

// handover is a parsed publish context: the attach path whose locator finds the
// device, what that locator needs, and the sealed credentials still to open.
type handover struct {
	attacher string
	att      mount.Attachment
	sealed   string
}

// publishContext is what the node needs to find the attached volume. Connection
// credentials are sealed (publish_seal.go) when it leaves this process, as the
// ControllerPublishVolume answer.
func (d *Driver) publishContext(att *cinder.Attachment) (map[string]string, error) {
	pc := map[string]string{pcAttacher: d.opts.Attacher}
	if att.AttachmentID != "" {
		pc[pcAttachmentID] = att.AttachmentID
	}
	if att.DevicePath != "" {
		pc[pcDevicePath] = att.DevicePath
	}
	if c := att.Connection; c != nil {
		pc[pcDriverVolumeType] = c.DriverVolumeType
		if err := d.connectionContext(pc, att.VolumeID, att.AttachmentID, c.Data); err != nil {
			return nil, err
		}
	}
	return pc, nil
}

// localHandover is the handover of an attachment this process made and uses in
// place (inline ephemeral volumes): nothing is sealed or encoded.
func (d *Driver) localHandover(att *cinder.Attachment) handover {
	h := handover{attacher: d.opts.Attacher, att: mount.Attachment{DevicePath: att.DevicePath}}
	if c := att.Connection; c != nil {
		h.att.DriverVolumeType, h.att.Data = c.DriverVolumeType, c.Data
	}
	return h
}

// parsePublishContext checks the controller's hand-over and parses it: a known
// attach path (none means this plugin's own, as for volumes published before the
// key existed), and for the Cinder path the volume type and a JSON object of
// connection data.
func parsePublishContext(pc map[string]string) (handover, error) {
	h := handover{attacher: pc[pcAttacher], sealed: pc[pcSealedConnectionData],
		att: mount.Attachment{DevicePath: pc[pcDevicePath], DriverVolumeType: pc[pcDriverVolumeType]}}
	switch h.attacher {
	case "", AttacherNova:
	case AttacherCinder:
		if h.att.DriverVolumeType == "" || pc[pcConnectionData] == "" {
			return h, invalid("publish_context from the Cinder attacher lacks %q or %q: was the volume published by this driver?",
				pcDriverVolumeType, pcConnectionData)
		}
	default:
		return h, invalid("publish_context %q is %q: use %q or %q", pcAttacher, h.attacher, AttacherNova, AttacherCinder)
	}
	if raw := pc[pcConnectionData]; raw != "" {
		data, err := decodeJSONObject([]byte(raw))
		if err != nil || data == nil {
			return h, invalid("publish_context %q is not a JSON object: was the volume published by this driver?", pcConnectionData)
		}
		h.att.Data = data
	}
	return h, nil
}
