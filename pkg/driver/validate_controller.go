package driver

import (
	"strings"

	"github.com/container-storage-interface/spec/lib/go/csi"

	"github.com/cinder-csi/cinder-csi-driver/pkg/cinder"
)

// One function per controller RPC turns a request into typed, checked arguments.

type createVolumeArgs struct {
	name       string
	sizeGiB    int
	caps       []capability
	params     volumeParams
	snapshotID string // a Cinder snapshot or backup ID
	// sourceIsBackup is set by resolveSource when snapshotID names a Cinder backup.
	sourceIsBackup bool
	// sourceGiB is the source's size, set by resolveSource.
	sourceGiB   int
	sourceVolID string
	// sourceNodes are the nodes a source volume is attached to, set by resolveSource.
	sourceNodes []string
	// zone is the zone to make the volume in ("": Cinder's default); zones what the
	// topology allows, and zoneExplicit whether the StorageClass named the zone.
	zone         string
	zones        zoneRequest
	zoneExplicit bool
	// sourceZone is a snapshot's or source volume's zone, set by resolveSource when
	// zones are topology: Cinder makes the volume there (see topology.go).
	sourceZone  string
	explicitReq bool // required_bytes was given (a source's size may not raise it)
}

func checkName(field, name string) error {
	if name == "" {
		return invalid("%s is required", field)
	}
	if len(name) > 255 || !nameRE.MatchString(name) {
		return invalid("%s must be 1-255 printable characters", field)
	}
	return nil
}

func (d *Driver) validateCreateVolume(req *csi.CreateVolumeRequest) (createVolumeArgs, error) {
	var a createVolumeArgs
	var err error
	if err = checkName("name", req.GetName()); err != nil {
		return a, err
	}
	a.name = req.GetName()
	if a.caps, err = parseCapabilities(req.GetVolumeCapabilities()); err != nil {
		return a, err
	}
	if a.sizeGiB, err = sizeGiB(req.GetCapacityRange(), 1); err != nil {
		return a, err
	}
	a.explicitReq = req.GetCapacityRange().GetRequiredBytes() > 0
	if a.params, err = parseVolumeParams(req.GetParameters()); err != nil {
		return a, err
	}
	if mp := req.GetMutableParameters(); len(mp) > 0 {
		// A VolumeAttributesClass given at creation wins over the StorageClass type.
		if a.params.volumeType, err = parseMutableParams(mp); err != nil {
			return a, err
		}
	}
	if src := req.GetVolumeContentSource(); src != nil {
		switch t := src.GetType().(type) {
		case *csi.VolumeContentSource_Snapshot:
			a.snapshotID = t.Snapshot.GetSnapshotId()
			if err := checkID("volume_content_source.snapshot.snapshot_id", a.snapshotID); err != nil {
				return a, err
			}
		case *csi.VolumeContentSource_Volume:
			a.sourceVolID = t.Volume.GetVolumeId()
			if err := checkID("volume_content_source.volume.volume_id", a.sourceVolID); err != nil {
				return a, err
			}
		default:
			return a, invalid("volume_content_source must be a snapshot or a volume")
		}
	}
	a.zone, a.zoneExplicit = a.params.availability, a.params.availability != ""
	if !a.zoneExplicit && d.zoneTopology() {
		a.zones = zonesOf(req.GetAccessibilityRequirements())
		a.zone = a.zones.first()
	}
	return a, nil
}

type publishArgs struct {
	volumeID string
	// nodeID is the node's ID for the cloud (node.ID): the host, not the whole node
	// ID of the Cinder path.
	nodeID   string
	node     cinder.Node
	cap      capability
	readOnly bool
}

func (d *Driver) validateControllerPublish(req *csi.ControllerPublishVolumeRequest) (publishArgs, error) {
	a := publishArgs{volumeID: req.GetVolumeId(), nodeID: req.GetNodeId(), readOnly: req.GetReadonly()}
	if a.volumeID == "" {
		return a, invalid("volume_id is required")
	}
	if req.GetNodeId() == "" {
		return a, invalid("node_id is required")
	}
	var err error
	if a.cap, err = parseCapability(req.GetVolumeCapability()); err != nil {
		return a, err
	}
	if err := checkID("volume_id", a.volumeID); err != nil {
		return a, err
	}
	a.node, err = d.nodeOf(a.nodeID, true)
	a.nodeID = a.node.ID
	return a, err
}

func (d *Driver) validateControllerUnpublish(req *csi.ControllerUnpublishVolumeRequest) (publishArgs, error) {
	a := publishArgs{volumeID: req.GetVolumeId(), nodeID: req.GetNodeId()}
	if err := checkID("volume_id", a.volumeID); err != nil {
		return a, err
	}
	if a.nodeID != "" {
		var err error
		a.node, err = d.nodeOf(a.nodeID, false)
		a.nodeID = a.node.ID
		return a, err
	}
	return a, nil
}

type expandArgs struct {
	volumeID string
	sizeGiB  int
	block    bool
}

func validateControllerExpand(req *csi.ControllerExpandVolumeRequest) (expandArgs, error) {
	a := expandArgs{volumeID: req.GetVolumeId()}
	if a.volumeID == "" {
		return a, invalid("volume_id is required")
	}
	if req.GetCapacityRange() == nil {
		return a, invalid("capacity_range is required")
	}
	var err error
	if a.sizeGiB, err = sizeGiB(req.GetCapacityRange(), 1); err != nil {
		return a, err
	}
	if c := req.GetVolumeCapability(); c != nil {
		pc, err := parseCapability(c)
		if err != nil {
			return a, err
		}
		a.block = pc.block
	}
	return a, checkID("volume_id", a.volumeID)
}

type createSnapshotArgs struct {
	name     string
	volumeID string
	params   snapshotParams
	zones    zoneRequest // where the snapshot must be usable from
}

func (d *Driver) validateCreateSnapshot(req *csi.CreateSnapshotRequest) (createSnapshotArgs, error) {
	a := createSnapshotArgs{name: req.GetName(), volumeID: req.GetSourceVolumeId()}
	if r := req.GetAccessibilityRequirements(); r != nil {
		if !d.zoneTopology() {
			return a, invalid("accessibility_requirements given, but this driver does not advertise SNAPSHOT_ACCESSIBILITY_CONSTRAINTS (--with-topology=false or ignore-volume-az): its snapshots are usable from every zone; drop them")
		}
		a.zones = zonesOf(r)
	}
	if err := checkName("name", a.name); err != nil {
		return a, err
	}
	if a.volumeID == "" {
		return a, invalid("source_volume_id is required")
	}
	var err error
	if a.params, err = parseSnapshotParams(req.GetParameters()); err != nil {
		return a, err
	}
	return a, checkID("source_volume_id", a.volumeID)
}

// checkToken checks a pagination token: a Cinder ID, optionally after a one-letter
// prefix ("s:", "b:"). An invalid token is Aborted, as the CSI spec asks.
func checkToken(tok string, prefixes ...string) (prefix, marker string, err error) {
	if tok == "" {
		return "", "", nil
	}
	prefix, marker = "", tok
	for _, p := range prefixes {
		if strings.HasPrefix(tok, p) {
			prefix, marker = p, strings.TrimPrefix(tok, p)
			break
		}
	}
	if len(prefixes) > 0 && prefix == "" || marker != "" && !uuidRE.MatchString(marker) {
		return "", "", aborted("starting_token %q was not issued by this driver; list again without it", truncate(tok))
	}
	return prefix, marker, nil
}

func checkMaxEntries(n int32) error {
	if n < 0 {
		return invalid("max_entries %d must not be negative", n)
	}
	return nil
}
