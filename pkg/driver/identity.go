package driver

import (
	"context"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// GetPluginInfo returns the driver name and version.
func (d *Driver) GetPluginInfo(context.Context, *csi.GetPluginInfoRequest) (*csi.GetPluginInfoResponse, error) {
	v := d.deps.Version
	if v == "" {
		v = "dev"
	}
	return &csi.GetPluginInfoResponse{Name: d.opts.DriverName, VendorVersion: v}, nil
}

// GetPluginCapabilities advertises the controller service, volume and snapshot
// topology, online expansion and group snapshots.
func (d *Driver) GetPluginCapabilities(context.Context, *csi.GetPluginCapabilitiesRequest) (*csi.GetPluginCapabilitiesResponse, error) {
	svc := func(t csi.PluginCapability_Service_Type) *csi.PluginCapability {
		return &csi.PluginCapability{Type: &csi.PluginCapability_Service_{Service: &csi.PluginCapability_Service{Type: t}}}
	}
	expansion := csi.PluginCapability_VolumeExpansion_ONLINE
	if !d.opts.ExpandInUse {
		expansion = csi.PluginCapability_VolumeExpansion_OFFLINE
	}
	caps := []*csi.PluginCapability{
		svc(csi.PluginCapability_Service_CONTROLLER_SERVICE),
		{Type: &csi.PluginCapability_VolumeExpansion_{VolumeExpansion: &csi.PluginCapability_VolumeExpansion{Type: expansion}}},
	}
	if d.opts.WithTopology {
		caps = append(caps, svc(csi.PluginCapability_Service_VOLUME_ACCESSIBILITY_CONSTRAINTS))
	}
	if d.opts.Mode != ModeNode && d.zoneTopology() {
		// A snapshot is usable from its volume's zone only (topology.go).
		caps = append(caps, svc(csi.PluginCapability_Service_SNAPSHOT_ACCESSIBILITY_CONSTRAINTS))
	}
	if d.groupSnapshots() {
		caps = append(caps, svc(csi.PluginCapability_Service_GROUP_CONTROLLER_SERVICE))
	}
	return &csi.GetPluginCapabilitiesResponse{Capabilities: caps}, nil
}

// groupSnapshots reports whether the driver serves the GroupController service: a
// controller with a group snapshotter.
func (d *Driver) groupSnapshots() bool { return d.opts.Mode != ModeNode && d.deps.Groups != nil }

// Probe is cheap by design: it reports whether the server finished starting (cloud
// authenticated, node identity resolved) without calling OpenStack, so a liveness
// probe every few seconds costs the cloud nothing.
func (d *Driver) Probe(context.Context, *csi.ProbeRequest) (*csi.ProbeResponse, error) {
	return &csi.ProbeResponse{Ready: wrapperspb.Bool(d.ready.Load())}, nil
}

// wrapEach wraps each RPC type a service supports in its capability message.
func wrapEach[T, C any](types []T, wrap func(T) C) []C {
	out := make([]C, 0, len(types))
	for _, t := range types {
		out = append(out, wrap(t))
	}
	return out
}
