package mount

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	mountutils "k8s.io/mount-utils"
)

// fakeDevice creates a file standing in for a block device, since FormatAndMount
// checks that the device exists before anything else.
func fakeDevice(t *testing.T, name string) string {
	t.Helper()
	dev := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(dev, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	return dev
}

func blkidCmd(dev string) []string {
	return argv("blkid", "-p", "-s", "TYPE", "-s", "PTTYPE", "-o", "export", dev)
}

func TestFormatAndMountOptions(t *testing.T) {
	tests := []struct {
		name         string
		fsType       string
		mountOptions []string
		mkfs         []string // without the device, which comes last
		wantOpts     []string
	}{
		{
			name:     "xfs always gets nouuid",
			fsType:   "xfs",
			mkfs:     argv("mkfs.xfs", "-L", "data", "-f"),
			wantOpts: []string{"nouuid", "defaults"},
		},
		{
			name:         "xfs nouuid is not doubled",
			fsType:       "xfs",
			mountOptions: []string{"noatime", "nouuid"},
			mkfs:         argv("mkfs.xfs", "-L", "data", "-f"),
			wantOpts:     []string{"noatime", "nouuid", "defaults"},
		},
		{
			// kubelet's SELinuxMount: the pod's label as kubelet writes it, quoted, with
			// a comma inside the quotes.
			name:         "an SELinux context reaches mount as it came",
			fsType:       "ext4",
			mountOptions: []string{seContext},
			mkfs:         argv("mkfs.ext4", "-L", "data", "-F", "-m0"),
			wantOpts:     []string{seContext, "defaults"},
		},
		{
			name:         "ext4 keeps its options",
			fsType:       "ext4",
			mountOptions: []string{"noatime"},
			mkfs:         argv("mkfs.ext4", "-L", "data", "-F", "-m0"),
			wantOpts:     []string{"noatime", "defaults"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			device := fakeDevice(t, "vdq")
			mkfs := append(slices.Clone(tc.mkfs), device)
			target := filepath.Join(t.TempDir(), "staging")
			fm := mountutils.NewFakeMounter(nil)
			m := NewMounterWith(fm, scriptedExec(t, step{argv: blkidCmd(device), err: exitErr(2)}, step{argv: mkfs}))
			if err := m.FormatAndMount(ctx, device, target, tc.fsType, tc.mountOptions, []string{"-L", "data"}); err != nil {
				t.Fatal(err)
			}
			want := []mountutils.MountPoint{{Device: device, Path: target, Type: tc.fsType, Opts: tc.wantOpts}}
			if !slices.EqualFunc(fm.MountPoints, want, equalMountPoint) {
				t.Errorf("mounts = %+v, want %+v", fm.MountPoints, want)
			}
		})
	}
}

func equalMountPoint(a, b mountutils.MountPoint) bool {
	return a.Device == b.Device && a.Path == b.Path && a.Type == b.Type && slices.Equal(a.Opts, b.Opts)
}

func TestFormatAndMountExistingTarget(t *testing.T) {
	tests := []struct {
		name      string
		mountedAt string // device already mounted at the target ("DEVICE": the one asked), "" for none
		asFile    bool   // the target exists as a file
		noDevice  bool   // the device does not exist
		wantErr   error
	}{
		{name: "same device: nothing to do", mountedAt: "DEVICE"},
		{name: "another device", mountedAt: "/dev/vdc", wantErr: ErrMountConflict},
		{name: "target is a file", asFile: true, wantErr: ErrInvalidArgument},
		{name: "device gone", mountedAt: "DEVICE", noDevice: true, wantErr: ErrDeviceNotFound},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			device := fakeDevice(t, "vdb")
			if tc.noDevice {
				device += ".gone"
			}
			if tc.mountedAt == "DEVICE" {
				tc.mountedAt = device
			}
			target := filepath.Join(t.TempDir(), "staging")
			var mps []mountutils.MountPoint
			if tc.asFile {
				if err := os.WriteFile(target, nil, 0o600); err != nil {
					t.Fatal(err)
				}
			} else if err := os.Mkdir(target, 0o750); err != nil {
				t.Fatal(err)
			}
			if tc.mountedAt != "" {
				mps = append(mps, mountutils.MountPoint{Device: tc.mountedAt, Path: target, Type: "ext4"})
			}
			fm := mountutils.NewFakeMounter(mps)
			m := NewMounterWith(fm, scriptedExec(t)) // no command may run
			err := m.FormatAndMount(ctx, device, target, "ext4", nil, nil)
			if !errors.Is(err, tc.wantErr) || (tc.wantErr == nil) != (err == nil) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			if len(fm.MountPoints) != len(mps) {
				t.Errorf("mount table changed: %+v", fm.MountPoints)
			}
		})
	}
}

func TestClassifyMountError(t *testing.T) {
	tests := []struct {
		errType mountutils.MountErrorType
		want    error
	}{
		{mountutils.FilesystemMismatch, ErrFilesystemMismatch},
		{mountutils.HasFilesystemErrors, ErrFilesystemCorrupt},
		{mountutils.UnformattedReadOnly, ErrUnformattedReadOnly},
	}
	for _, tc := range tests {
		t.Run(string(tc.errType), func(t *testing.T) {
			err := classifyMountError(mountutils.NewMountError(tc.errType, "details"))
			if !errors.Is(err, tc.want) {
				t.Errorf("err = %v, want %v", err, tc.want)
			}
		})
	}
	plain := errors.New("mount failed")
	if got := classifyMountError(plain); got != plain {
		t.Errorf("an untyped error changed: %v", got)
	}
}

