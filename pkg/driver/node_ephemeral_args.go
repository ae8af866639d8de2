package driver

import (
	"path/filepath"
	"regexp"
	"strings"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"k8s.io/apimachinery/pkg/api/resource"
)

// Inline ephemeral volumes: the volume context keys kubelet sets, the attributes a pod
// spec may set, and the metadata that tags the Cinder volumes made for them.
const (
	ctxEphemeral    = "csi.storage.k8s.io/ephemeral"
	ctxPodName      = "csi.storage.k8s.io/pod.name"
	ctxPodNamespace = "csi.storage.k8s.io/pod.namespace"
	ctxPodUID       = "csi.storage.k8s.io/pod.uid"

	attrSize   = "size"
	attrType   = "type"
	attrFSType = "fsType"

	// The metadata lets anyone (and CollectEphemeralLeaks) tell which node and pod a
	// volume was made for, and whether that pod still uses it.
	metaEphemeral    = "cinder.csi.openstack.org/ephemeral"
	metaNode         = "cinder.csi.openstack.org/node"
	metaPodNamespace = "cinder.csi.openstack.org/pod-namespace"
	metaPodName      = "cinder.csi.openstack.org/pod-name"
	metaPodUID       = "cinder.csi.openstack.org/pod-uid"
	metaTargetPath   = "cinder.csi.openstack.org/target-path"

	// ephemeralPrefix + kubelet's handle names the Cinder volume.
	ephemeralPrefix = "csi-ephemeral-"

	defaultEphemeralSize = "1Gi"
	// maxMetadataValue is Cinder's limit on a metadata value.
	maxMetadataValue = 255
)

// kubelet's handle for an inline volume is "csi-" and a hex digest. It becomes part of
// a Cinder volume name and a directory name, so only a plain token is accepted.
var ephemeralHandleRE = regexp.MustCompile(`^[A-Za-z0-9-]{1,128}$`)

var ephemeralFS = map[string]bool{"ext4": true, "xfs": true, "btrfs": true}

func isEphemeralRequest(volumeContext map[string]string) bool {
	return volumeContext[ctxEphemeral] == "true"
}

// isEphemeralHandle tells kubelet's inline volume handles from Cinder volume IDs.
func isEphemeralHandle(id string) bool {
	return ephemeralHandleRE.MatchString(id) && !uuidRE.MatchString(id)
}

func checkEphemeralHandle(id string) error {
	switch {
	case id == "":
		return invalid("volume_id is required")
	case uuidRE.MatchString(id):
		return invalid("volume_id %q is a Cinder UUID, but an inline ephemeral volume's ID is kubelet's handle (csi-<hash>): use a PersistentVolume for an existing Cinder volume", id)
	case !ephemeralHandleRE.MatchString(id):
		return invalid("volume_id %q is not an inline ephemeral volume handle: at most 128 letters, digits and '-'", truncate(id))
	}
	return nil
}

// ephemeralArgs is a checked NodePublishVolume request for an inline volume.
type ephemeralArgs struct {
	handle     string
	targetPath string
	readOnly   bool
	sizeGiB    int
	volumeType string
	fsType     string
	mountFlags []string
	podNS      string
	podName    string
	podUID     string
}

func (d *Driver) validateEphemeralPublish(req *csi.NodePublishVolumeRequest) (ephemeralArgs, error) {
	a := ephemeralArgs{handle: req.GetVolumeId(), targetPath: req.GetTargetPath(), readOnly: req.GetReadonly()}
	if err := checkEphemeralHandle(a.handle); err != nil {
		return a, err
	}
	if err := checkPath("target_path", a.targetPath); err != nil {
		return a, err
	}
	if len(a.targetPath) > maxMetadataValue {
		return a, invalid("target_path is %d characters; an inline ephemeral volume records it in Cinder metadata, which holds at most %d", len(a.targetPath), maxMetadataValue)
	}
	c, err := parseCapability(req.GetVolumeCapability())
	if err != nil {
		return a, err
	}
	if c.block {
		return a, invalid("inline ephemeral volumes are filesystems; use a generic ephemeral volume for a raw block device")
	}
	a.mountFlags = c.mountFlags
	if err := d.parseEphemeralAttributes(req.GetVolumeContext(), c.fsType, &a); err != nil {
		return a, err
	}
	return a, nil
}

