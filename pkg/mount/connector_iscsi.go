package mount

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"k8s.io/klog/v2"
	utilexec "k8s.io/utils/exec"
)

// DriverVolumeTypeISCSI is the driver_volume_type of Cinder's iSCSI drivers (LVM with
// LIO or tgt, most arrays). Its data names a target, and more for multipath:
// {"target_portal": "192.0.2.10:3260", "target_iqn": "iqn.2010-10.org.openstack:volume-<id>",
// "target_lun": 0, "target_portals": [...], "target_iqns": [...], "target_luns": [...],
// "auth_method": "CHAP", "auth_username": "...", "auth_password": "...", "discard": true}.
const DriverVolumeTypeISCSI = "iscsi"

// ISCSIInitiatorNameFile is where open-iscsi keeps the node's initiator name.
const ISCSIInitiatorNameFile = "/etc/iscsi/initiatorname.iscsi"

// ISCSIConnector logs the node in to a volume's iSCSI target with iscsiadm(8)
// (Debian package open-iscsi, with iscsid running on the host) and returns the LUN's
// disk, found through udev's /dev/disk/by-path links. It uses one path, the first
// target that accepts the login, without dm-multipath.
//
// The volume ID is in no iSCSI name, so Connect records the volume's targets in
// <stateDir>/iscsi/<volumeID>.json before it logs in, and Disconnect reads them back:
// that works after a restart and after a Connect that failed half-way. Disconnect
// logs out of a target only when no other LUN of it is in use on the node, by the
// by-path links and by the other volumes' records, because arrays export many
// volumes' LUNs through one target.
//
// This kernel has no iSCSI initiator (iscsi_tcp), so the connector is tested on
// recorded iscsiadm output (connector_iscsi_test.go), not against a real target.
type ISCSIConnector struct {
	exec     utilexec.Interface
	stateDir string
	// devDir is /dev/disk/by-path, sysDir /sys, apart for tests.
	devDir, sysDir string
	pollEvery      time.Duration

	// mu serializes logins and logouts, with the records written under it: a
	// Disconnect deciding to log out of a target must see a Connect of another LUN of
	// that target. The wait for the disk happens outside it.
	mu sync.Mutex
}

var _ Connector = (*ISCSIConnector)(nil)

// NewISCSIConnector returns a connector running iscsiadm through exec and keeping its
// records under stateDir (DefaultStateDir when empty).
func NewISCSIConnector(exec utilexec.Interface, stateDir string) *ISCSIConnector {
	if stateDir == "" {
		stateDir = DefaultStateDir
	}
	return &ISCSIConnector{
		exec:      exec,
		stateDir:  filepath.Join(stateDir, "iscsi"),
		devDir:    "/dev/disk/by-path",
		sysDir:    "/sys",
		pollEvery: 250 * time.Millisecond,
	}
}

// iscsiRecord is a volume's record: every target Connect tried, so that Disconnect
// also undoes a login whose disk never appeared.
type iscsiRecord struct {
	Targets []iscsiTarget `json:"targets"`
}

func (c *ISCSIConnector) Connect(ctx context.Context, volumeID string, data map[string]any) (string, error) {
	if err := checkVolumeID(volumeID); err != nil {
		return "", err
	}
	targets, auth, err := parseISCSIData(data)
	if err != nil {
		return "", fmt.Errorf("%w: iscsi connection data of volume %s: %v", ErrInvalidArgument, volumeID, err)
	}
	c.mu.Lock()
	if err := c.record(volumeID, targets); err != nil {
		c.mu.Unlock()
		return "", err
	}
	var errs []error
	var target *iscsiTarget
	for i, t := range targets {
		if device, ok := c.findDisk(t); ok {
			c.mu.Unlock()
			klog.V(4).InfoS("iSCSI disk already present", "volumeID", volumeID, "device", device)
			return device, nil
		}
		if err := c.login(ctx, t, auth); err != nil {
			errs = append(errs, err)
			continue
		}
		target = &targets[i]
		break
	}
	c.mu.Unlock()
	if target == nil {
		return "", fmt.Errorf("log in to an iSCSI target of volume %s: %w", volumeID, errors.Join(errs...))
	}
	return c.waitForDisk(ctx, volumeID, *target)
}

