package metrics

import (
	"context"
	"errors"
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func TestMetricsRecordAndLint(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := New(reg, Build{Version: "v1", CSISpec: "1.13.0", Mode: "all", Attacher: "nova"})
	ic := m.UnaryInterceptor()
	info := &grpc.UnaryServerInfo{FullMethod: "/csi.v1.Controller/CreateVolume"}
	ok := func(context.Context, any) (any, error) { return "ok", nil }
	bad := func(context.Context, any) (any, error) { return nil, status.Error(codes.NotFound, "gone") }
	for _, h := range []grpc.UnaryHandler{ok, ok, bad} {
		_, _ = ic(context.Background(), nil, info, h)
	}
	m.Request("volume", "POST", "/v3/{id}/volumes", 202, 30*time.Millisecond)
	m.Retry("volume", 429, 2*time.Second)
	m.Retry("compute", 503, time.Second)
	m.Retry("volume", 0, time.Second)
	m.Wait("create-volume", "done", 200*time.Millisecond)
	m.Repair("stuck-attachment")
	m.NodeFailure("stage", "ext4", "mount")
	m.DeviceFound(100 * time.Millisecond)
	m.AttachLimit(26)
	staged, countErr := 3, error(nil)
	m.StagedVolumes(func() (int, error) { return staged, countErr })

	if n := testutil.CollectAndCount(reg, "cinder_csi_operation_duration_seconds"); n != 2 {
		t.Errorf("%d CSI call series, want 2 (OK and NotFound)", n)
	}
	if got := testutil.ToFloat64(m.retries.WithLabelValues("volume", "throttled")); got != 1 {
		t.Errorf("throttled retries = %v", got)
	}
	if got := testutil.ToFloat64(m.retries.WithLabelValues("compute", "server-error")); got != 1 {
		t.Errorf("server-error retries = %v", got)
	}
	if got := testutil.ToFloat64(m.retries.WithLabelValues("volume", "network")); got != 1 {
		t.Errorf("network retries = %v", got)
	}
	if got := testutil.ToFloat64(m.retryAfter.WithLabelValues("volume")); got != 2 {
		t.Errorf("throttled wait = %v, want 2 s", got)
	}
	if got := testutil.ToFloat64(m.repairs.WithLabelValues("stuck-attachment")); got != 1 {
		t.Errorf("repairs = %v", got)
	}

	// The exposition: what Prometheus scrapes, and what promtool check metrics
	// would say of it (the same linter).
	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	resp, err := srv.Client().Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		`cinder_csi_operation_duration_seconds_count{code="OK",method="/csi.v1.Controller/CreateVolume"} 2`,
		`cinder_csi_operation_duration_seconds_count{code="NotFound",method="/csi.v1.Controller/CreateVolume"} 1`,
		`cinder_csi_openstack_request_duration_seconds_count{method="POST",path="/v3/{id}/volumes",service="volume",status="202"} 1`,
		`cinder_csi_wait_duration_seconds_count{operation="create-volume",outcome="done"} 1`,
		`cinder_csi_build_info{attacher="nova",csi_spec="1.13.0",mode="all",version="v1"} 1`,
		`cinder_csi_node_attach_limit 26`,
		`cinder_csi_node_failures_total{fs_type="ext4",kind="mount",operation="stage"} 1`,
		`cinder_csi_node_volumes_staged 3`,
		`process_resident_memory_bytes`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	// The staged count is read at each scrape; one that fails is left out.
	staged = 1
	if got := testutil.CollectAndCount(reg, "cinder_csi_node_volumes_staged"); got != 1 {
		t.Errorf("%d staged series, want 1", got)
	}
	if err := testutil.GatherAndCompare(reg, strings.NewReader("# HELP cinder_csi_node_volumes_staged Filesystem volumes of this driver mounted at a kubelet staging path on this node, from the mount table.\n# TYPE cinder_csi_node_volumes_staged gauge\ncinder_csi_node_volumes_staged 1\n"), "cinder_csi_node_volumes_staged"); err != nil {
		t.Error(err)
	}
	countErr = errors.New("no mount table")
	if got := testutil.CollectAndCount(reg, "cinder_csi_node_volumes_staged"); got != 0 {
		t.Errorf("a failed count still gave %d staged series", got)
	}
	countErr = nil
	problems, err := testutil.GatherAndLint(reg)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("lint: %s: %s", p.Metric, p.Text)
	}
}

// A controller registers no node metrics; a nil *Metrics records nothing and
// its interceptor still calls the handler.
func TestMetricsControllerAndNil(t *testing.T) {
	reg := prometheus.NewRegistry()
	New(reg, Build{Mode: "controller"})
	if n := testutil.CollectAndCount(reg, "cinder_csi_node_attach_limit"); n != 0 {
		t.Errorf("controller exposes node metrics")
	}
	var m *Metrics
	m.Request("volume", "GET", "/", 200, 0)
	m.Retry("volume", 429, 0)
	m.Wait("x", "done", 0)
	m.Repair("x")
	m.NodeFailure("stage", "ext4", "mount")
	wantErr := errors.New("boom")
	_, err := m.UnaryInterceptor()(context.Background(), nil, &grpc.UnaryServerInfo{FullMethod: "/m"},
		func(context.Context, any) (any, error) { return nil, wantErr })
	if !errors.Is(err, wantErr) {
		t.Errorf("nil interceptor: %v", err)
	}
}

func TestZeroStartsKnownSeries(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := New(reg, Build{Mode: "controller"})
	for _, name := range []string{"cinder_csi_openstack_retries_total", "cinder_csi_openstack_throttled_wait_seconds_total", "cinder_csi_repairs_total"} {
		if n := testutil.CollectAndCount(reg, name); n != 0 {
			t.Fatalf("%s has %d series before Zero, want none", name, n)
		}
	}
	m.Zero([]string{"identity", "volume"}, []string{"stuck-attachment", "duplicate"})
	for name, want := range map[string]int{
		"cinder_csi_openstack_retries_total":                2 * 3, // services × reasons
		"cinder_csi_openstack_throttled_wait_seconds_total": 2,
		"cinder_csi_repairs_total":                          2,
	} {
		if n := testutil.CollectAndCount(reg, name); n != want {
			t.Errorf("%s: %d series after Zero, want %d", name, n, want)
		}
	}
	if got := testutil.ToFloat64(m.retries.WithLabelValues("volume", "throttled")); got != 0 {
		t.Errorf("a zeroed counter is %v", got)
	}
	m.Repair("duplicate")
	if got := testutil.ToFloat64(m.repairs.WithLabelValues("duplicate")); got != 1 {
		t.Errorf("repairs after one: %v, want 1", got)
	}
	var none *Metrics
	none.Zero([]string{"volume"}, nil) // safe on nil
}
