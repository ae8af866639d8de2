package mount

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"

	"golang.org/x/sys/unix"
	"k8s.io/klog/v2"
	mountutils "k8s.io/mount-utils"
	utilexec "k8s.io/utils/exec"
)

// mounter implements Mounter with k8s.io/mount-utils. mount(8) and umount(8) run
// through mountutils.Interface; blkid, mkfs, fsck, resize tools and losetup run
// through the exec seam, so tests can replace either.
type mounter struct {
	mounter mountutils.Interface
	safe    *mountutils.SafeFormatAndMount
	resizer *mountutils.ResizeFs
	loop    *LoopDevices
	exec    utilexec.Interface
	// pathExists is mountutils.PathExists; tests replace it to fake a stale mount,
	// which no local filesystem can produce on demand.
	pathExists func(string) (bool, error)
}

var _ Mounter = (*mounter)(nil)

// NewMounter returns the host's Mounter. It does not wrap mount(8) in systemd-run:
// scopes only matter for FUSE daemons, which no filesystem we mount needs, and the node
// plugin usually runs in a container where probing for systemd is a wasted fork.
func NewMounter() Mounter {
	return NewMounterWith(mountutils.NewWithoutSystemd(""), utilexec.New())
}

// NewMounterWith returns a Mounter built on the given mount and exec seams (tests pass
// mount-utils' FakeMounter and k8s.io/utils/exec/testing.FakeExec).
func NewMounterWith(m mountutils.Interface, exec utilexec.Interface) Mounter {
	return &mounter{
		mounter: m,
		safe:    mountutils.NewSafeFormatAndMount(m, exec),
		resizer: mountutils.NewResizeFs(exec),
		loop:    NewLoopDevices(exec),
		exec:    exec,

		pathExists: mountutils.PathExists,
	}
}

func (m *mounter) FormatAndMount(ctx context.Context, device, target, fsType string, mountOptions, formatOptions []string) error {
	if err := notStarted(ctx, "format and mount", device); err != nil {
		return err
	}
	// Without this check a vanished device surfaces as a blkid failure, which says
	// nothing about the cause.
	if _, err := os.Stat(device); err != nil {
		if isNotExist(err) {
			return fmt.Errorf("%w: %s does not exist", ErrDeviceNotFound, device)
		}
		return fmt.Errorf("check device %s: %w", device, err)
	}
	mounted, err := m.prepareTarget(target, false)
	if err != nil {
		return err
	}
	if mounted {
		return m.checkMountedFrom(target, device)
	}
	options := mountOptionsFor(fsType, mountOptions)
	if err := notStarted(ctx, "format and mount", device); err != nil {
		return err
	}
	err = m.safe.FormatAndMountSensitiveWithFormatOptions(device, target, fsType, options, nil, formatOptions)
	if err != nil {
		err = classifyMountError(err)
		if errors.Is(err, ErrFilesystemMismatch) {
			// mount-utils says only that mount failed: name what the volume holds.
			if have, ferr := m.safe.GetDiskFormat(device); ferr == nil && have != "" {
				err = fmt.Errorf("%s holds %s, not %s (stage it with fsType %s, or copy its data to a new %s volume): %w", device, have, fsType, have, fsType, err)
			}
		}
		return err
	}
	klog.V(2).InfoS("Mounted device", "device", device, "targetPath", target, "fsType", fsType, "options", options)
	return nil
}

// mountOptionsFor adds the options a filesystem type always needs. XFS refuses to mount
// a second filesystem with a UUID that is already mounted, and a volume cloned or
// restored from a snapshot carries its source's UUID, so both could never be staged on
// one node without nouuid.
func mountOptionsFor(fsType string, mountOptions []string) []string {
	options := slices.Clone(mountOptions)
	if fsType == "xfs" && !slices.Contains(options, "nouuid") {
		options = append(options, "nouuid")
	}
	return options
}

// classifyMountError turns mount-utils' typed errors into our sentinels, keeping the
// original message, which names the device and the failing command's output.
func classifyMountError(err error) error {
	var me mountutils.MountError
	if !errors.As(err, &me) {
		return err
	}
	switch me.Type {
	case mountutils.FilesystemMismatch:
		return fmt.Errorf("%w: %w", ErrFilesystemMismatch, err)
	case mountutils.HasFilesystemErrors:
		return fmt.Errorf("%w: %w", ErrFilesystemCorrupt, err)
	case mountutils.UnformattedReadOnly:
		return fmt.Errorf("%w: %w", ErrUnformattedReadOnly, err)
	case mountutils.FormatFailed, mountutils.GetDiskFormatFailed:
		return fmt.Errorf("%w: %w", ErrFormatFailed, err)
	}
	return err
}

// checkMountedFrom accepts an existing mount at target only when it comes from device,
// so a retry is a no-op but a target holding another volume is never reported as ready.
func (m *mounter) checkMountedFrom(target, device string) error {
	source, _, err := mountutils.GetDeviceNameFromMount(m.mounter, target)
	if err != nil {
		return fmt.Errorf("read the mount table for %s: %w", target, err)
	}
	if source == "" || sameDevice(source, device) {
		klog.V(4).InfoS("Target already mounted", "targetPath", target, "device", source)
		return nil
	}
	return fmt.Errorf("%w: %s is already mounted from %s, not from %s", ErrMountConflict, target, source, device)
}

