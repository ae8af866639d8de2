package mount

import (
	"slices"
	"testing"

	utilexec "k8s.io/utils/exec"
	fakeexec "k8s.io/utils/exec/testing"
)

// run is one command a test expects, in order, with what it printed on each stream
// and how it ended, as recorded from the real tool.
type run struct {
	argv           []string
	stdout, stderr string
	err            error
	// then, if set, changes the world as the command would (a disk appears).
	then func()
}

// recordedExec is scriptedExec for tools whose two streams matter: each command may
// be run with Run (stdout and stderr apart) or CombinedOutput. It fails the test on a
// command out of order and, at cleanup, on a command never run.
func recordedExec(t *testing.T, runs ...run) utilexec.Interface {
	t.Helper()
	fe := &fakeexec.FakeExec{}
	for _, r := range runs {
		fe.CommandScript = append(fe.CommandScript, func(cmd string, args ...string) utilexec.Cmd {
			got := append([]string{cmd}, args...)
			if !slices.Equal(got, r.argv) {
				t.Errorf("ran %q, want %q", got, r.argv)
			}
			fc := &fakeexec.FakeCmd{
				RunScript: []fakeexec.FakeAction{
					func() ([]byte, []byte, error) { r.do(); return []byte(r.stdout), []byte(r.stderr), r.err },
				},
				CombinedOutputScript: []fakeexec.FakeAction{
					func() ([]byte, []byte, error) { r.do(); return []byte(r.stdout + r.stderr), nil, r.err },
				},
			}
			return fakeexec.InitFakeCmd(fc, cmd, args...)
		})
	}
	t.Cleanup(func() {
		if fe.CommandCalls != len(runs) {
			t.Errorf("ran %d commands, want %d", fe.CommandCalls, len(runs))
		}
	})
	return fe
}

func (r run) do() {
	if r.then != nil {
		r.then()
	}
}
