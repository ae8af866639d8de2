package mount

import (
	"fmt"
	"maps"
	"os"
	"os/exec"
	"slices"
	"strings"
)

// StorageProblem is a condition of the node's storage that affects the volumes the
// node plugin serves, whoever's they are: the answer of CSI's NodeGetStorageHealth.
type StorageProblem struct {
	// Unreachable: no volume it concerns can be staged on this node; otherwise
	// they can, with less (a filesystem that cannot be grown, say).
	Unreachable bool
	// Reason is CamelCase, for machines; Message says what to fix.
	Reason, Message string
	// FSType narrows the problem to volumes of one filesystem; "" is all volumes.
	FSType string
}

// LoopControl is the loop driver's control node.
const LoopControl = "/dev/loop-control"

// NodeStorage checks what the node plugin needs of its host, each time it is asked:
// the state directory, the device nodes of its attach path, and the tools it runs.
// A zero field is not checked.
type NodeStorage struct {
	// StateDir must be writable: iSCSI and RBD records and qcow2 exports live there.
	StateDir string
	// DiskByID is where udev links disks by serial (Nova path: /dev/disk/by-id).
	DiskByID string
	// LoopControl is the loop driver's control node (Cinder path: file and NFS
	// volumes become loop devices).
	LoopControl string
	// LookPath finds a tool; nil means exec.LookPath.
	LookPath func(string) (string, error)
}

// fsTools are the tools each filesystem needs: to make it, check it and grow it.
var fsTools = map[string][]string{
	"ext4":  {"mkfs.ext4", "e2fsck", "resize2fs", "dumpe2fs"},
	"ext3":  {"mkfs.ext3", "e2fsck", "resize2fs", "dumpe2fs"},
	"xfs":   {"mkfs.xfs", "xfs_growfs"},
	"btrfs": {"mkfs.btrfs", "btrfs"},
}

// Problems returns what is wrong now; none when the node's storage is healthy.
func (n NodeStorage) Problems() []StorageProblem {
	var out []StorageProblem
	if n.StateDir != "" {
		if err := writable(n.StateDir); err != nil {
			out = append(out, StorageProblem{Unreachable: true, Reason: "StateDirNotWritable",
				Message: fmt.Sprintf("the state directory %s (--state-dir, a hostPath) is not writable: %v", n.StateDir, err)})
		}
	}
	for _, dev := range []struct{ path, reason, what string }{
		{n.DiskByID, "NoDiskByIDLinks", "udev's links of disks by serial, through which Nova's disks are found (mount /dev and /run/udev from the host)"},
		{n.LoopControl, "NoLoopDevices", "the loop driver's control node, through which file and NFS volumes become block devices"},
	} {
		if dev.path == "" {
			continue
		}
		if _, err := os.Stat(dev.path); err != nil {
			out = append(out, StorageProblem{Unreachable: true, Reason: dev.reason, Message: fmt.Sprintf("%s is missing: %s", dev.path, dev.what)})
		}
	}
	tools := []string{"mount", "umount", "blkid"}
	if n.LoopControl != "" {
		tools = append(tools, "losetup")
	}
	if missing := n.missing(tools); len(missing) > 0 {
		out = append(out, StorageProblem{Unreachable: true, Reason: "ToolMissing",
			Message: "not on the node plugin's PATH: " + strings.Join(missing, ", ")})
	}
	for _, fs := range slices.Sorted(maps.Keys(fsTools)) {
		if missing := n.missing(fsTools[fs]); len(missing) > 0 {
			out = append(out, StorageProblem{Reason: "FilesystemToolMissing", FSType: fs,
				Message: fmt.Sprintf("%s volumes cannot be formatted, checked or grown here: %s not on the node plugin's PATH", fs, strings.Join(missing, ", "))})
		}
	}
	return out
}

func (n NodeStorage) missing(tools []string) []string {
	look := n.LookPath
	if look == nil {
		look = exec.LookPath
	}
	var out []string
	for _, t := range tools {
		if _, err := look(t); err != nil {
			out = append(out, t)
		}
	}
	return out
}

// writable creates and removes a file in dir (made if missing).
func writable(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, ".health-*")
	if err != nil {
		return err
	}
	name := f.Name()
	if err := f.Close(); err != nil {
		_ = os.Remove(name)
		return err
	}
	return os.Remove(name)
}
