package testbed

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// CloudsFile returns the test bed's clouds.yaml: $CINDER_CSI_CLOUDS, else
// .cache/cinder/clouds.yaml at the repository root.
func CloudsFile() (string, error) {
	if p := os.Getenv("CINDER_CSI_CLOUDS"); p != "" {
		return p, nil
	}
	out, err := exec.Command("git", "rev-parse", "--show-toplevel").Output()
	if err != nil {
		return "", fmt.Errorf("finding the repository root: %v", err)
	}
	p := filepath.Join(strings.TrimSpace(string(out)), ".cache", "cinder", "clouds.yaml")
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("no test bed: %s is missing; start it with `make cinder-up`", p)
	}
	return p, nil
}
