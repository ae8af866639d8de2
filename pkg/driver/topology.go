package driver

import (
	"context"
	"errors"
	"slices"

	"github.com/container-storage-interface/spec/lib/go/csi"

	"github.com/cinder-csi/cinder-csi-driver/pkg/cinder"
)

// Zones: where a volume is made, and where volumes and snapshots are usable from.
//
// A volume is usable from the nodes of its Cinder availability zone. A Cinder
// snapshot stays in its volume's zone, and Cinder (cloned_volume_same_az, on by
// default) makes a volume from a snapshot or a clone only in the source's zone: so a
// snapshot is usable from that zone alone (SNAPSHOT_ACCESSIBILITY_CONSTRAINTS). A
// backup is not bound to a zone. With ignore-volume-az (cloud.conf [BlockStorage],
// for clouds whose Cinder zones are not named like the Nova zones the nodes report)
// a zone says nothing about which nodes can attach a volume: no zone from the
// topology is sent to Cinder and none is reported.

// zoneTopology reports whether zones are taken from and reported as topology.
func (d *Driver) zoneTopology() bool { return d.opts.WithTopology && !d.deps.IgnoreVolumeAZ }

// zoneRequest is what a request's accessibility requirements allow.
type zoneRequest struct {
	preferred []string // in the CO's order
	requisite []string // empty: any zone
}

func zonesOf(r *csi.TopologyRequirement) zoneRequest {
	pick := func(ts []*csi.Topology) []string {
		var out []string
		for _, t := range ts {
			if z := t.GetSegments()[TopologyZoneKey]; z != "" && !slices.Contains(out, z) {
				out = append(out, z)
			}
		}
		return out
	}
	return zoneRequest{preferred: pick(r.GetPreferred()), requisite: pick(r.GetRequisite())}
}

// first is the zone to make a volume in: the first preferred, else the first
// requisite one; "" leaves it to Cinder.
func (z zoneRequest) first() string {
	if len(z.preferred) > 0 {
		return z.preferred[0]
	}
	if len(z.requisite) > 0 {
		return z.requisite[0]
	}
	return ""
}

// allows reports whether a volume in zone satisfies the requisite topology.
func (z zoneRequest) allows(zone string) bool {
	return len(z.requisite) == 0 || slices.Contains(z.requisite, zone)
}

func zoneTopologies(zone string) []*csi.Topology {
	if zone == "" {
		return nil
	}
	return []*csi.Topology{{Segments: map[string]string{TopologyZoneKey: zone}}}
}

// volumeZones memoises the zones of the source volumes of snapshots for one call.
type volumeZones struct {
	cloud cinder.Cloud
	zones map[string]string
}

func (d *Driver) newVolumeZones() *volumeZones {
	return &volumeZones{cloud: d.deps.Cloud, zones: map[string]string{}}
}

// know records a zone read elsewhere, so that of does not read it again.
func (m *volumeZones) know(v *cinder.Volume) { m.zones[v.ID] = v.AvailabilityZone }

// of returns the zone of volume id ("" for none or a volume Cinder no longer has).
func (m *volumeZones) of(ctx context.Context, id string) (string, error) {
	if z, ok := m.zones[id]; ok {
		return z, nil
	}
	v, err := m.cloud.GetVolume(ctx, id)
	switch {
	case err == nil:
		m.zones[id] = v.AvailabilityZone
	case errors.Is(err, cinder.ErrNotFound):
		m.zones[id] = ""
	default:
		return "", toStatus(err, "getting volume %s, the source of a snapshot, for its availability zone", id)
	}
	return m.zones[id], nil
}

// snapshotTopology is where a snapshot is usable from: its volume's zone for a
// Cinder snapshot; nil (everywhere) for a backup or when zones are not topology.
func (d *Driver) snapshotTopology(ctx context.Context, zones *volumeZones, s *cinder.Snapshot) ([]*csi.Topology, error) {
	if !d.zoneTopology() || s.IsBackup || s.VolumeID == "" {
		return nil, nil
	}
	z, err := zones.of(ctx, s.VolumeID)
	return zoneTopologies(z), err
}
