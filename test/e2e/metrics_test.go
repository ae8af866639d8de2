package e2e

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"gopkg.in/yaml.v2"
)

// freeAddr is a loopback address with a port nothing listens on.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// scrape reads /metrics at addr: the text, and its families by name.
func scrape(t *testing.T, addr string) (string, map[string]*dto.MetricFamily) {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatalf("scrape %s: %v", addr, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("scrape %s: %s, %v", addr, resp.Status, err)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(strings.NewReader(string(raw)))
	if err != nil {
		t.Fatalf("scrape %s: the exposition does not parse: %v", addr, err)
	}
	return string(raw), fams
}

// value is the sample of family name whose labels include want (counter, gauge, or
// a histogram's count); ok false when there is none.
func value(fams map[string]*dto.MetricFamily, name string, want map[string]string) (float64, bool) {
	f := fams[name]
	if f == nil {
		return 0, false
	}
next:
	for _, m := range f.GetMetric() {
		have := map[string]string{}
		for _, l := range m.GetLabel() {
			have[l.GetName()] = l.GetValue()
		}
		for k, v := range want {
			if have[k] != v {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.GetCounter().GetValue(), true
		case m.Gauge != nil:
			return m.GetGauge().GetValue(), true
		case m.Histogram != nil:
			return float64(m.GetHistogram().GetSampleCount()), true
		}
	}
	return 0, false
}

// claimsMade is how many PVCs the run makes (and deletes): data, restored, the
// pod's claim, the two of the group snapshot and their two restores, the zone-b
// node's claim, the zone-b source and its restore, and the warm runs'.
const claimsMade = 10 + warmRuns

// checkMetrics scrapes both drivers at the end of the run: the counters must tell
// what the run did (claimsMade PVCs, all deleted; one group snapshot),
// the exposition must pass promtool's linter (promlint, what promtool check metrics
// runs), and every expression of the chart's alerts and dashboard must name metrics
// and labels the driver really exposes.
func (e *env) checkMetrics(ctx context.Context, t *testing.T) {
	ctrlText, ctrl := scrape(t, e.controllerHTTP)
	nodeText, node := scrape(t, e.nodeHTTP)
	for _, c := range []struct {
		what   string
		fams   map[string]*dto.MetricFamily
		name   string
		labels map[string]string
		want   float64
	}{
		{"successful CreateVolume, one per PVC", ctrl, "cinder_csi_operation_duration_seconds",
			map[string]string{"method": "/csi.v1.Controller/CreateVolume", "code": "OK"}, claimsMade},
		{"Cinder volume creates accepted, one per PVC", ctrl, "cinder_csi_openstack_request_duration_seconds",
			map[string]string{"service": "volume", "method": "POST", "path": "/v3/{id}/volumes", "status": "202"}, claimsMade},
		{"Cinder volume deletes accepted, one per PV", ctrl, "cinder_csi_openstack_request_duration_seconds",
			map[string]string{"service": "volume", "method": "DELETE", "path": "/v3/{id}/volumes/{id}", "status": "202"}, claimsMade},
		{"volume creates waited for", ctrl, "cinder_csi_wait_duration_seconds",
			map[string]string{"operation": "create-volume", "outcome": "done"}, claimsMade},
		{"one Cinder group snapshot cut", ctrl, "cinder_csi_openstack_request_duration_seconds",
			map[string]string{"service": "volume", "method": "POST", "path": "/v3/{id}/group_snapshots", "status": "202"}, 1},
		{"and deleted", ctrl, "cinder_csi_openstack_request_duration_seconds",
			map[string]string{"service": "volume", "method": "DELETE", "path": "/v3/{id}/group_snapshots/{id}", "status": "202"}, 1},
		{"the node's attach limit", node, "cinder_csi_node_attach_limit", nil, 8},
		{"stagings refused for another filesystem", node, "cinder_csi_node_failures_total",
			map[string]string{"operation": "stage", "fs_type": "xfs", "kind": "fs-mismatch"}, float64(e.mismatches)},
		{"no throttling on the local bed", ctrl, "cinder_csi_openstack_retries_total",
			map[string]string{"service": "volume", "reason": "throttled"}, 0},
		{"the controller's build", ctrl, "cinder_csi_build_info", map[string]string{"mode": "controller", "attacher": "cinder", "csi_spec": "1.13.0"}, 1},
		{"the node's build", node, "cinder_csi_build_info", map[string]string{"mode": "node", "attacher": "cinder"}, 1},
	} {
		if got, ok := value(c.fams, c.name, c.labels); !ok || got != c.want {
			t.Errorf("%s: %s%v = %v (present %v), want %v", c.what, c.name, c.labels, got, ok, c.want)
		}
	}
	// The provisioner calls DeleteVolume again when it cannot update the PV after a
	// delete (a conflict with the PV protection controller); the repeat is answered
	// OK without a Cinder request, so the count of calls is a floor.
	if got, _ := value(ctrl, "cinder_csi_operation_duration_seconds", map[string]string{"method": "/csi.v1.Controller/DeleteVolume", "code": "OK"}); got < claimsMade {
		t.Errorf("successful DeleteVolume: %v, want at least %d (one per PV)", got, claimsMade)
	}
	if got, _ := value(ctrl, "cinder_csi_operation_duration_seconds", map[string]string{"method": "/csi.v1.Controller/CreateSnapshot", "code": "OK"}); got < 2+warmRuns {
		t.Errorf("successful CreateSnapshot: %v, want at least %d (the snapshots and a backup)", got, 2+warmRuns)
	}
	if got, _ := value(node, "cinder_csi_operation_duration_seconds", map[string]string{"method": "/csi.v1.Node/NodeGetInfo", "code": "OK"}); got < 1 {
		t.Errorf("the node plugin's NodeGetInfo is not counted")
	}
	for name, text := range map[string]string{"controller": ctrlText, "node": nodeText} {
		problems, err := promlint.New(strings.NewReader(text)).Lint()
		if err != nil {
			t.Fatalf("lint the %s's metrics: %v", name, err)
		}
		for _, p := range problems {
			t.Errorf("the %s's metrics: %s: %s", name, p.Metric, p.Text)
		}
	}
	for _, line := range strings.Split(ctrlText, "\n") {
		if strings.HasPrefix(line, "cinder_csi_operation_duration_seconds_count{") && strings.Contains(line, "CreateVolume") ||
			strings.HasPrefix(line, "cinder_csi_openstack_request_duration_seconds_count{") && (strings.Contains(line, `method="POST"`) || strings.Contains(line, `method="DELETE"`)) ||
			strings.HasPrefix(line, "cinder_csi_operation_duration_seconds_count{") && strings.Contains(line, "DeleteVolume") {
			t.Logf("scrape: %s", line)
		}
	}
	e.checkChartExpressions(ctx, t, ctrl, node)
}

var (
	metricRE = regexp.MustCompile(`\bcinder_csi_[a-z_]+`)
	// label names in by (...) and in {matchers}
	byRE      = regexp.MustCompile(`by \(([^)]*)\)`)
	matcherRE = regexp.MustCompile(`\{([^}]*)\}`)
	labelRE   = regexp.MustCompile(`([a-z_]+)\s*(=~|!=|!~|=)`)
)

// checkChartExpressions renders the chart with its PrometheusRule and dashboard and
// checks every expression against the families scraped: each metric exists, and each
// label it groups or filters by is one the metric has.
func (e *env) checkChartExpressions(ctx context.Context, t *testing.T, fams ...map[string]*dto.MetricFamily) {
	labels := map[string]map[string]bool{} // metric (with _bucket/_count/_sum) -> labels
	for _, f := range fams {
		for name, fam := range f {
			names := []string{name}
			if fam.GetType() == dto.MetricType_HISTOGRAM {
				names = []string{name + "_bucket", name + "_count", name + "_sum"}
			}
			for _, n := range names {
				if labels[n] == nil {
					labels[n] = map[string]bool{"instance": true, "job": true}
				}
				if strings.HasSuffix(n, "_bucket") {
					labels[n]["le"] = true
				}
				for _, m := range fam.GetMetric() {
					for _, l := range m.GetLabel() {
						labels[n][l.GetName()] = true
					}
				}
			}
		}
	}
	chart := filepath.Join(filepath.Dir(filepath.Dir(filepath.Dir(currentFile()))), "deploy", "helm")
	cmd := exec.CommandContext(ctx, filepath.Join(e.bin, "helm"), "template", "cinder-csi", chart, "--namespace", "kube-system",
		"--set", "cloud.cloudsYaml=clouds: {}", "--set", "metrics.enabled=true", "--set", "metrics.serviceMonitor.enabled=true",
		"--set", "metrics.prometheusRule.enabled=true", "--set", "metrics.dashboard.enabled=true",
		"--api-versions", "monitoring.coreos.com/v1/ServiceMonitor", "--api-versions", "monitoring.coreos.com/v1/PrometheusRule")
	cmd.Env = append(cmd.Environ(), "HOME="+filepath.Join(e.work, "helm-home"))
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("helm template with the monitoring objects: %v", err)
	}
	var exprs []string
	kinds := map[string]int{}
	for _, doc := range strings.Split(string(out), "\n---") {
		var o map[string]any
		if err := yaml.Unmarshal([]byte(doc), &o); err != nil || o == nil {
			continue
		}
		kind, _ := o["kind"].(string)
		kinds[kind]++
		switch kind {
		case "PrometheusRule":
			exprs = append(exprs, ruleExprs(o)...)
		case "ConfigMap":
			md, _ := o["metadata"].(map[any]any)
			if name, _ := md["name"].(string); !strings.HasSuffix(name, "dashboard") {
				continue
			}
			data, _ := o["data"].(map[any]any)
			board, _ := data["cinder-csi.json"].(string)
			for _, m := range regexp.MustCompile(`"expr":\s*"((?:[^"\\]|\\.)*)"`).FindAllStringSubmatch(board, -1) {
				exprs = append(exprs, strings.ReplaceAll(m[1], `\"`, `"`))
			}
		}
	}
	if kinds["ServiceMonitor"] != 2 || kinds["PrometheusRule"] != 1 {
		t.Errorf("chart renders %d ServiceMonitors and %d PrometheusRules, want 2 and 1", kinds["ServiceMonitor"], kinds["PrometheusRule"])
	}
	if len(exprs) < 12 {
		t.Fatalf("found %d expressions in the rules and dashboard, want at least 12", len(exprs))
	}
	var bad []string
	for _, ex := range exprs {
		names := metricRE.FindAllString(ex, -1)
		if len(names) == 0 {
			bad = append(bad, "no driver metric in: "+ex)
		}
		used := map[string]bool{}
		for _, m := range byRE.FindAllStringSubmatch(ex, -1) {
			for _, l := range strings.Split(m[1], ",") {
				used[strings.TrimSpace(l)] = true
			}
		}
		for _, m := range matcherRE.FindAllStringSubmatch(ex, -1) {
			for _, l := range labelRE.FindAllStringSubmatch(m[1], -1) {
				used[l[1]] = true
			}
		}
		for _, n := range names {
			have, ok := labels[n]
			if !ok {
				bad = append(bad, fmt.Sprintf("%s is not exposed (in %s)", n, ex))
				continue
			}
			for l := range used {
				if !have[l] {
					bad = append(bad, fmt.Sprintf("%s has no label %s (in %s)", n, l, ex))
				}
			}
		}
	}
	sort.Strings(bad)
	for _, b := range bad {
		t.Error(b)
	}
	t.Logf("chart: %d alert and dashboard expressions name only metrics and labels the driver exposes", len(exprs))
}

func ruleExprs(o map[string]any) []string {
	var out []string
	spec, _ := o["spec"].(map[any]any)
	groups, _ := spec["groups"].([]any)
	for _, g := range groups {
		gm, _ := g.(map[any]any)
		rules, _ := gm["rules"].([]any)
		for _, r := range rules {
			rm, _ := r.(map[any]any)
			if ex, ok := rm["expr"].(string); ok {
				out = append(out, ex)
			}
		}
	}
	return out
}

// checkStaged scrapes the node plugin: its staged-volumes gauge, read from the
// mount table, must be want.
func (e *env) checkStaged(t *testing.T, want float64) {
	t.Helper()
	_, node := scrape(t, e.nodeHTTP)
	if got, ok := value(node, "cinder_csi_node_volumes_staged", nil); !ok || got != want {
		t.Errorf("cinder_csi_node_volumes_staged = %v (present %v), want %v", got, ok, want)
	}
}