// sameDevice compares device paths after resolving symlinks, because callers name a
// device by a /dev/disk/by-id link while the mount table shows the kernel name.
func sameDevice(a, b string) bool {
	if a == b {
		return true
	}
	ra, errA := filepath.EvalSymlinks(a)
	rb, errB := filepath.EvalSymlinks(b)
	return errA == nil && errB == nil && ra == rb
}

func (m *mounter) BindMount(source, target string, readOnly bool, mountOptions []string) error {
	isDir, err := isDirectory(source)
	if isNotExist(err) {
		return fmt.Errorf("%w: bind source %s does not exist", ErrDeviceNotFound, source)
	}
	if err != nil {
		return fmt.Errorf("check bind source %s: %w", source, err)
	}
	mounted, err := m.prepareTarget(target, !isDir)
	if err != nil {
		return err
	}
	if mounted {
		return m.checkReadOnly(target, readOnly)
	}
	// mount-utils turns "bind" plus "ro" into a bind mount followed by a read-only
	// remount, because the kernel ignores "ro" on the first bind call.
	options := append([]string{"bind"}, mountOptions...)
	if readOnly {
		options = append(options, "ro")
	}
	if err := m.mounter.Mount(source, target, "", options); err != nil {
		// The bind may have succeeded and the read-only remount failed: undo it, or a
		// retry would find a writable mount where a read-only one was asked.
		if cleanupErr := mountutils.CleanupMountPoint(target, m.mounter, true); cleanupErr != nil {
			klog.ErrorS(cleanupErr, "Could not clean up after a failed bind mount", "targetPath", target)
		}
		return fmt.Errorf("bind mount %s at %s: %w", source, target, err)
	}
	klog.V(2).InfoS("Bind-mounted", "source", source, "targetPath", target, "readOnly", readOnly)
	return nil
}

func (m *mounter) Unmount(target string) error {
	// CleanupMountPoint copes with a missing target, a target that is not mounted and a
	// stale mount, and removes the directory or the raw-block file afterwards.
	if err := mountutils.CleanupMountPoint(target, m.mounter, true); err != nil {
		return fmt.Errorf("unmount %s: %w", target, err)
	}
	klog.V(2).InfoS("Unmounted", "targetPath", target)
	return nil
}

func (m *mounter) IsMountPoint(path string) (bool, error) {
	exists, err := m.pathExists(path)
	switch {
	case mountutils.IsCorruptedMnt(err):
		// A stale mount is still a mount: report it, so the caller unmounts it.
		return true, fmt.Errorf("%s is a stale mount point: %w", path, err)
	case err != nil:
		return false, fmt.Errorf("check %s: %w", path, err)
	case !exists:
		return false, nil
	}
	mounted, err := m.mounter.IsMountPoint(path)
	if err != nil {
		return false, fmt.Errorf("check whether %s is a mount point: %w", path, err)
	}
	return mounted, nil
}

func (m *mounter) MountRefs(path string) ([]string, error) {
	if _, isDevice, err := blockDeviceName(path); err != nil || isDevice {
		if err != nil {
			return nil, err
		}
		return m.deviceRefs(path)
	}
	refs, err := m.mounter.GetMountRefs(path)
	if err != nil {
		return nil, fmt.Errorf("listing mounts of %s: %w", path, err)
	}
	return refs, nil
}

func (m *mounter) PathExists(path string) (bool, error) {
	return m.pathExists(path)
}

func (m *mounter) DeviceForMount(path string) (string, error) {
	// A raw-block target is the device node itself, bind-mounted onto a file; the mount
	// table would only name the filesystem holding /dev.
	if device, ok, err := blockDeviceName(path); err != nil || ok {
		return device, err
	}
	device, _, err := mountutils.GetDeviceNameFromMount(m.mounter, path)
	if err != nil {
		return "", fmt.Errorf("read the mount table for %s: %w", path, err)
	}
	if device == "" {
		return "", fmt.Errorf("%w: %s is not a mount point", ErrNotMounted, path)
	}
	return device, nil
}

// deviceRefs lists where the block device node is bind-mounted (raw block publishes),
// by the device number of each mounted device file. Only mounts from devtmpfs or tmpfs
// (where device nodes live) are looked at: no stat ever reaches a network filesystem.
func (m *mounter) deviceRefs(device string) ([]string, error) {
	var want unix.Stat_t
	if err := unix.Stat(device, &want); err != nil {
		return nil, fmt.Errorf("stat %s: %w", device, err)
	}
	mps, err := m.mounter.List()
	if err != nil {
		return nil, fmt.Errorf("read the mount table: %w", err)
	}
	var refs []string
	for _, mp := range mps {
		if mp.Type != "devtmpfs" && mp.Type != "tmpfs" {
			continue
		}
		var st unix.Stat_t
		if unix.Stat(mp.Path, &st) != nil || st.Mode&unix.S_IFMT != unix.S_IFBLK || st.Rdev != want.Rdev {
			continue
		}
		if mp.Path != device {
			refs = append(refs, mp.Path)
		}
	}
	return refs, nil
}

// notStarted is the error of a step not started because ctx has ended (nil if
// it has not): what was not done, and why.
func notStarted(ctx context.Context, what, device string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%s %s not started: %w", what, device, err)
	}
	return nil
}
