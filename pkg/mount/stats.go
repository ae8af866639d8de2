package mount

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"unsafe"

	"golang.org/x/sys/unix"
)

func (m *mounter) FSStats(path string) (*Stats, error) {
	// A raw-block volume's published path is the device node: statfs would describe
	// the filesystem holding /dev, so report the device's size instead.
	if device, ok, err := blockDeviceName(path); err != nil {
		return nil, err
	} else if ok {
		// No loop refresh here: kubelet polls stats every minute, and a size that is
		// stale until the next expansion call is harmless.
		size, err := deviceSize(device)
		if err != nil {
			return nil, err
		}
		return &Stats{TotalBytes: size, Block: true}, nil
	}
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		return nil, fmt.Errorf("statfs %s: %w", path, err)
	}
	// Block counts are in fragment-size units; f_bsize is only the preferred I/O size
	// (equal on the usual filesystems, but not guaranteed).
	unit := st.Frsize
	if unit == 0 {
		unit = st.Bsize
	}
	return &Stats{
		TotalBytes:     int64(st.Blocks) * unit,
		AvailableBytes: int64(st.Bavail) * unit,
		UsedBytes:      int64(st.Blocks-st.Bfree) * unit,
		TotalInodes:    int64(st.Files),
		FreeInodes:     int64(st.Ffree),
		UsedInodes:     int64(st.Files - st.Ffree),
	}, nil
}

// DeviceSize refreshes a loop device before reading its size, so that a grown volume
// file shows its new size even where nothing calls ResizeFS (raw-block expansion).
func (m *mounter) DeviceSize(ctx context.Context, device string) (int64, error) {
	if err := m.refreshLoop(ctx, device); err != nil {
		return 0, err
	}
	return deviceSize(device)
}

// deviceSize asks the kernel with BLKGETSIZE64, which needs no tool and no udev.
func deviceSize(device string) (int64, error) {
	f, err := os.OpenFile(device, os.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return 0, fmt.Errorf("open device %s: %w", device, err)
	}
	defer f.Close()
	var size uint64
	_, _, errno := unix.Syscall(unix.SYS_IOCTL, f.Fd(), unix.BLKGETSIZE64, uintptr(unsafe.Pointer(&size)))
	if errno != 0 {
		return 0, fmt.Errorf("read size of %s (is it a block device?): %w", device, errno)
	}
	return int64(size), nil
}

// blockDeviceName reports whether path is a block device node and, if so, the
// kernel's /dev name for it, found from its device number through sysfs. That also
// resolves a device node bind-mounted onto a file, as raw-block targets are. A missing
// path is (false, nil): the caller decides what absence means.
func blockDeviceName(path string) (string, bool, error) {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		if err == unix.ENOENT {
			return "", false, nil
		}
		return "", false, fmt.Errorf("stat %s: %w", path, err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFBLK {
		return "", false, nil
	}
	link := fmt.Sprintf("/sys/dev/block/%d:%d", unix.Major(st.Rdev), unix.Minor(st.Rdev))
	resolved, err := os.Readlink(link)
	if err != nil {
		return "", false, fmt.Errorf("find the kernel name of block device %s: %w", path, err)
	}
	return "/dev/" + filepath.Base(resolved), true, nil
}
