package mount

// Keys of the CSI publish context that the controller hands to the node. The
// controller (pkg/driver) writes them from the attachment; the locators read them.
const (
	// PublishAttacher names the attach path: AttacherNova or AttacherCinder.
	PublishAttacher = "attacher"
	// PublishDevicePath is the hypervisor's device name (Nova path). A hint only.
	PublishDevicePath = "devicePath"
	// PublishAttachmentID is the Cinder attachment ID.
	PublishAttachmentID = "attachmentID"
	// PublishDriverVolumeType is Cinder's connection_info.driver_volume_type.
	PublishDriverVolumeType = "driverVolumeType"
	// PublishConnectionData is Cinder's connection_info.data as a JSON object, without
	// its credential fields.
	PublishConnectionData = "connectionData"
	// PublishSealedConnectionData holds the credential fields of connection_info.data
	// (passwords, keyrings), sealed with the publish key; pkg/driver opens them on the
	// node and puts them back into PublishConnectionData before a connector sees it.
	PublishSealedConnectionData = "sealedConnectionData"

	AttacherNova   = "nova"
	AttacherCinder = "cinder"
)
