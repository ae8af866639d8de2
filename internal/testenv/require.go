// Package testenv holds what every test of this repository reads from its environment
// the same way. Test code only.
package testenv

import (
	"os"
	"testing"
)

// Missing returns how a test reports a missing prerequisite: t.Skipf, or t.Fatalf when
// the environment variable is exactly "1" (make sets the REQUIRE_* variables so), so
// that CI cannot pass a suite by skipping it.
func Missing(t testing.TB, requireVar string) func(format string, args ...any) {
	if os.Getenv(requireVar) == "1" {
		return t.Fatalf
	}
	return t.Skipf
}
