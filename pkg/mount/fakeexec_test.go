package mount

import (
	"slices"
	"testing"

	utilexec "k8s.io/utils/exec"
	fakeexec "k8s.io/utils/exec/testing"
)

// step is one command a test expects, in order, and what it answers.
type step struct {
	argv []string
	out  string
	err  error
}

// exitErr is a command's failure with an exit status, as the exec seam reports it.
func exitErr(status int) error {
	return fakeexec.FakeExitError{Status: status}
}

// scriptedExec returns an exec seam that expects exactly steps, in order, and fails
// the test on any other command, or, at cleanup, on a step never run.
func scriptedExec(t *testing.T, steps ...step) utilexec.Interface {
	t.Helper()
	fe := &fakeexec.FakeExec{}
	for _, s := range steps {
		fe.CommandScript = append(fe.CommandScript, func(cmd string, args ...string) utilexec.Cmd {
			got := append([]string{cmd}, args...)
			if !slices.Equal(got, s.argv) {
				t.Errorf("ran %q, want %q", got, s.argv)
			}
			fc := &fakeexec.FakeCmd{CombinedOutputScript: []fakeexec.FakeAction{
				func() ([]byte, []byte, error) { return []byte(s.out), nil, s.err },
			}}
			return fakeexec.InitFakeCmd(fc, cmd, args...)
		})
	}
	t.Cleanup(func() {
		if fe.CommandCalls != len(steps) {
			t.Errorf("ran %d commands, want %d", fe.CommandCalls, len(steps))
		}
	})
	return fe
}

func argv(a ...string) []string { return a }
