package driver

import (
	"context"

	"github.com/container-storage-interface/spec/lib/go/csi"
)

// NodeGetInfo reports the node ID (node_id.go), attach limit and availability zone.
func (d *Driver) NodeGetInfo(context.Context, *csi.NodeGetInfoRequest) (*csi.NodeGetInfoResponse, error) {
	out := &csi.NodeGetInfoResponse{NodeId: d.nodeID, MaxVolumesPerNode: int64(d.deps.MaxVolumesPerNode)}
	d.deps.Metrics.AttachLimit(d.deps.MaxVolumesPerNode)
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
