package driver

import (
	"context"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"k8s.io/klog/v2"
)

// NodeGetInfo reports the node ID (node_id.go), the volumes the driver may still
// attach and the availability zone. kubelet calls it again every
// nodeAllocatableUpdatePeriodSeconds of the CSIDriver and after an attach refused
// with ResourceExhausted (MutableCSINodeAllocatableCount), and the scheduler then
// counts with the new number.
func (d *Driver) NodeGetInfo(context.Context, *csi.NodeGetInfoRequest) (*csi.NodeGetInfoResponse, error) {
	limit := d.attachSlots()
	out := &csi.NodeGetInfoResponse{NodeId: d.nodeID, MaxVolumesPerNode: int64(limit)}
	d.deps.Metrics.AttachLimit(limit)
	if d.opts.WithTopology && d.deps.Node.Zone != "" {
		out.AccessibleTopology = &csi.Topology{Segments: map[string]string{TopologyZoneKey: d.deps.Node.Zone}}
	}
	return out, nil
}

// NodeGetCapabilities lists what the node service does.
func (d *Driver) NodeGetCapabilities(context.Context, *csi.NodeGetCapabilitiesRequest) (*csi.NodeGetCapabilitiesResponse, error) {
	types := []csi.NodeServiceCapability_RPC_Type{
		csi.NodeServiceCapability_RPC_STAGE_UNSTAGE_VOLUME,
		csi.NodeServiceCapability_RPC_GET_VOLUME_STATS,
		csi.NodeServiceCapability_RPC_EXPAND_VOLUME,
		csi.NodeServiceCapability_RPC_GET_VOLUME_HEALTH,
		csi.NodeServiceCapability_RPC_SINGLE_NODE_MULTI_WRITER,
	}
	if d.deps.StorageHealth != nil {
		types = append(types, csi.NodeServiceCapability_RPC_GET_STORAGE_HEALTH)
	}
	caps := wrapEach(types, func(t csi.NodeServiceCapability_RPC_Type) *csi.NodeServiceCapability {
		return &csi.NodeServiceCapability{Type: &csi.NodeServiceCapability_Rpc{Rpc: &csi.NodeServiceCapability_RPC{Type: t}}}
	})
	return &csi.NodeGetCapabilitiesResponse{Capabilities: caps}, nil
}

// attachSlots is the attach limit less the disks that hold slots without being
// this driver's volumes (Deps.OtherDisks). It is at least 1: CSI has no way to say
// "none", 0 means "no limit"; an attach beyond the real room is then refused by Nova
// with ResourceExhausted, which makes kubelet ask again.
func (d *Driver) attachSlots() int {
	limit := d.deps.MaxVolumesPerNode
	if d.deps.OtherDisks == nil || limit <= 0 {
		return limit
	}
	n, names, err := d.deps.OtherDisks.Others()
	if err != nil {
		klog.ErrorS(err, "Could not count the disks that are not this driver's volumes; reporting the whole attach limit", "limit", limit)
		return limit
	}
	free := limit - n
	if free < 1 {
		klog.InfoS("Other disks take all the attach slots; reporting 1, the least CSI can say", "limit", limit, "otherDisks", names)
		return 1
	}
	if n > 0 {
		klog.V(4).InfoS("Disks that are not this driver's volumes take attach slots", "limit", limit, "otherDisks", names, "reported", free)
	}
	return free
}
