package mount

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
	"k8s.io/klog/v2"
	utilexec "k8s.io/utils/exec"
)

// DriverVolumeTypeRBD is the driver_volume_type of Cinder's Ceph RBD driver. Its data
// names the image and how to reach the cluster: {"name": "volumes/volume-<id>",
// "hosts": ["192.0.2.20", ...], "ports": ["6789", ...], "cluster_name": "ceph",
// "auth_enabled": true, "auth_username": "cinder", "secret_type": "ceph",
// "secret_uuid": "...", "keyring": "<keyring file content, optional>"}.
const DriverVolumeTypeRBD = "rbd"

// RBDConnector maps a volume's RBD image with the kernel's rbd driver through the rbd
// CLI (Debian package ceph-common): `rbd map`, `rbd unmap`, `rbd showmapped`. The
// kernel's list of mappings, read with showmapped, is the truth: Connect reuses a
// mapping of the image, and Disconnect finds the volume's mappings by image name
// (Cinder names images volume-<id>), so nothing is remembered.
//
// The cephx key comes from the keyring in the connection data, written to a file in
// <stateDir>/rbd only for the time of the map (the kernel keeps the key), or
// else from the node's /etc/ceph/<cluster>.client.<user>.keyring. secret_uuid names a
// libvirt secret and is of no use here.
//
// This kernel has no rbd module, so the connector is tested on recorded rbd output
// (connector_rbd_test.go), not against a real cluster.
type RBDConnector struct {
	exec utilexec.Interface
	// keyringDir holds keyrings during a map: <stateDir>/rbd.
	keyringDir string

	// mu serializes find-then-map, so that two callers cannot map one image twice.
	mu sync.Mutex
}

var _ Connector = (*RBDConnector)(nil)

// NewRBDConnector returns a connector running rbd through exec, keeping keyrings
// under <stateDir>/rbd during a map (DefaultStateDir when stateDir is empty).
func NewRBDConnector(exec utilexec.Interface, stateDir string) *RBDConnector {
	if stateDir == "" {
		stateDir = DefaultStateDir
	}
	return &RBDConnector{exec: exec, keyringDir: filepath.Join(stateDir, "rbd")}
}

// rbdMapping is one line of `rbd showmapped`.
type rbdMapping struct {
	Pool, Namespace, Name, Snap, Device string
}

// rbdImage is what Connect maps, from the connection data.
type rbdImage struct {
	pool, image, user, cluster, keyring string
	monitors                            []string
	readOnly                            bool
}

