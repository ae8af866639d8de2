package mount

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	utilexec "k8s.io/utils/exec"
)

// DefaultStateDir is where the node plugin keeps what it must find again after a
// restart and that the system cannot tell it: which iSCSI targets a volume uses, the
// pidfiles and FUSE mount points of qcow2 exports. It must outlive the plugin's
// container (a hostPath on the node), or a restarted plugin cannot disconnect.
const DefaultStateDir = "/var/lib/cinder-csi"

// writeFileAtomic writes data to path, mode 0600, through a temporary file and a
// rename, so that a crash leaves the old content or the new, never a torn file.
func writeFileAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name()) // fails harmlessly after the rename
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}

// runTool runs a command through the exec seam with stdout and stderr kept apart:
// tools such as rbd print warnings on stderr that would spoil a parse of stdout.
func runTool(ctx context.Context, exec utilexec.Interface, name string, args ...string) (stdout, stderr string, err error) {
	cmd := exec.CommandContext(ctx, name, args...)
	var out, errOut bytes.Buffer
	cmd.SetStdout(&out)
	cmd.SetStderr(&errOut)
	err = cmd.Run()
	return out.String(), errOut.String(), err
}

// exitStatus returns the exit status of a command that ran and failed.
func exitStatus(err error) (int, bool) {
	var exitErr utilexec.ExitError
	if errors.As(err, &exitErr) {
		return exitErr.ExitStatus(), true
	}
	return 0, false
}

// toolError describes a failed command with what it printed. shownArgs must already
// be free of secrets.
func toolError(name string, shownArgs []string, err error, stdout, stderr string) error {
	msg := strings.TrimSpace(stderr)
	if msg == "" {
		msg = strings.TrimSpace(stdout)
	}
	return fmt.Errorf("%s %s: %w: %s", name, strings.Join(shownArgs, " "), err, msg)
}

// missingTool is the error for a tool that is not installed on the node.
func missingTool(name, debianPackage string, err error) error {
	return fmt.Errorf("%w: %s is not installed on this node (Debian package %s): %w", ErrUnsupported, name, debianPackage, err)
}
