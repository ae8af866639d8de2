package mount

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"k8s.io/klog/v2"
	"k8s.io/utils/exec"
)

// ConfigDrive reads files of an OpenStack config drive: it mounts the drive
// read-only in a temporary directory, reads, and unmounts, leaving nothing
// mounted. The zero value is ready to use on an instance.
type ConfigDrive struct {
	// Device is the drive's block device; empty means /dev/disk/by-label/config-2
	// (or CONFIG-2, as vfat drives are labelled).
	Device string
	// Exec runs mount and umount; nil means the host's.
	Exec exec.Interface
}

// ReadFile returns the file at rel inside the drive, and where it was read
// ("<device>:<rel>", for messages).
func (c *ConfigDrive) ReadFile(ctx context.Context, rel string) ([]byte, string, error) {
	dev, err := c.device()
	if err != nil {
		return nil, "", err
	}
	dir, err := os.MkdirTemp("", "cinder-csi-configdrive-")
	if err != nil {
		return nil, "", err
	}
	ex := c.Exec
	if ex == nil {
		ex = exec.New()
	}
	var mountErrs []string
	mounted := false
	// Nova writes config drives as iso9660, or vfat when config_drive_format says so;
	// other provisioning tools write what they like, so the kernel's own detection
	// ("auto") comes last.
	for _, fs := range []string{"iso9660", "vfat", "auto"} {
		out, err := ex.CommandContext(ctx, "mount", "-t", fs, "-o", "ro", dev, dir).CombinedOutput()
		if err == nil {
			mounted = true
			break
		}
		mountErrs = append(mountErrs, fmt.Sprintf("as %s: %v: %s", fs, err, strings.TrimSpace(string(out))))
	}
	if !mounted {
		_ = os.Remove(dir)
		return nil, "", fmt.Errorf("mount config drive %s: %s", dev, strings.Join(mountErrs, "; "))
	}
	defer unmountConfigDrive(ex, dir)

	data, err := os.ReadFile(filepath.Join(dir, rel))
	if err != nil {
		return nil, "", fmt.Errorf("config drive %s: %w", dev, err)
	}
	return data, dev + ":" + rel, nil
}

// unmountConfigDrive runs even when the caller's context has ended: a config
// drive left mounted in a temporary directory would leak.
func unmountConfigDrive(ex exec.Interface, dir string) {
	if out, err := ex.Command("umount", dir).CombinedOutput(); err != nil {
		klog.ErrorS(err, "Could not unmount the config drive; leaving its directory", "dir", dir, "output", strings.TrimSpace(string(out)))
		return
	}
	if err := os.Remove(dir); err != nil {
		klog.ErrorS(err, "Could not remove the config drive's temporary directory", "dir", dir)
	}
}

func (c *ConfigDrive) device() (string, error) {
	candidates := []string{"/dev/disk/by-label/config-2", "/dev/disk/by-label/CONFIG-2"}
	if c.Device != "" {
		candidates = []string{c.Device}
	}
	for _, d := range candidates {
		if _, err := os.Stat(d); err == nil {
			return d, nil
		}
	}
	return "", fmt.Errorf("no config drive: none of %s exists", strings.Join(candidates, ", "))
}