func (c *RBDConnector) Connect(ctx context.Context, volumeID string, data map[string]any) (string, error) {
	if err := checkVolumeID(volumeID); err != nil {
		return "", err
	}
	img, err := parseRBDData(volumeID, data)
	if err != nil {
		return "", fmt.Errorf("%w: rbd connection data of volume %s: %v", ErrInvalidArgument, volumeID, err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	mappings, err := c.showmapped(ctx)
	if err != nil {
		return "", err
	}
	for _, m := range mappings {
		if m.Pool == img.pool && m.Namespace == "" && m.Name == img.image && isHead(m) {
			klog.V(4).InfoS("Reusing RBD mapping", "volumeID", volumeID, "image", img.pool+"/"+img.image, "device", m.Device)
			return m.Device, nil
		}
	}
	args := []string{"map", img.pool + "/" + img.image}
	if img.user != "" {
		args = append(args, "--id", img.user)
	}
	if len(img.monitors) > 0 {
		args = append(args, "--mon_host", strings.Join(img.monitors, ","))
	}
	if img.cluster != "" && img.cluster != "ceph" {
		args = append(args, "--cluster", img.cluster)
	}
	if img.readOnly {
		args = append(args, "--read-only")
	}
	if img.keyring != "" {
		keyring, err := c.writeKeyring(volumeID, img.keyring)
		if err != nil {
			return "", err
		}
		defer os.Remove(keyring)
		args = append(args, "--keyring", keyring)
	}
	stdout, stderr, err := runTool(ctx, c.exec, "rbd", args...)
	if err != nil {
		return "", fmt.Errorf("map RBD image of volume %s: %w", volumeID, classifyRBDMap(rbdError(args, err, stdout, stderr), stderr))
	}
	device := lastDevice(stdout)
	if device == "" {
		return "", fmt.Errorf("rbd %s mapped volume %s but printed %q instead of a device", strings.Join(args, " "), volumeID, stdout)
	}
	klog.V(2).InfoS("Mapped RBD image", "volumeID", volumeID, "image", img.pool+"/"+img.image, "device", device)
	return device, nil
}

// Disconnect unmaps every mapping of the volume's image, in any pool. A node without
// the rbd tool has no mapping.
func (c *RBDConnector) Disconnect(ctx context.Context, volumeID string) error {
	if err := checkVolumeID(volumeID); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	mappings, err := c.showmapped(ctx)
	if errors.Is(err, ErrUnsupported) {
		return nil
	}
	if err != nil {
		return err
	}
	var errs []error
	for _, m := range mappings {
		if !isVolumeFileName(m.Name, volumeID) || !isHead(m) {
			continue
		}
		if err := c.unmap(ctx, m.Device); err != nil {
			errs = append(errs, fmt.Errorf("unmap RBD image %s/%s of volume %s: %w", m.Pool, m.Name, volumeID, err))
			continue
		}
		klog.V(2).InfoS("Unmapped RBD image", "volumeID", volumeID, "image", m.Pool+"/"+m.Name, "device", m.Device)
	}
	return errors.Join(errs...)
}

// unmap unmaps device. A device that is no longer mapped (unmapped meanwhile) is
// success; rbd's message for that varies by version, the list does not.
func (c *RBDConnector) unmap(ctx context.Context, device string) error {
	args := []string{"unmap", device}
	stdout, stderr, err := runTool(ctx, c.exec, "rbd", args...)
	if err == nil {
		return nil
	}
	err = rbdError(args, err, stdout, stderr)
	mappings, listErr := c.showmapped(ctx)
	if listErr != nil || slices.ContainsFunc(mappings, func(m rbdMapping) bool { return m.Device == device }) {
		return err
	}
	return nil
}

func (c *RBDConnector) showmapped(ctx context.Context) ([]rbdMapping, error) {
	args := []string{"showmapped", "--format", "json"}
	stdout, stderr, err := runTool(ctx, c.exec, "rbd", args...)
	if err != nil {
		return nil, rbdError(args, err, stdout, stderr)
	}
	return parseShowmapped(stdout)
}

// writeKeyring writes the keyring for one map into a directory only root can enter,
// so that no other user can read it or plant a link where it goes.
func (c *RBDConnector) writeKeyring(volumeID, content string) (string, error) {
	if err := os.MkdirAll(c.keyringDir, 0o700); err != nil {
		return "", fmt.Errorf("create keyring directory: %w", err)
	}
	path := filepath.Join(c.keyringDir, volumeID+".keyring")
	_ = os.Remove(path) // left by a crash
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", fmt.Errorf("write the keyring of volume %s: %w", volumeID, err)
	}
	_, err = f.WriteString(content)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return "", fmt.Errorf("write the keyring of volume %s: %w", volumeID, err)
	}
	return path, nil
}

func rbdError(args []string, err error, stdout, stderr string) error {
	if errors.Is(err, utilexec.ErrExecutableNotFound) {
		return missingTool("rbd", "ceph-common", err)
	}
	return toolError("rbd", args, err, stdout, stderr)
}

// classifyRBDMap gives a failed map its sentinel from the errno in rbd's own
// messages; ceph's config warnings carry errnos too, but not the "rbd: " prefix.
func classifyRBDMap(err error, stderr string) error {
	errno := 0
	for _, m := range rbdErrnoRE.FindAllStringSubmatch(stderr, -1) {
		errno, _ = strconv.Atoi(m[1])
	}
	switch {
	case strings.Contains(stderr, "feature set mismatch"):
		return fmt.Errorf("%w: the node's kernel lacks features of the image: %w", ErrUnsupported, err)
	case strings.Contains(stderr, "failed to load rbd kernel module"):
		return fmt.Errorf("%w: the node's kernel has no rbd module: %w", ErrUnsupported, err)
	case errno == int(unix.ENOENT):
		return fmt.Errorf("%w: the image or its pool does not exist: %w", ErrDeviceNotFound, err)
	}
	return err
}

