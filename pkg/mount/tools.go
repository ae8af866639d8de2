package mount

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"

	utilexec "k8s.io/utils/exec"
)

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
