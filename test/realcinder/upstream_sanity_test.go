package realcinder_test

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/onsi/ginkgo/v2/types"

	"github.com/cinder-csi/cinder-csi-driver/test/internal/inventory"
	"github.com/cinder-csi/cinder-csi-driver/test/internal/testbed"
	"github.com/cinder-csi/cinder-csi-driver/test/sanityrun"
)

// TestUpstreamSanityBinary runs the csi-sanity binary of csi-test (built from the module
// go.mod pins, CSI_SANITY_BIN) against the driver on the real local Cinder, the way an
// outsider would: once with its defaults (non-UUID IDs, 10 GiB volumes, mount access) and
// once with every size, parameter and mode flag set. Each run must pass its minimum,
// skip exactly what is listed, and leave nothing in Cinder.
func TestUpstreamSanityBinary(t *testing.T) {
	skip := sanityrun.Missing(t, "REQUIRE_REAL_CINDER")
	bin := os.Getenv("CSI_SANITY_BIN")
	if bin == "" {
		skip("CSI_SANITY_BIN is not set (make realcinder builds csi-sanity)")
	}
	if os.Geteuid() != 0 {
		skip("the node service mounts loop devices: run as root")
	}
	if _, err := testbed.CloudsFile(); err != nil {
		skip("%v", err)
	}
	ctx := context.Background()
	c, err := testbed.Client(ctx, "local")
	if err != nil {
		t.Fatal(err)
	}
	params := func(dir, name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	runs := []struct {
		name  string
		flags func(dir string) []string
		want  sanityrun.Want
	}{
		{"defaults", func(string) []string { return nil },
			sanityrun.Want{MinPassed: 99, Messages: with(sanityrun.DriverSkips, "testnodevolumeattachlimit not enabled", "the attach-limit case is off by default (the other run turns it on)")}},
		{"every flag", func(dir string) []string {
			return []string{
				"-csi.testvolumesize=1073741824", "-csi.testvolumeexpandsize=2147483648",
				"-csi.testvolumeaccesstype=block", "-csi.testnodevolumeattachlimit",
				"-csi.testinvalidlistvolumesstartingtoken=not-a-token",
				"-csi.testvolumeparameters=" + params(dir, "params.yaml", "type: standard\n"),
				"-csi.testvolumemutableparameters=" + params(dir, "mutable.yaml", "type: fast\n"),
				"-csi.testsnapshotparameters=" + params(dir, "snapshot.yaml", "type: snapshot\n"),
			}
		}, sanityrun.Want{MinPassed: 100, Messages: sanityrun.DriverSkips}},
	}
	for _, r := range runs {
		t.Run(r.name, func(t *testing.T) {
			before, err := inventory.Inventory(ctx, c)
			if err != nil {
				t.Fatal(err)
			}
			dir := t.TempDir()
			loopsBefore := loopDevices(t)
			defer func() {
				// Nothing of the run may stay on the host: no mount under its paths, no
				// new loop device. What is found is reported, then cleaned up.
				for _, m := range mountsUnder(t, dir) {
					t.Errorf("csi-sanity (%s) left a mount: %s", r.name, m)
					_ = exec.Command("umount", "-l", m).Run()
				}
				for _, l := range loopDevices(t) {
					if !slices.Contains(loopsBefore, l) {
						t.Errorf("csi-sanity (%s) left a loop device: %s", r.name, l)
					}
				}
			}()
			conn, stop, err := testbed.StartDriver(ctx, c, dir, "upstream-sanity-node", 8)
			if err != nil {
				t.Fatal(err)
			}
			conn.Close()
			report := filepath.Join(dir, "report.json")
			args := append([]string{
				"-csi.endpoint=unix://" + filepath.Join(dir, "csi.sock"),
				"-csi.mountdir=" + filepath.Join(dir, "mnt"), "-csi.stagingdir=" + filepath.Join(dir, "staging"),
				"-ginkgo.json-report=" + report, "-ginkgo.timeout=30m", "-ginkgo.succinct",
			}, append(sanityrun.SkipFlags(), r.flags(dir)...)...)
			start := time.Now()
			out, runErr := exec.Command(bin, args...).CombinedOutput()
			took := time.Since(start)
			if err := stop(); err != nil {
				t.Errorf("driver: %v", err)
			}
			raw, err := os.ReadFile(report)
			if err != nil {
				t.Fatalf("csi-sanity wrote no report (%v); its output ends:\n%s", runErr, tail(out, 40))
			}
			var reports []types.Report
			if err := json.Unmarshal(raw, &reports); err != nil {
				t.Fatal(err)
			}
			problems := sanityrun.Check(reports, "upstream csi-sanity ("+r.name+")", r.want, took)
			for _, p := range problems {
				t.Error(p)
			}
			if runErr != nil && len(problems) == 0 {
				t.Errorf("csi-sanity exited with %v although its report is clean; its output ends:\n%s", runErr, tail(out, 40))
			}
			left, err := inventory.Leftovers(ctx, c, before, 3*time.Minute)
			if err != nil {
				t.Fatal(err)
			}
			if len(left) > 0 {
				t.Errorf("csi-sanity (%s) left in Cinder:\n%s", r.name, strings.Join(left, "\n"))
			}
		})
	}
}

// mountsUnder lists the mount points below dir, deepest first.
func mountsUnder(t *testing.T, dir string) []string {
	t.Helper()
	raw, err := os.ReadFile("/proc/self/mounts")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, line := range strings.Split(string(raw), "\n") {
		if f := strings.Fields(line); len(f) > 1 && strings.HasPrefix(f[1], dir+"/") {
			out = append(out, f[1])
		}
	}
	slices.Sort(out)
	slices.Reverse(out)
	return out
}

// loopDevices lists the attached loop devices with their backing files.
func loopDevices(t *testing.T) []string {
	t.Helper()
	out, err := exec.Command("losetup", "-l", "-n", "-O", "NAME,BACK-FILE").Output()
	if err != nil {
		t.Fatalf("losetup: %v", err)
	}
	return strings.Fields(strings.ReplaceAll(strings.TrimSpace(string(out)), " ", "="))
}

// with returns m plus one entry.
func with(m map[string]string, k, v string) map[string]string {
	out := map[string]string{k: v}
	for key, val := range m {
		out[key] = val
	}
	return out
}

func tail(b []byte, n int) string {
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
