package main

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/klog/v2"
	utilexec "k8s.io/utils/exec"

	"github.com/cinder-csi/cinder-csi-driver/pkg/cinder"
	"github.com/cinder-csi/cinder-csi-driver/pkg/driver"
	"github.com/cinder-csi/cinder-csi-driver/pkg/metrics"
	"github.com/cinder-csi/cinder-csi-driver/pkg/mount"
)

// buildDeps builds the collaborators the mode needs. The node plugin needs no cloud
// credentials unless it serves inline ephemeral volumes (--ephemeral): otherwise a
// cloud config is read only for its [BlockStorage] settings.
func buildDeps(ctx context.Context, opts driver.Options) (driver.Deps, error) {
	deps := driver.Deps{Version: version, MaxVolumesPerNode: opts.MaxVolumesPerNode, IgnoreVolumeAZ: opts.IgnoreVolumeAZ,
		Metrics: metrics.New(prometheus.NewRegistry(), metrics.Build{Version: version, CSISpec: driver.CSISpecVersion, Mode: opts.Mode, Attacher: opts.Attacher})}
	deps.Metrics.Zero(cinder.Services, append(slices.Clone(cinder.RepairKinds), driver.NodeRepairKinds...))
	if opts.PublishKeyFile != "" {
		key, err := os.ReadFile(opts.PublishKeyFile)
		if err != nil {
			return deps, fmt.Errorf("--publish-key-file: %w", err)
		}
		deps.PublishKey = key
	}
	nodeCloud := opts.Mode != driver.ModeController && opts.Ephemeral
	var cfg *cinder.Config
	if opts.Mode != driver.ModeNode || nodeCloud || opts.CloudConfig != "" {
		var err error
		if cfg, err = cinder.LoadConfig(opts.CloudConfig, opts.CloudName); err != nil {
			if opts.Mode == driver.ModeNode && nodeCloud {
				return deps, fmt.Errorf("loading cloud config (--ephemeral needs credentials on the node, or drop --ephemeral): %w", err)
			}
			return deps, fmt.Errorf("loading cloud config: %w", err)
		}
		if deps.MaxVolumesPerNode == 0 {
			deps.MaxVolumesPerNode = cfg.NodeVolumeAttachLimit
		}
		deps.IgnoreVolumeAZ = deps.IgnoreVolumeAZ || cfg.IgnoreVolumeAZ
	}
	if opts.Mode != driver.ModeNode || nodeCloud {
		actx, cancel := context.WithTimeout(ctx, 2*time.Minute)
		defer cancel()
		client, err := cinder.NewClient(actx, cfg, cinder.ClientOptions{
			UserAgent: "cinder-csi-driver/" + version,
			Waits:     cinder.WaitOptions{Initial: opts.WaitInitial, Max: opts.WaitMax, MinInterval: opts.WaitMinInterval, Fixed: !opts.WaitLearn},
			Observer:  deps.Metrics,
		})
		if err != nil {
			return deps, fmt.Errorf("connecting to OpenStack (%s): %w", cfg.Source, err)
		}
		attacher := client.CinderAttacher()
		if opts.Attacher == driver.AttacherNova {
			attacher = client.NovaAttacher()
		}
		if opts.Mode != driver.ModeNode {
			deps.Cloud, deps.Attacher, deps.Groups = client, attacher, client
		}
		if nodeCloud {
			deps.NodeCloud, deps.NodeAttacher = client, attacher
		}
	}
	if opts.Mode != driver.ModeController {
		exec := utilexec.New()
		deps.Mounter = mount.NewMounter()
		deps.StorageHealth = driver.NodeStorage(opts)
		if opts.Attacher == driver.AttacherNova {
			deps.OtherDisks = mount.DiskSlots{SysBlock: "/sys/block", KubeletDir: opts.KubeletDir, DriverName: opts.DriverName}
		}
		deps.Metrics.StagedVolumes(func() (int, error) { return mount.CountStaged(opts.DriverName) })
		deps.Locators = map[string]mount.DeviceLocator{
			driver.AttacherNova:   mount.NewNovaLocator(mount.DefaultDevDir, mount.UdevadmTrigger(exec)),
			driver.AttacherCinder: mount.NewCinderLocator(mount.CinderConnectors(exec, opts.NFSMountBase, opts.StateDir)),
		}
		node, err := nodeIdentity(ctx, opts, cfg)
		if err != nil {
			return deps, err
		}
		if opts.Attacher == driver.AttacherCinder {
			if node.IP, node.Initiator, err = nodeConnector(opts); err != nil {
				return deps, fmt.Errorf("--iscsi-initiator-file: %w", err)
			}
		}
		deps.Node = node
	}
	return deps, nil
}

// nodeIdentity takes the node ID and zone from the flags, and what is missing from
// the instance metadata (config drive or metadata service).
func nodeIdentity(ctx context.Context, opts driver.Options, cfg *cinder.Config) (driver.NodeIdentity, error) {
	n := driver.NodeIdentity{ID: opts.NodeID, Zone: opts.Zone}
	if n.ID != "" && (n.Zone != "" || !opts.WithTopology) {
		return n, nil
	}
	order := strings.Split(opts.MetadataSearchOrder, ",")
	if cfg != nil && len(cfg.MetadataSearchOrder) > 0 {
		order = cfg.MetadataSearchOrder
	}
	mctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	drive := &mount.ConfigDrive{Exec: utilexec.New()}
	src := &cinder.MetadataSource{URL: opts.MetadataURL, Order: order, ConfigDrive: drive.ReadFile}
	md, err := src.Get(mctx)
	if err != nil {
		if n.ID == "" {
			return n, fmt.Errorf("the node ID is not set and the instance metadata is unreadable (%w): pass --node-id (and --zone)", err)
		}
		klog.InfoS("No zone from instance metadata; the node reports no topology", "err", err)
		return n, nil
	}
	if n.ID == "" {
		n.ID = md.UUID
		if opts.Attacher == driver.AttacherCinder && md.Name != "" {
			n.ID = md.Name
		}
	}
	if n.Zone == "" {
		n.Zone = md.AvailabilityZone
	}
	return n, nil
}