// Disconnect removes the volume's disk and logs out of targets nothing else uses. A
// volume without a record was never connected here: not an error. The record goes
// only when everything succeeded, so a retry finds it.
func (c *ISCSIConnector) Disconnect(ctx context.Context, volumeID string) error {
	if err := checkVolumeID(volumeID); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	rec, err := c.readRecord(volumeID)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	var errs []error
	for _, t := range rec.Targets {
		if device, ok := c.findDisk(t); ok {
			if err := c.removeDisk(ctx, device); err != nil {
				errs = append(errs, err)
				continue
			}
		}
		if user, err := c.targetUser(volumeID, t); err != nil || user != "" {
			if err != nil {
				errs = append(errs, err)
			} else {
				klog.V(2).InfoS("Staying logged in to a shared iSCSI target", "volumeID", volumeID, "iqn", t.IQN, "portal", t.Portal, "usedBy", user)
			}
			continue
		}
		if err := c.logout(ctx, t); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	if err := os.Remove(c.recordPath(volumeID)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	klog.V(2).InfoS("Disconnected iSCSI volume", "volumeID", volumeID)
	return nil
}

// login creates the node record if missing, sets CHAP, and logs in. A session that
// already exists (another LUN of a shared target) is rescanned, so that this LUN
// appears.
func (c *ISCSIConnector) login(ctx context.Context, t iscsiTarget, auth iscsiAuth) error {
	node := []string{"-m", "node", "-T", t.IQN, "-p", t.Portal}
	if _, err := c.iscsiadm(ctx, node...); err != nil {
		if status, _ := exitStatus(err); status != iscsiErrNoObjsFound {
			return err
		}
		if _, err := c.iscsiadm(ctx, append(node, "--op", "new")...); err != nil {
			return err
		}
	}
	if auth.method != "" {
		for _, kv := range [][2]string{
			{"node.session.auth.authmethod", auth.method},
			{"node.session.auth.username", auth.username},
			{"node.session.auth.password", auth.password},
		} {
			if _, err := c.iscsiadm(ctx, append(node, "--op", "update", "-n", kv[0], "-v", kv[1])...); err != nil {
				return err
			}
		}
	}
	_, err := c.iscsiadm(ctx, append(node, "--login")...)
	status, _ := exitStatus(err)
	switch {
	case err == nil:
		klog.V(2).InfoS("Logged in to iSCSI target", "iqn", t.IQN, "portal", t.Portal)
		return nil
	case status == iscsiErrSessExists:
		klog.V(4).InfoS("Already logged in to iSCSI target; rescanning it", "iqn", t.IQN, "portal", t.Portal)
		_, err := c.iscsiadm(ctx, append(node, "--rescan")...)
		return err
	case status == iscsiErrTrans || status == iscsiErrTransTimeout || status == iscsiErrFatalLogin:
		return fmt.Errorf("%w: iSCSI target %s at %s is unreachable or refused the login: %w", ErrDeviceNotFound, t.IQN, t.Portal, err)
	case status == iscsiErrTransNotFound:
		return fmt.Errorf("%w: the node's kernel lacks the iSCSI transport (module iscsi_tcp): %w", ErrUnsupported, err)
	case status == iscsiErrLoginAuthFailed:
		return fmt.Errorf("iSCSI target %s at %s refused the CHAP credentials Cinder gave: %w", t.IQN, t.Portal, err)
	case status == iscsiErrISCSIDNotConn || status == iscsiErrISCSIDComm:
		return fmt.Errorf("iscsid does not answer: is it running on the node? %w", err)
	}
	return err
}

// logout logs out of the target and forgets its node record; either being gone
// already is fine.
func (c *ISCSIConnector) logout(ctx context.Context, t iscsiTarget) error {
	node := []string{"-m", "node", "-T", t.IQN, "-p", t.Portal}
	for _, op := range [][]string{{"--logout"}, {"--op", "delete"}} {
		if _, err := c.iscsiadm(ctx, append(node, op...)...); err != nil {
			if status, _ := exitStatus(err); status != iscsiErrNoObjsFound {
				return err
			}
		}
	}
	klog.V(2).InfoS("Logged out of iSCSI target", "iqn", t.IQN, "portal", t.Portal)
	return nil
}

// Exit statuses of iscsiadm (open-iscsi's iscsi_err.h).
const (
	iscsiErrTrans           = 4
	iscsiErrTransTimeout    = 8
	iscsiErrTransNotFound   = 12
	iscsiErrSessExists      = 15
	iscsiErrISCSIDComm      = 18
	iscsiErrFatalLogin      = 19
	iscsiErrISCSIDNotConn   = 20
	iscsiErrNoObjsFound     = 21
	iscsiErrLoginAuthFailed = 24
)

// iscsiadm runs iscsiadm. Its errors show the arguments with CHAP secrets masked, and
// carry the exit status for exitStatus.
func (c *ISCSIConnector) iscsiadm(ctx context.Context, args ...string) (string, error) {
	stdout, stderr, err := runTool(ctx, c.exec, "iscsiadm", args...)
	if errors.Is(err, utilexec.ErrExecutableNotFound) {
		return "", missingTool("iscsiadm", "open-iscsi", err)
	}
	if err != nil {
		return "", toolError("iscsiadm", redactISCSIArgs(args), err, stdout, stderr)
	}
	return stdout, nil
}

// redactISCSIArgs masks the value of any node setting whose name mentions a password.
func redactISCSIArgs(args []string) []string {
	shown := slices.Clone(args)
	for i := 0; i+3 < len(shown); i++ {
		if shown[i] == "-n" && strings.Contains(shown[i+1], "password") && shown[i+2] == "-v" {
			shown[i+3] = "<redacted>"
		}
	}
	return shown
}

// waitForDisk waits, bounded by ctx, for the by-path link of the LUN.
func (c *ISCSIConnector) waitForDisk(ctx context.Context, volumeID string, t iscsiTarget) (string, error) {
	for {
		if device, ok := c.findDisk(t); ok {
			klog.V(2).InfoS("Found iSCSI disk", "volumeID", volumeID, "iqn", t.IQN, "lun", t.LUN, "device", device)
			return device, nil
		}
		select {
		case <-ctx.Done():
			return "", fmt.Errorf("%w: LUN %d of iSCSI target %s at %s did not appear in %s (looked for %s): %v",
				ErrDeviceNotFound, t.LUN, t.IQN, t.Portal, c.devDir, strings.Join(t.byPathNames(), ", "), ctx.Err())
		case <-time.After(c.pollEvery):
		}
	}
}

func (c *ISCSIConnector) findDisk(t iscsiTarget) (string, bool) {
	for _, name := range t.byPathNames() {
		if device, ok := resolveDiskLink(filepath.Join(c.devDir, name)); ok {
			return device, true
		}
	}
	return "", false
}

// removeDisk flushes the LUN's disk and deletes it from the SCSI layer, as a logout
// would, for the case where the session stays for other LUNs.
func (c *ISCSIConnector) removeDisk(ctx context.Context, device string) error {
	args := []string{"--flushbufs", device}
	if stdout, stderr, err := runTool(ctx, c.exec, "blockdev", args...); err != nil {
		return toolError("blockdev", args, err, stdout, stderr)
	}
	del := filepath.Join(c.sysDir, "block", filepath.Base(device), "device", "delete")
	if err := os.WriteFile(del, []byte("1"), 0o200); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("delete SCSI disk %s: %w", device, err)
	}
	klog.V(2).InfoS("Removed iSCSI disk", "device", device)
	return nil
}

// targetUser names what else uses target t besides the volume: another volume's
// record, or the by-path link of another LUN of the target. "" means nothing.
func (c *ISCSIConnector) targetUser(volumeID string, t iscsiTarget) (string, error) {
	entries, err := os.ReadDir(c.stateDir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return "", err
	}
	for _, e := range entries {
		other, ok := strings.CutSuffix(e.Name(), ".json")
		if !ok || other == volumeID || strings.HasPrefix(other, ".") {
			continue
		}
		rec, err := c.readRecord(other)
		if err != nil {
			klog.InfoS("Unreadable iSCSI record; assuming its targets are in use", "record", e.Name(), "err", err)
			return "volume " + other, nil
		}
		if slices.ContainsFunc(rec.Targets, t.sameTarget) {
			return "volume " + other, nil
		}
	}
	links, err := os.ReadDir(c.devDir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return "", err
	}
	for _, l := range links {
		for _, prefix := range t.byPathPrefixes() {
			rest, ok := strings.CutPrefix(l.Name(), prefix)
			if !ok {
				continue
			}
			if lun, _, _ := strings.Cut(rest, "-part"); lun != formatLUN(t.LUN) {
				return l.Name(), nil
			}
		}
	}
	return "", nil
}

func (c *ISCSIConnector) recordPath(volumeID string) string {
	return filepath.Join(c.stateDir, volumeID+".json")
}

// record adds targets to the volume's record (a retry may bring other portals).
func (c *ISCSIConnector) record(volumeID string, targets []iscsiTarget) error {
	rec, err := c.readRecord(volumeID)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	for _, t := range targets {
		if !slices.Contains(rec.Targets, t) {
			rec.Targets = append(rec.Targets, t)
		}
	}
	raw, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	if err := writeFileAtomic(c.recordPath(volumeID), raw); err != nil {
		return fmt.Errorf("record iSCSI targets of volume %s: %w", volumeID, err)
	}
	return nil
}

func (c *ISCSIConnector) readRecord(volumeID string) (iscsiRecord, error) {
	var rec iscsiRecord
	raw, err := os.ReadFile(c.recordPath(volumeID))
	if err != nil {
		return rec, err
	}
	if err := json.Unmarshal(raw, &rec); err != nil {
		return rec, fmt.Errorf("parse %s: %w", c.recordPath(volumeID), err)
	}
	return rec, nil
}
