package driver

import (
	"regexp"
	"sort"
	"strings"
)

// StorageClass parameters this driver understands. Anything under csi.storage.k8s.io/
// belongs to the sidecars and is ignored here (the PVC name and namespace among them
// are copied into volume metadata).
const (
	paramType         = "type"
	paramAvailability = "availability"
	paramMkfsOptions  = "mkfsOptions"
	paramSnapshotType = "type" // VolumeSnapshotClass: "snapshot" (default) or "backup"
	// VolumeGroupSnapshotClass: the Cinder group type, and the consistency asked for.
	paramGroupType   = "groupType"
	paramConsistency = "consistency"

	k8sPrefix       = "csi.storage.k8s.io/"
	keyPVCName      = "csi.storage.k8s.io/pvc/name"
	keyPVCNamespace = "csi.storage.k8s.io/pvc/namespace"
	keyPVName       = "csi.storage.k8s.io/pv/name"
	keyVSName       = "csi.storage.k8s.io/volumesnapshot/name"
	keyVSNamespace  = "csi.storage.k8s.io/volumesnapshot/namespace"
	keyVSCName      = "csi.storage.k8s.io/volumesnapshotcontent/name"

	// Metadata keys the driver writes on Cinder objects.
	metaCSIName = "cinder.csi.openstack.org/name"
	metaCluster = "cinder.csi.openstack.org/cluster"

	// Volume context keys handed from CreateVolume to the node.
	ctxMkfsOptions = "mkfsOptions"
)

// volumeParams are the parsed StorageClass parameters.
type volumeParams struct {
	volumeType   string
	availability string
	mkfsOptions  []string
	metadata     map[string]string // from csi.storage.k8s.io/* keys
}

// Volume type and AZ names are free-form in Cinder but never contain control
// characters; a bound keeps them out of logs and URLs in one piece.
var nameRE = regexp.MustCompile(`^[^\x00-\x1f\x7f]{1,255}$`)

// mkfs options are split on spaces and must look like options or plain values, so a
// StorageClass cannot smuggle a device path or shell syntax into mkfs.
var mkfsOptRE = regexp.MustCompile(`^[A-Za-z0-9_.,=:+-]{1,128}$`)

func parseVolumeParams(p map[string]string) (volumeParams, error) {
	out := volumeParams{metadata: map[string]string{}}
	for _, k := range sortedKeys(p) {
		v := p[k]
		switch {
		case k == paramType:
			if !nameRE.MatchString(v) {
				return out, invalid("parameter %q must be a Cinder volume type name (1-255 printable characters)", k)
			}
			out.volumeType = v
		case k == paramAvailability:
			if !nameRE.MatchString(v) {
				return out, invalid("parameter %q must be an availability zone name (1-255 printable characters)", k)
			}
			out.availability = v
		case k == paramMkfsOptions:
			opts, err := parseMkfsOptions(v)
			if err != nil {
				return out, err
			}
			out.mkfsOptions = opts
		case strings.HasPrefix(k, k8sPrefix):
			if k == keyPVCName || k == keyPVCNamespace || k == keyPVName {
				out.metadata[k] = v
			}
		default:
			return out, invalid("unknown StorageClass parameter %q: this driver accepts %q, %q and %q", k, paramType, paramAvailability, paramMkfsOptions)
		}
	}
	return out, nil
}

func parseMkfsOptions(v string) ([]string, error) {
	fields := strings.Fields(v)
	if len(fields) > 32 {
		return nil, invalid("parameter %q has %d options; at most 32 are allowed", paramMkfsOptions, len(fields))
	}
	for _, f := range fields {
		if !mkfsOptRE.MatchString(f) {
			return nil, invalid("parameter %q: option %q may only contain letters, digits and _.,=:+-", paramMkfsOptions, truncate(f))
		}
	}
	return fields, nil
}

// snapshotParams are the parsed VolumeSnapshotClass parameters.
type snapshotParams struct {
	backup   bool
	metadata map[string]string
}