var rbdErrnoRE = regexp.MustCompile(`(?m)^rbd: .*\((\d+)\) [^\n]*$`)

func isHead(m rbdMapping) bool { return m.Snap == "" || m.Snap == "-" }

// lastDevice returns the last line of rbd map's output that is a device.
func lastDevice(stdout string) string {
	lines := strings.Fields(stdout)
	for _, l := range slices.Backward(lines) {
		if strings.HasPrefix(l, "/dev/") {
			return l
		}
	}
	return ""
}

// parseShowmapped reads `rbd showmapped --format json`: an array since Ceph Nautilus,
// an object keyed by device ID before. No mapping at all may print nothing.
func parseShowmapped(out string) ([]rbdMapping, error) {
	out = strings.TrimSpace(out)
	if out == "" {
		return nil, nil
	}
	type entry struct {
		Pool      string `json:"pool"`
		Namespace string `json:"namespace"`
		Name      string `json:"name"`
		Snap      string `json:"snap"`
		Device    string `json:"device"`
	}
	var entries []entry
	if strings.HasPrefix(out, "{") {
		var byID map[string]entry
		if err := json.Unmarshal([]byte(out), &byID); err != nil {
			return nil, fmt.Errorf("parse rbd showmapped output %q: %w", out, err)
		}
		for _, id := range slices.Sorted(maps.Keys(byID)) {
			entries = append(entries, byID[id])
		}
	} else if err := json.Unmarshal([]byte(out), &entries); err != nil {
		return nil, fmt.Errorf("parse rbd showmapped output %q: %w", out, err)
	}
	mappings := make([]rbdMapping, 0, len(entries))
	for _, e := range entries {
		mappings = append(mappings, rbdMapping(e))
	}
	return mappings, nil
}

// parseRBDData checks what goes into rbd's arguments. The image must be the volume's
// (Disconnect finds mappings by that name).
func parseRBDData(volumeID string, data map[string]any) (rbdImage, error) {
	var img rbdImage
	name := dataString(data, "name")
	pool, image, ok := strings.Cut(name, "/")
	if !ok || !rbdNameOK(pool) || !rbdNameOK(image) {
		return img, fmt.Errorf("\"name\" %q is not <pool>/<image>", name)
	}
	if !isVolumeFileName(image, volumeID) {
		return img, fmt.Errorf("image %q is not named volume-%s", image, volumeID)
	}
	img.pool, img.image = pool, image
	hosts, err := dataStrings(data, "hosts")
	if err != nil {
		return img, err
	}
	ports, err := dataStrings(data, "ports")
	if err != nil {
		return img, err
	}
	if len(ports) > 0 && len(ports) != len(hosts) {
		return img, fmt.Errorf("%d \"hosts\" but %d \"ports\"", len(hosts), len(ports))
	}
	for i, h := range hosts {
		port := "6789"
		if len(ports) > 0 {
			port = ports[i]
		}
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return img, fmt.Errorf("monitor port %q is not a port", port)
		}
		if h == "" || strings.ContainsAny(h, " \t\n,/[]") || strings.HasPrefix(h, "-") {
			return img, fmt.Errorf("monitor host %q is not a host name or address", h)
		}
		img.monitors = append(img.monitors, net.JoinHostPort(h, port))
	}
	if dataBool(data, "auth_enabled") || dataString(data, "auth_username") != "" {
		img.user = dataString(data, "auth_username")
		if !rbdNameOK(img.user) {
			return img, fmt.Errorf("\"auth_username\" %q is not a Ceph user name", img.user)
		}
	}
	if img.cluster = dataString(data, "cluster_name"); img.cluster != "" && !rbdNameOK(img.cluster) {
		return img, fmt.Errorf("\"cluster_name\" %q is not a cluster name", img.cluster)
	}
	img.keyring = dataString(data, "keyring")
	img.readOnly = dataString(data, "access_mode") == "ro"
	return img, nil
}

// rbdNameOK accepts pool, image, user and cluster names that cannot be taken for an
// option or a path, and hold no snapshot separator.
func rbdNameOK(s string) bool {
	return s != "" && !strings.HasPrefix(s, "-") && !strings.ContainsAny(s, " \t\n@/\x00") && s != "." && s != ".."
}