// parseEphemeralAttributes reads the pod spec's volumeAttributes. Keys under
// csi.storage.k8s.io/ are kubelet's (pod info, service account) and never refused.
func (d *Driver) parseEphemeralAttributes(attrs map[string]string, capFS string, a *ephemeralArgs) error {
	size := defaultEphemeralSize
	a.fsType = capFS
	for _, k := range sortedKeys(attrs) {
		v := attrs[k]
		switch {
		case k == attrSize:
			size = v
		case k == attrType:
			if !nameRE.MatchString(v) {
				return invalid("volume attribute %q must be a Cinder volume type name (1-255 printable characters)", k)
			}
			a.volumeType = v
		case k == attrFSType:
			fs := strings.ToLower(v)
			if capFS != "" && fs != capFS {
				return invalid("volume attribute %q is %q but the volume's fsType is %q: set one of them", k, v, capFS)
			}
			a.fsType = fs
		case k == ctxPodNamespace, k == ctxPodName, k == ctxPodUID:
			if len(v) > maxMetadataValue || strings.ContainsFunc(v, isControl) {
				return invalid("volume context %q is not a Kubernetes name", k)
			}
			switch k {
			case ctxPodNamespace:
				a.podNS = v
			case ctxPodName:
				a.podName = v
			default:
				a.podUID = v
			}
		case strings.HasPrefix(k, k8sPrefix):
		default:
			return invalid("unknown volume attribute %q for an inline ephemeral volume: this driver accepts %q (e.g. 1Gi), %q (a Cinder volume type) and %q (ext4, xfs or btrfs)",
				truncate(k), attrSize, attrType, attrFSType)
		}
	}
	if a.fsType == "" {
		a.fsType = defaultFSType
	}
	if !ephemeralFS[a.fsType] {
		return invalid("fsType %q is not supported for inline ephemeral volumes: use ext4 (default), xfs or btrfs", a.fsType)
	}
	var err error
	a.sizeGiB, err = d.ephemeralSizeGiB(size)
	return err
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f }

// ephemeralSizeGiB parses a Kubernetes quantity and rounds it up to whole GiB, as
// Cinder allocates, within --ephemeral-max-size.
func (d *Driver) ephemeralSizeGiB(v string) (int, error) {
	q, err := resource.ParseQuantity(v)
	if err != nil {
		return 0, invalid("volume attribute %q is %q, not a Kubernetes quantity: use e.g. 1Gi or 500Mi", attrSize, truncate(v))
	}
	if q.Sign() <= 0 {
		return 0, invalid("volume attribute %q is %q: it must be positive", attrSize, v)
	}
	limit := d.opts.EphemeralMaxSizeGiB
	if q.Cmp(*resource.NewQuantity(int64(limit)*gib, resource.BinarySI)) > 0 {
		return 0, outOfRange("inline ephemeral volume size %s is more than %dGi, this node's limit (--ephemeral-max-size); "+
			"use a generic ephemeral volume (a PVC template) for more scratch space", v, limit)
	}
	return int((q.Value() + gib - 1) / gib), nil
}

// ephemeralMetadata tags the Cinder volume with what leak collection needs.
func (d *Driver) ephemeralMetadata(a ephemeralArgs) map[string]string {
	md := map[string]string{
		metaEphemeral:  "true",
		metaNode:       d.deps.Node.ID,
		metaTargetPath: a.targetPath,
	}
	for k, v := range map[string]string{metaPodNamespace: a.podNS, metaPodName: a.podName, metaPodUID: a.podUID, metaCluster: d.opts.Cluster} {
		if v != "" {
			md[k] = v
		}
	}
	return md
}

// ownsEphemeral reports whether v is an inline ephemeral volume of this node (and
// cluster: host-name node IDs may repeat across clusters sharing a project).
func (d *Driver) ownsEphemeral(md map[string]string) bool {
	return md[metaEphemeral] == "true" && md[metaNode] == d.deps.Node.ID && md[metaCluster] == d.opts.Cluster
}

func ephemeralName(handle string) string { return ephemeralPrefix + handle }

func (d *Driver) ephemeralStagingPath(handle string) string {
	return filepath.Join(d.opts.StateDir, "ephemeral", handle)
}