func parseSnapshotParams(p map[string]string) (snapshotParams, error) {
	out := snapshotParams{metadata: map[string]string{}}
	for _, k := range sortedKeys(p) {
		v := p[k]
		switch {
		case k == paramSnapshotType:
			switch strings.ToLower(v) {
			case "", "snapshot":
			case "backup":
				out.backup = true
			default:
				return out, invalid("VolumeSnapshotClass parameter %q is %q: use \"snapshot\" or \"backup\"", k, v)
			}
		case strings.HasPrefix(k, k8sPrefix):
			if k == keyVSName || k == keyVSNamespace || k == keyVSCName {
				out.metadata[k] = v
			}
		default:
			return out, invalid("unknown VolumeSnapshotClass parameter %q: this driver accepts %q", k, paramSnapshotType)
		}
	}
	return out, nil
}

// Group snapshot consistency (paramConsistency).
const (
	// consistencyWriteOrder is what the CSI spec asks of a group snapshot: one
	// instant for every member, or a failure. Cinder gives it only for group types
	// with consistent_group_snapshot_enabled, on backends that can cut them.
	consistencyWriteOrder = "write-order"
	// consistencyPerVolume accepts Cinder's generic group snapshot: the members are
	// snapshotted one after the other, each crash-consistent on its own.
	consistencyPerVolume = "per-volume"
)

// groupSnapshotParams are the parsed VolumeGroupSnapshotClass parameters.
type groupSnapshotParams struct {
	groupType   string
	consistency string
}

func parseGroupSnapshotParams(p map[string]string) (groupSnapshotParams, error) {
	out := groupSnapshotParams{consistency: consistencyWriteOrder}
	for _, k := range sortedKeys(p) {
		v := p[k]
		switch {
		case k == paramGroupType:
			if len(v) > 255 || !nameRE.MatchString(v) {
				return out, invalid("VolumeGroupSnapshotClass parameter %q must be a Cinder group type name or ID (1-255 printable characters)", k)
			}
			out.groupType = v
		case k == paramConsistency:
			switch v {
			case consistencyWriteOrder, consistencyPerVolume:
				out.consistency = v
			default:
				return out, invalid("VolumeGroupSnapshotClass parameter %q is %q: use %q or %q", k, v, consistencyWriteOrder, consistencyPerVolume)
			}
		case strings.HasPrefix(k, k8sPrefix):
			// --extra-create-metadata: Cinder groups and group snapshots have no metadata.
		default:
			return out, invalid("unknown VolumeGroupSnapshotClass parameter %q: this driver accepts %q and %q", k, paramGroupType, paramConsistency)
		}
	}
	return out, nil
}

// parseMutableParams parses VolumeAttributesClass parameters: only the volume type
// can change (a Cinder retype). None ("") changes nothing, as csi-sanity expects of a
// class without parameters.
func parseMutableParams(p map[string]string) (string, error) {
	var volumeType string
	for _, k := range sortedKeys(p) {
		switch k {
		case paramType:
			if !nameRE.MatchString(p[k]) {
				return "", invalid("mutable parameter %q must be a Cinder volume type name", k)
			}
			volumeType = p[k]
		default:
			return "", invalid("mutable parameter %q cannot be changed: only %q (a Cinder retype) can", k, paramType)
		}
	}
	return volumeType, nil
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// objectMetadata is the Cinder metadata of a volume or snapshot the controller
// makes for the CSI name: the StorageClass's or VolumeSnapshotClass's own keys,
// then the name and the cluster, which a parameter cannot override.
func (d *Driver) objectMetadata(name string, params map[string]string) map[string]string {
	md := make(map[string]string, len(params)+2)
	for k, v := range params {
		md[k] = v
	}
	md[metaCSIName] = name
	if d.opts.Cluster != "" {
		md[metaCluster] = d.opts.Cluster
	}
	return md
}