// seContext is the mount option kubelet adds with SELinuxMount (CSIDriver seLinuxMount).
const seContext = `context="system_u:object_r:container_file_t:s0:c12,c34"`

// A publish of a staged volume carries the same context option: a bind mount
// shares the staged filesystem's superblock, whose label the stage set.
func TestBindMountKeepsSELinuxContext(t *testing.T) {
	dir := t.TempDir()
	source, target := filepath.Join(dir, "staging"), filepath.Join(dir, "pod", "mount")
	if err := os.Mkdir(source, 0o750); err != nil {
		t.Fatal(err)
	}
	fm := mountutils.NewFakeMounter([]mountutils.MountPoint{{Device: "/dev/vdb", Path: source, Type: "ext4", Opts: []string{seContext}}})
	m := NewMounterWith(fm, scriptedExec(t))
	if err := m.BindMount(source, target, false, []string{seContext}); err != nil {
		t.Fatal(err)
	}
	want := mountutils.MountPoint{Device: "/dev/vdb", Path: target, Type: "", Opts: []string{"bind", seContext}} // the fake resolves a bind to its device
	if len(fm.MountPoints) != 2 || !equalMountPoint(fm.MountPoints[1], want) {
		t.Errorf("mounts = %+v, want the staging mount and %+v", fm.MountPoints, want)
	}
}

func TestBindMountReadOnlyConflict(t *testing.T) {
	dir := t.TempDir()
	source, target := filepath.Join(dir, "staging"), filepath.Join(dir, "pod", "mount")
	if err := os.Mkdir(source, 0o750); err != nil {
		t.Fatal(err)
	}
	fm := mountutils.NewFakeMounter([]mountutils.MountPoint{{Device: "/dev/vdb", Path: source, Type: "ext4"}})
	m := NewMounterWith(fm, scriptedExec(t))
	steps := []struct {
		readOnly bool
		wantErr  error
	}{{true, nil}, {true, nil}, {false, ErrMountConflict}}
	for i, s := range steps {
		err := m.BindMount(source, target, s.readOnly, nil)
		if !errors.Is(err, s.wantErr) || (s.wantErr == nil) != (err == nil) {
			t.Fatalf("call %d (readOnly=%t): err = %v, want %v", i, s.readOnly, err, s.wantErr)
		}
	}
	if len(fm.MountPoints) != 2 {
		t.Errorf("want the staging mount and one bind mount, got %+v", fm.MountPoints)
	}
}

// staleOnce fakes PathExists for a target whose mount went stale: the first look fails
// with ENOTCONN, later ones see the directory under it.
func staleOnce(target string) func(string) (bool, error) {
	looked := false
	return func(path string) (bool, error) {
		if path == target && !looked {
			looked = true
			return true, &os.PathError{Op: "stat", Path: path, Err: syscall.ENOTCONN}
		}
		return mountutils.PathExists(path)
	}
}

func TestStaleMountIsReplaced(t *testing.T) {
	ctx := context.Background()
	dev := fakeDevice(t, "vdb")
	target := filepath.Join(t.TempDir(), "staging")
	if err := os.Mkdir(target, 0o750); err != nil {
		t.Fatal(err)
	}
	fm := mountutils.NewFakeMounter([]mountutils.MountPoint{{Device: dev, Path: target, Type: "ext4"}})
	m := NewMounterWith(fm, scriptedExec(t,
		step{argv: blkidCmd(dev), out: "TYPE=ext4\n"},
		step{argv: argv("fsck", "-a", dev)},
	)).(*mounter)
	m.pathExists = staleOnce(target)

	if err := m.FormatAndMount(ctx, dev, target, "ext4", nil, nil); err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, a := range fm.GetLog() {
		actions = append(actions, a.Action+" "+a.Target)
	}
	if want := []string{"unmount " + target, "mount " + target}; !slices.Equal(actions, want) {
		t.Errorf("mount actions = %q, want %q", actions, want)
	}
}

func TestIsMountPointReportsStaleMount(t *testing.T) {
	target := filepath.Join(t.TempDir(), "staging")
	m := NewMounterWith(mountutils.NewFakeMounter(nil), scriptedExec(t)).(*mounter)
	m.pathExists = staleOnce(target)
	mounted, err := m.IsMountPoint(target)
	if !mounted || !errors.Is(err, syscall.ENOTCONN) {
		t.Errorf("IsMountPoint(stale) = %t, %v; want true with ENOTCONN", mounted, err)
	}
	if mounted, err := m.IsMountPoint(filepath.Join(target, "missing")); mounted || err != nil {
		t.Errorf("IsMountPoint(missing) = %t, %v; want false, nil", mounted, err)
	}
}

// A request whose context has ended starts no filesystem tool and mounts nothing.
func TestFormatAndMountAfterCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	dev := fakeDevice(t, "vdc")
	target := filepath.Join(t.TempDir(), "staging")
	fm := mountutils.NewFakeMounter(nil)
	m := NewMounterWith(fm, scriptedExec(t))
	err := m.FormatAndMount(ctx, dev, target, "ext4", nil, nil)
	if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "format and mount "+dev+" not started") {
		t.Errorf("err = %v, want context.Canceled naming what was not started", err)
	}
	if log := fm.GetLog(); len(log) != 0 {
		t.Errorf("mount actions %v after the context ended", log)
	}
}
