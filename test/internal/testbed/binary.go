package testbed

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// DriverBinary is $CSI_DRIVER_BIN (make passes bin/csi-driver), else a fresh build of
// cmd/csi-driver in the test's temporary directory.
func DriverBinary(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("CSI_DRIVER_BIN"); p != "" {
		return p
	}
	out := filepath.Join(t.TempDir(), "csi-driver")
	cmd := exec.Command("go", "build", "-trimpath", "-o", out, "github.com/cinder-csi/cinder-csi-driver/cmd/csi-driver")
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build the driver: %v: %s", err, msg)
	}
	return out
}
