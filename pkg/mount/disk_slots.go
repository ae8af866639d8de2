package mount

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// DiskSlots counts the disks that hold attach slots of a Nova server without being
// volumes of this driver: the root disk, a config drive, ephemeral and swap disks,
// volumes attached by hand or by another driver. On KVM each virtio-blk disk takes
// a PCI slot, so these take slots the driver's volumes then lack.
//
// A disk is this driver's when its virtio serial (the first 20 characters of the
// Cinder volume ID, as Nova's libvirt driver sets it) is that of a volume kubelet
// holds for this driver: kubelet writes vol_data.json (driverName, volumeHandle)
// when it stages a volume, before it mounts or maps it. A volume attached and not yet
// staged counts as another's until kubelet stages it, a matter of seconds, which
// errs towards reporting a slot too few.
type DiskSlots struct {
	// SysBlock is sysfs's block directory (/sys/block).
	SysBlock string
	// KubeletDir is kubelet's root directory (/var/lib/kubelet).
	KubeletDir string
	DriverName string
}

// virtioSerialLen is how much of a serial number virtio-blk keeps.
const virtioSerialLen = 20

// Others returns the number of virtio-blk disks of the node that are not volumes of
// this driver, and their names.
func (s DiskSlots) Others() (int, []string, error) {
	entries, err := os.ReadDir(s.SysBlock)
	if err != nil {
		return 0, nil, fmt.Errorf("listing the node's disks: %w", err)
	}
	ours, err := s.volumeSerials()
	if err != nil {
		return 0, nil, err
	}
	var others []string
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), "vd") {
			continue
		}
		serial, err := os.ReadFile(filepath.Join(s.SysBlock, e.Name(), "serial"))
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return 0, nil, fmt.Errorf("reading the serial of disk %s: %w", e.Name(), err)
		}
		if !ours[strings.TrimSpace(string(serial))] {
			others = append(others, e.Name())
		}
	}
	return len(others), others, nil
}

// volumeSerials returns the virtio serials of the volumes kubelet holds for the
// driver, from the vol_data.json of its staging (filesystem) and volumeDevices
// (block) directories.
func (s DiskSlots) volumeSerials() (map[string]bool, error) {
	csiDir := filepath.Join(s.KubeletDir, "plugins", "kubernetes.io", "csi")
	var files []string
	for _, pattern := range []string{
		filepath.Join(csiDir, s.DriverName, "*", "vol_data.json"),
		filepath.Join(csiDir, "volumeDevices", "*", "data", "vol_data.json"),
	} {
		m, err := filepath.Glob(pattern)
		if err != nil {
			return nil, err
		}
		files = append(files, m...)
	}
	out := map[string]bool{}
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if errors.Is(err, fs.ErrNotExist) { // unstaged meanwhile
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("reading kubelet's %s: %w", f, err)
		}
		var v struct {
			DriverName   string `json:"driverName"`
			VolumeHandle string `json:"volumeHandle"`
		}
		if json.Unmarshal(raw, &v) != nil || v.DriverName != s.DriverName || v.VolumeHandle == "" {
			continue
		}
		out[v.VolumeHandle[:min(len(v.VolumeHandle), virtioSerialLen)]] = true
	}
	return out, nil
}
