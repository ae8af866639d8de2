package e2e

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// chartArgsAccepted runs each binary the chart's workloads start with the exact
// arguments the chart gives it, followed by --help: a flag the binary does not
// know fails the parse (and would crash-loop the pod), while known flags reach
// --help, which exits 0. It also checks that the image tag the chart pins is the
// version the e2e built and ran. Containers whose binary cannot be built here
// (node-driver-registrar, livenessprobe) are listed as not checked.
func (e *env) chartArgsAccepted(ctx context.Context, t *testing.T, rendered []byte) {
	t.Helper()
	out, err := e.k.Run(ctx, string(rendered), "create", "--dry-run=client", "-o", "json", "-f", "-")
	must(t, err)
	// kubectl prints one JSON object after another.
	type workload struct {
		Kind string `json:"kind"`
		Spec struct {
			Template struct {
				Spec struct {
					Containers []struct {
						Name  string   `json:"name"`
						Image string   `json:"image"`
						Args  []string `json:"args"`
					} `json:"containers"`
				} `json:"spec"`
			} `json:"template"`
		} `json:"spec"`
	}
	var items []workload
	dec := json.NewDecoder(strings.NewReader(out))
	for dec.More() {
		var w workload
		must(t, dec.Decode(&w))
		items = append(items, w)
	}
	checked, skipped := 0, []string{}
	for _, it := range items {
		if it.Kind != "Deployment" && it.Kind != "DaemonSet" {
			continue
		}
		for _, c := range it.Spec.Template.Spec.Containers {
			repo, tag, _ := strings.Cut(c.Image[strings.LastIndex(c.Image, "/")+1:], ":")
			bin, stamp := filepath.Join(e.bin, repo), ""
			if repo == "cinder-csi-driver" {
				bin = e.driverBin
			} else if data, err := os.ReadFile(filepath.Join(e.bin, "."+repo+".version")); err == nil {
				stamp = strings.TrimSpace(string(data))
			} else {
				skipped = append(skipped, it.Kind+"/"+c.Name)
				continue
			}
			if stamp != "" && !strings.Contains(stamp, tag) {
				t.Errorf("%s/%s pins %s:%s but the e2e built and ran %s", it.Kind, c.Name, repo, tag, stamp)
			}
			cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			msg, err := exec.CommandContext(cctx, bin, append(append([]string{}, c.Args...), "--help")...).CombinedOutput()
			cancel()
			if err != nil {
				lines := strings.Split(strings.TrimSpace(string(msg)), "\n")
				t.Errorf("%s/%s: %s refuses the chart's arguments %q: %v: %s", it.Kind, c.Name, repo, c.Args, err, lines[0])
			}
			checked++
		}
	}
	if checked < 6 {
		t.Errorf("checked the arguments of %d containers, want at least 6 (the driver twice and four sidecars)", checked)
	}
	t.Logf("chart: the arguments of %d containers accepted by their binaries; not checked (not buildable here): %s", checked, strings.Join(skipped, ", "))
}
