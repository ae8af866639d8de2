package sanityrun

import (
	"testing"

	"github.com/cinder-csi/cinder-csi-driver/internal/testenv"
)

// Missing is testenv.Missing: t.Skipf, or t.Fatalf when requireVar is "1".
func Missing(t *testing.T, requireVar string) func(format string, args ...any) {
	return testenv.Missing(t, requireVar)
}
