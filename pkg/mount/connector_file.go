package mount

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"k8s.io/klog/v2"
)

// DriverVolumeTypeFile is the driver_volume_type whose connection data names a raw
// volume file on this node: {"path": "/abs/dir/volume-<id>"}.
const DriverVolumeTypeFile = "file"

// FileConnector exposes a volume file as a loop device.
type FileConnector struct {
	loop *LoopDevices
}

var _ Connector = (*FileConnector)(nil)

// NewFileConnector returns a connector attaching volume files through loop.
func NewFileConnector(loop *LoopDevices) *FileConnector {
	return &FileConnector{loop: loop}
}

func (f *FileConnector) Connect(ctx context.Context, volumeID string, data map[string]any) (string, error) {
	path, ok := data["path"].(string)
	if !ok || path == "" {
		return "", fmt.Errorf("%w: connection data of volume %s has no string \"path\"", ErrInvalidArgument, volumeID)
	}
	if err := checkVolumeFile(volumeID, path); err != nil {
		return "", err
	}
	return attachVolumeFile(ctx, f.loop, volumeID, path)
}

func (f *FileConnector) Disconnect(ctx context.Context, volumeID string) error {
	return detachVolumeFiles(ctx, f.loop, volumeID)
}

// checkVolumeFile refuses a path that could make us attach something other than this
// volume's file: connection data travels through Cinder, the controller and the CO.
func checkVolumeFile(volumeID, path string) error {
	if err := checkVolumeID(volumeID); err != nil {
		return err
	}
	if !filepath.IsAbs(path) || filepath.Clean(path) != path {
		return fmt.Errorf("%w: volume file path %q must be absolute and clean", ErrInvalidArgument, path)
	}
	if !isVolumeFileName(filepath.Base(path), volumeID) {
		return fmt.Errorf("%w: volume file %q is not named volume-%s or volume-%s.<suffix>",
			ErrInvalidArgument, path, volumeID, volumeID)
	}
	return nil
}

// isVolumeFileName follows Cinder's file-based backends: the volume's file is
// volume-<id>, and files derived from it (qcow2 overlays after a snapshot) are
// volume-<id>.<something>.
func isVolumeFileName(name, volumeID string) bool {
	prefix := "volume-" + volumeID
	return name == prefix || strings.HasPrefix(name, prefix+".")
}

// attachVolumeFile checks that path is a regular file, not a symlink that could point
// anywhere, and attaches it (or finds its loop device).
func attachVolumeFile(ctx context.Context, loop *LoopDevices, volumeID, path string) (string, error) {
	info, err := os.Lstat(path)
	if errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("%w: file %s of volume %s does not exist on this node", ErrDeviceNotFound, path, volumeID)
	}
	if err != nil {
		return "", fmt.Errorf("stat file %s of volume %s: %w", path, volumeID, err)
	}
	if !info.Mode().IsRegular() {
		return "", fmt.Errorf("%w: %s of volume %s is not a regular file (mode %s)", ErrInvalidArgument, path, volumeID, info.Mode())
	}
	device, err := loop.Attach(ctx, path)
	if err != nil {
		return "", fmt.Errorf("attach file %s of volume %s: %w", path, volumeID, err)
	}
	klog.V(2).InfoS("Connected volume file", "volumeID", volumeID, "file", path, "device", device)
	return device, nil
}

// detachVolumeFiles detaches every loop device whose backing file belongs to the
// volume, found from the kernel's list, so it needs nothing remembered from Connect.
func detachVolumeFiles(ctx context.Context, loop *LoopDevices, volumeID string) error {
	if err := checkVolumeID(volumeID); err != nil {
		return err
	}
	devices, err := loop.List(ctx)
	if err != nil {
		return err
	}
	var errs []error
	for _, d := range devices {
		if d.BackingFile == "" || !isVolumeFileName(filepath.Base(d.BackingFile), volumeID) {
			continue
		}
		if err := loop.Detach(ctx, d.Device); err != nil {
			errs = append(errs, err)
			continue
		}
		klog.V(2).InfoS("Disconnected volume file", "volumeID", volumeID, "file", d.BackingFile, "device", d.Device)
	}
	return errors.Join(errs...)
}
