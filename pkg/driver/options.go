package driver

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/cinder-csi/cinder-csi-driver/pkg/cinder"
	"github.com/cinder-csi/cinder-csi-driver/pkg/mount"
)

// Modes and attach paths.
const (
	ModeController = "controller"
	ModeNode       = "node"
	ModeAll        = "all"

	AttacherNova   = "nova"
	AttacherCinder = "cinder"

	// DefaultDriverName is cloud-provider-openstack's, so that PVs it created keep working.
	DefaultDriverName = "cinder.csi.openstack.org"

	// DefaultMaxVolumesPerNode: a KVM guest's virtio-blk disks each take a slot on the
	// 32-slot PCI bus, of which the host bridge, ISA bridge, graphics, NIC, balloon,
	// serial, root disk and config drive use about 6, leaving 26 for volumes. Clouds
	// using virtio-scsi or q35 with PCIe root ports can raise it with
	// --max-volumes-per-node or cloud.conf [BlockStorage] node-volume-attach-limit.
	DefaultMaxVolumesPerNode = 26

	// TopologyZoneKey is the topology segment carrying the availability zone.
	TopologyZoneKey = "topology.cinder.csi.openstack.org/zone"
)

// Options are the driver's command-line settings.
type Options struct {
	Endpoint            string
	CloudConfig         string
	CloudName           string
	Mode                string
	Attacher            string
	DriverName          string
	NodeID              string
	Zone                string
	Cluster             string
	HTTPEndpoint        string
	MaxVolumesPerNode   int
	MetadataURL         string
	MetadataSearchOrder string
	WithTopology        bool
	IgnoreVolumeAZ      bool
	NFSMountBase        string
	// NodeIP and InitiatorFile describe a node of the Cinder attachments path to the
	// backend (its attachment connector): its address, and where open-iscsi keeps its
	// initiator name.
	NodeIP        string
	InitiatorFile string
	// PublishKeyFile holds the key that seals connection credentials in publish
	// contexts; the controller and node plugins must be given the same one.
	PublishKeyFile string
	// ExpandInUse and SnapshotInUse say what the storage backend can do to an attached
	// volume. Some backends (Cinder's NFS driver among them) fail such operations and
	// leave the volume in an error state, so the driver refuses them up front.
	ExpandInUse   bool
	SnapshotInUse bool
	ShowVersion   bool
	// Ephemeral serves CSI inline ephemeral volumes from the node plugin, which then
	// needs cloud credentials (see docs/ephemeral.md); the caps bound what a pod spec
	// can make the node create.
	Ephemeral           bool
	EphemeralMaxSizeGiB int
	EphemeralMaxPerNode int
	// StateDir holds the node plugin's private mounts (inline ephemeral staging).
	StateDir string
	// KubeletDir is kubelet's root directory, where kubelet records the volumes it
	// holds (the Nova path counts the disks that are not among them).
	KubeletDir string
	// Waits for Cinder and Nova (docs/waits.md): the fixed schedule's first pause and
	// cap, the shortest pause between checks, and whether waits learn their schedule.
	WaitInitial     time.Duration
	WaitMax         time.Duration
	WaitMinInterval time.Duration
	WaitLearn       bool
}

// DefaultOptions returns the options with every flag at its default.
func DefaultOptions() Options {
	var o Options
	o.AddFlags(flag.NewFlagSet("defaults", flag.ContinueOnError))
	return o
}

