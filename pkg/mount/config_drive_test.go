package mount

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/utils/exec"
	testingexec "k8s.io/utils/exec/testing"
)

const driveFile = "openstack/latest/meta_data.json"

// fakeDriveMount records mount/umount calls; a successful mount puts the drive's
// file into the target directory, as the real drive would show it.
type fakeDriveMount struct {
	calls    []string
	mountErr error
	dirs     []string
}

func (m *fakeDriveMount) exec(t *testing.T, script int) *testingexec.FakeExec {
	fe := &testingexec.FakeExec{}
	for i := 0; i < script; i++ {
		fe.CommandScript = append(fe.CommandScript, func(cmd string, args ...string) exec.Cmd {
			m.calls = append(m.calls, cmd+" "+strings.Join(args, " "))
			fc := &testingexec.FakeCmd{}
			fc.CombinedOutputScript = []testingexec.FakeAction{func() ([]byte, []byte, error) {
				if cmd == "mount" {
					if m.mountErr != nil {
						return []byte("mount: wrong fs type"), nil, m.mountErr
					}
					dir := args[len(args)-1]
					m.dirs = append(m.dirs, dir)
					must(t, os.MkdirAll(filepath.Join(dir, filepath.Dir(driveFile)), 0o755))
					must(t, os.WriteFile(filepath.Join(dir, driveFile), []byte(`{"uuid":"u"}`), 0o600))
					return nil, nil, nil
				}
				// umount: empty the directory as unmounting would.
				must(t, os.RemoveAll(filepath.Join(args[0], "openstack")))
				return nil, nil, nil
			}}
			return testingexec.InitFakeCmd(fc, cmd, args...)
		})
	}
	return fe
}

func TestConfigDriveReadFile(t *testing.T) {
	dev := filepath.Join(t.TempDir(), "config-2")
	must(t, os.WriteFile(dev, nil, 0o600))
	fm := &fakeDriveMount{}
	data, from, err := (&ConfigDrive{Device: dev, Exec: fm.exec(t, 3)}).ReadFile(context.Background(), driveFile)
	if err != nil || string(data) != `{"uuid":"u"}` || from != dev+":"+driveFile {
		t.Fatalf("ReadFile = %q, %q, %v", data, from, err)
	}
	if len(fm.calls) != 2 || !strings.HasPrefix(fm.calls[0], "mount -t iso9660 -o ro "+dev+" ") || !strings.HasPrefix(fm.calls[1], "umount ") {
		t.Errorf("commands %q, want a read-only mount then an umount", fm.calls)
	}
	for _, d := range fm.dirs {
		if _, err := os.Stat(d); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("temporary directory %s left behind", d)
		}
	}
}

func TestConfigDriveFailures(t *testing.T) {
	// Absent: no command runs.
	missing := filepath.Join(t.TempDir(), "no-such-device")
	fm := &fakeDriveMount{}
	if _, _, err := (&ConfigDrive{Device: missing, Exec: fm.exec(t, 0)}).ReadFile(context.Background(), driveFile); err == nil ||
		!strings.Contains(err.Error(), "no config drive: none of "+missing+" exists") || len(fm.calls) != 0 {
		t.Errorf("absent drive: %v after %q", err, fm.calls)
	}
	// Will not mount: iso9660, vfat, then whatever the kernel detects, and the
	// temporary directory is removed.
	dev := filepath.Join(t.TempDir(), "config-2")
	must(t, os.WriteFile(dev, nil, 0o600))
	fm = &fakeDriveMount{mountErr: errors.New("exit status 32")}
	_, _, err := (&ConfigDrive{Device: dev, Exec: fm.exec(t, 3)}).ReadFile(context.Background(), driveFile)
	if err == nil || !strings.Contains(err.Error(), "mount config drive "+dev) {
		t.Errorf("unmountable drive: %v", err)
	}
	if len(fm.calls) != 3 || !strings.Contains(fm.calls[1], "-t vfat") || !strings.Contains(fm.calls[2], "-t auto") {
		t.Errorf("mount attempts %q, want iso9660, vfat, auto", fm.calls)
	}
	if dir := fm.calls[0][strings.LastIndex(fm.calls[0], " ")+1:]; dir != "" {
		if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("temporary directory %s left behind", dir)
		}
	}
}
