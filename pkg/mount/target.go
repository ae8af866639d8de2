package mount

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"

	"k8s.io/klog/v2"
	mountutils "k8s.io/mount-utils"
)

// prepareTarget makes target ready to be mounted on and reports whether it already is a
// mount point. A stale mount (the device went away under it) is unmounted first, since
// nothing can be mounted over it and every stat of it fails. A missing target is
// created: a directory, or an empty file when asFile (a raw block device is bind-mounted
// onto a file).
func (m *mounter) prepareTarget(target string, asFile bool) (bool, error) {
	exists, err := m.pathExists(target)
	if mountutils.IsCorruptedMnt(err) {
		klog.InfoS("Unmounting stale mount", "targetPath", target, "err", err)
		if err := m.mounter.Unmount(target); err != nil {
			return false, fmt.Errorf("unmount stale mount at %s: %w", target, err)
		}
		exists, err = m.pathExists(target)
	}
	if err != nil {
		return false, fmt.Errorf("check target %s: %w", target, err)
	}
	if !exists {
		return false, createTarget(target, asFile)
	}
	isDir, err := isDirectory(target)
	if err != nil {
		return false, fmt.Errorf("check target %s: %w", target, err)
	}
	if isDir == asFile {
		return false, fmt.Errorf("%w: target %s exists as a %s, but this source needs a %s",
			ErrInvalidArgument, target, kindName(isDir), kindName(!asFile))
	}
	mounted, err := m.mounter.IsMountPoint(target)
	if err != nil {
		return false, fmt.Errorf("check whether %s is a mount point: %w", target, err)
	}
	return mounted, nil
}

func createTarget(target string, asFile bool) error {
	if !asFile {
		if err := os.MkdirAll(target, 0o750); err != nil {
			return fmt.Errorf("create target directory %s: %w", target, err)
		}
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(target), 0o750); err != nil {
		return fmt.Errorf("create parent of target %s: %w", target, err)
	}
	f, err := os.OpenFile(target, os.O_CREATE|os.O_RDONLY, 0o640)
	if err != nil {
		return fmt.Errorf("create target file %s: %w", target, err)
	}
	return f.Close()
}

func kindName(isDir bool) string {
	if isDir {
		return "directory"
	}
	return "file"
}

func isDirectory(path string) (bool, error) {
	info, err := os.Stat(path)
	if err != nil {
		return false, err
	}
	return info.IsDir(), nil
}

// checkReadOnly accepts an existing bind mount only when its writability matches the
// request: CSI wants a publish with another readonly flag to fail, not to succeed
// silently with the old one.
func (m *mounter) checkReadOnly(target string, readOnly bool) error {
	mountedRO, err := m.mountedReadOnly(target)
	if err != nil {
		return err
	}
	if mountedRO != readOnly {
		return fmt.Errorf("%w: %s is already mounted with readOnly=%t, asked readOnly=%t",
			ErrMountConflict, target, mountedRO, readOnly)
	}
	klog.V(4).InfoS("Target already bind-mounted", "targetPath", target, "readOnly", readOnly)
	return nil
}

// mountedReadOnly reads target's options from the mount table; with several mounts
// stacked on target, the last one is the one visible.
func (m *mounter) mountedReadOnly(target string) (bool, error) {
	mps, err := m.mounter.List()
	if err != nil {
		return false, fmt.Errorf("read the mount table: %w", err)
	}
	path := target
	if resolved, err := filepath.EvalSymlinks(target); err == nil {
		path = resolved
	}
	found, ro := false, false
	for _, mp := range mps {
		if mp.Path == path {
			found, ro = true, slices.Contains(mp.Opts, "ro")
		}
	}
	if !found {
		return false, fmt.Errorf("%w: %s is not in the mount table", ErrNotMounted, target)
	}
	return ro, nil
}

// isNotExist is errors.Is(err, fs.ErrNotExist), named for readability at call sites.
func isNotExist(err error) bool {
	return errors.Is(err, fs.ErrNotExist)
}