// AddFlags registers the options on fs with their defaults.
func (o *Options) AddFlags(fs *flag.FlagSet) {
	fs.StringVar(&o.Endpoint, "endpoint", "unix:///csi/csi.sock", "CSI endpoint: unix:///path/to/socket")
	fs.StringVar(&o.CloudConfig, "cloud-config", "", "OpenStack credentials: a clouds.yaml or a cloud-provider-openstack cloud.conf; empty uses the OS_* environment")
	fs.StringVar(&o.CloudName, "cloud", "", "cloud name in clouds.yaml (default: its only cloud, or \"openstack\")")
	fs.StringVar(&o.Mode, "mode", ModeAll, "services to serve: controller, node or all")
	fs.StringVar(&o.Attacher, "attacher", AttacherNova, "attach path: nova (node ID is a Nova server UUID) or cinder (Cinder attachments without Nova; node ID is a host name)")
	fs.StringVar(&o.DriverName, "driver-name", DefaultDriverName, "CSI driver name")
	fs.StringVar(&o.NodeID, "node-id", "", "node ID (node mode); default: the instance UUID from the metadata service or config drive")
	fs.StringVar(&o.Zone, "zone", "", "node availability zone (node mode); default: from the metadata service or config drive")
	fs.StringVar(&o.Cluster, "cluster", "", "cluster name written into volume and snapshot metadata")
	fs.StringVar(&o.HTTPEndpoint, "http-endpoint", "", "address for the HTTP health endpoint /healthz, e.g. :9808; empty disables it")
	fs.IntVar(&o.MaxVolumesPerNode, "max-volumes-per-node", 0, fmt.Sprintf("volumes a node can attach; 0 uses cloud.conf node-volume-attach-limit or %d", DefaultMaxVolumesPerNode))
	fs.StringVar(&o.MetadataURL, "metadata-url", "http://169.254.169.254", "OpenStack metadata service base URL")
	fs.StringVar(&o.MetadataSearchOrder, "metadata-search-order", cinder.MetadataConfigDrive+","+cinder.MetadataMetadataService,
		"where the node looks up its instance: "+cinder.MetadataConfigDrive+", "+cinder.MetadataMetadataService+", comma separated")
	fs.BoolVar(&o.WithTopology, "with-topology", true, "report and honour availability-zone topology")
	fs.BoolVar(&o.IgnoreVolumeAZ, "ignore-volume-az", false, "Cinder's availability zones are not named like the nodes' (Nova) zones: volumes are made in the StorageClass's availability zone or Cinder's default, and no zone is reported, so any node may attach them (needs Nova's cross_az_attach, its default); also set by cloud.conf [BlockStorage] ignore-volume-az")
	fs.StringVar(&o.NFSMountBase, "nfs-mount-base", "", "where NFS shares of Cinder attachments are mounted on the node (default: the mount_point_base Cinder reports)")
	fs.BoolVar(&o.ExpandInUse, "expand-in-use", true, "the backend can extend attached volumes; false makes expansion offline-only (the resizer waits until the volume is detached)")
	fs.BoolVar(&o.SnapshotInUse, "snapshot-in-use", true, "the backend can snapshot, clone and back up attached volumes and delete their snapshots; false refuses these with FailedPrecondition until the volume is detached, instead of letting Cinder fail")
	fs.BoolVar(&o.ShowVersion, "version", false, "print the version and exit")
	fs.BoolVar(&o.Ephemeral, "ephemeral", false, "serve CSI inline ephemeral volumes (node mode); the node plugin then needs cloud credentials (--cloud-config) to create, attach and delete them")
	fs.IntVar(&o.EphemeralMaxSizeGiB, "ephemeral-max-size", 10, "largest inline ephemeral volume in GiB; larger requests fail with OutOfRange")
	fs.IntVar(&o.EphemeralMaxPerNode, "ephemeral-max-per-node", 8, "inline ephemeral volumes one node may have; more fail with ResourceExhausted")
	fs.StringVar(&o.NodeIP, "node-ip", "", "with --attacher cinder (node mode): the node's IP address, sent in the attachment connector (the chart passes the pod's status.hostIP); default: the first global address of an interface that is up")
	fs.StringVar(&o.InitiatorFile, "iscsi-initiator-file", mount.ISCSIInitiatorNameFile, "with --attacher cinder (node mode): open-iscsi's initiator name file; its InitiatorName goes into the attachment connector (iSCSI backends export targets to it); a node without it has none")
	fs.StringVar(&o.PublishKeyFile, "publish-key-file", "", "file with a key of at least 32 random characters, the same for the controller and node plugins: credentials in Cinder's connection info (iSCSI CHAP passwords, RBD keyrings) travel sealed with it in the publish context; without it such volumes are refused on ControllerPublishVolume")
	fs.DurationVar(&o.WaitInitial, "wait-initial", time.Second, "first pause of the fixed wait schedule: after a request, checks come at half of it, then at pauses growing by half (docs/waits.md)")
	fs.DurationVar(&o.WaitMax, "wait-max", 5*time.Second, "longest pause between two checks of a wait")
	fs.DurationVar(&o.WaitMinInterval, "wait-min-interval", 50*time.Millisecond, "shortest pause between two checks of a wait, learned schedule included")
	fs.BoolVar(&o.WaitLearn, "wait-learn", true, "learn from the durations observed how soon to check each kind of operation; false keeps the fixed schedule")
	fs.StringVar(&o.KubeletDir, "kubelet-dir", "/var/lib/kubelet", "node, --attacher nova: kubelet's root directory; the disks of the node that are not volumes kubelet holds for this driver (root disk, config drive, volumes attached by others) are taken from the attach limit NodeGetInfo reports")
	fs.StringVar(&o.StateDir, "state-dir", mount.DefaultStateDir, "node directory that must outlive the plugin (a hostPath): iSCSI and RBD records, qcow2 exports, inline ephemeral volumes under <state-dir>/ephemeral")
}

// waitOrder checks the wait settings (0 takes the default): none negative, and
// each set one at most the next.
func waitOrder(d ...time.Duration) string {
	for i, v := range d {
		if v < 0 {
			return "none may be negative"
		}
		if i > 0 && v > 0 && d[i-1] > v {
			return "each must be at most the next"
		}
	}
	return ""
}

var driverNameRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9.-]{0,61}[a-z0-9])?$`)

// Validate checks the options and says what to fix.
func (o *Options) Validate() error {
	var errs []error
	if _, _, err := ParseEndpoint(o.Endpoint); err != nil {
		errs = append(errs, err)
	}
	switch o.Mode {
	case ModeController, ModeNode, ModeAll:
	default:
		errs = append(errs, fmt.Errorf("--mode %q: use controller, node or all", o.Mode))
	}
	switch o.Attacher {
	case AttacherNova, AttacherCinder:
	default:
		errs = append(errs, fmt.Errorf("--attacher %q: use nova or cinder", o.Attacher))
	}
	if !driverNameRE.MatchString(o.DriverName) {
		errs = append(errs, fmt.Errorf("--driver-name %q: use at most 63 lower-case letters, digits, dots and dashes", o.DriverName))
	}
	if w := waitOrder(o.WaitMinInterval, o.WaitInitial, o.WaitMax); w != "" {
		errs = append(errs, fmt.Errorf("--wait-min-interval %s, --wait-initial %s, --wait-max %s: %s", o.WaitMinInterval, o.WaitInitial, o.WaitMax, w))
	}
	if o.MaxVolumesPerNode < 0 {
		errs = append(errs, fmt.Errorf("--max-volumes-per-node %d must not be negative", o.MaxVolumesPerNode))
	}
	if o.NodeID != "" && o.Attacher == AttacherNova && !uuidRE.MatchString(o.NodeID) {
		errs = append(errs, fmt.Errorf("--node-id %q: with --attacher nova the node ID is the Nova server UUID", o.NodeID))
	}
	if o.NodeID != "" && o.Attacher == AttacherCinder && !hostRE.MatchString(o.NodeID) {
		errs = append(errs, fmt.Errorf("--node-id %q: with --attacher cinder the node ID is a host name (letters, digits, . _ -)", o.NodeID))
	}
	if o.NodeIP != "" && net.ParseIP(o.NodeIP) == nil {
		errs = append(errs, fmt.Errorf("--node-ip %q is not an IP address", o.NodeIP))
	}
	if len(o.Cluster) > 255 {
		errs = append(errs, fmt.Errorf("--cluster is %d characters; at most 255", len(o.Cluster)))
	}
	if u, err := url.Parse(o.MetadataURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		errs = append(errs, fmt.Errorf("--metadata-url %q must be an http(s) URL", o.MetadataURL))
	}
	if o.NFSMountBase != "" && (!filepath.IsAbs(o.NFSMountBase) || filepath.Clean(o.NFSMountBase) != o.NFSMountBase) {
		errs = append(errs, fmt.Errorf("--nfs-mount-base %q must be an absolute, clean path", o.NFSMountBase))
	}
	errs = append(errs, o.validateEphemeral()...)
	for _, s := range strings.Split(o.MetadataSearchOrder, ",") {
		if s != cinder.MetadataConfigDrive && s != cinder.MetadataMetadataService {
			errs = append(errs, fmt.Errorf("--metadata-search-order: %q is neither %s nor %s", s, cinder.MetadataConfigDrive, cinder.MetadataMetadataService))
		}
	}
	return errors.Join(errs...)
}

// validateEphemeral checks the inline ephemeral settings, only when they are used.
func (o *Options) validateEphemeral() []error {
	if !o.Ephemeral {
		return nil
	}
	var errs []error
	if o.Mode == ModeController {
		errs = append(errs, errors.New("--ephemeral serves inline volumes from node plugins: drop it with --mode controller"))
	}
	if o.EphemeralMaxSizeGiB < 1 || o.EphemeralMaxSizeGiB > 1<<20 {
		errs = append(errs, fmt.Errorf("--ephemeral-max-size %d: use 1 to 1048576 GiB", o.EphemeralMaxSizeGiB))
	}
	if o.EphemeralMaxPerNode < 1 {
		errs = append(errs, fmt.Errorf("--ephemeral-max-per-node %d must be at least 1", o.EphemeralMaxPerNode))
	}
	if !filepath.IsAbs(o.StateDir) || filepath.Clean(o.StateDir) != o.StateDir {
		errs = append(errs, fmt.Errorf("--state-dir %q must be an absolute, clean path", o.StateDir))
	}
	return errs
}

// ParseEndpoint splits a CSI endpoint into a network and an address.
func ParseEndpoint(ep string) (string, string, error) {
	u, err := url.Parse(ep)
	if err != nil {
		return "", "", fmt.Errorf("--endpoint %q is not a URL: %v", ep, err)
	}
	switch u.Scheme {
	case "unix":
		p := u.Path
		if u.Host != "" { // unix://relative/path
			p = u.Host + p
		}
		if p == "" {
			return "", "", fmt.Errorf("--endpoint %q has no socket path: use unix:///path/to/csi.sock", ep)
		}
		return "unix", p, nil
	case "tcp":
		if u.Host == "" {
			return "", "", fmt.Errorf("--endpoint %q has no host:port", ep)
		}
		return "tcp", u.Host, nil
	}
	return "", "", fmt.Errorf("--endpoint %q: use unix:///path/to/csi.sock (or tcp://host:port for tests)", ep)
}
