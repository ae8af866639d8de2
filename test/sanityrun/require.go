package sanityrun

import (
	"os"
	"testing"
)

// Missing returns how a test reports a missing prerequisite: t.Skipf, or t.Fatalf
// when the environment variable is "1" (make sets them), so that CI cannot pass a
// suite by skipping it.
func Missing(t *testing.T, requireVar string) func(format string, args ...any) {
	if os.Getenv(requireVar) == "1" {
		return t.Fatalf
	}
	return t.Skipf
}
