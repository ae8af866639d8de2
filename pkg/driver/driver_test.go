package driver

import (
	"context"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/cinder-csi/cinder-csi-driver/pkg/cinder/fake"
	"github.com/cinder-csi/cinder-csi-driver/pkg/metrics"
)

// TestRunServesAndStops starts the server on a socket, probes it over gRPC and HTTP,
// then cancels the context and expects a clean stop.
func TestRunServesAndStops(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	httpAddr := lis.Addr().String()
	lis.Close()
	sock := filepath.Join(t.TempDir(), "csi.sock")
	cloud := fake.New(fake.Options{})
	d, err := New(Options{Endpoint: "unix://" + sock, Mode: ModeController, Attacher: AttacherNova, DriverName: "x.example.org",
		HTTPEndpoint: httpAddr, MetadataURL: "http://127.0.0.1:1", MetadataSearchOrder: "metadataService"},
		Deps{Cloud: cloud, Attacher: cloud.NovaAttacher(), Version: "v1",
			Metrics: metrics.New(prometheus.NewRegistry(), metrics.Build{Version: "v1", Mode: ModeController, Attacher: AttacherNova})})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()

	conn, err := grpc.NewClient("unix://"+sock, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	id := csi.NewIdentityClient(conn)
	var probe *csi.ProbeResponse
	for i := 0; i < 100; i++ {
		if probe, err = id.Probe(ctx, &csi.ProbeRequest{}); err == nil && probe.GetReady().GetValue() {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if !probe.GetReady().GetValue() {
		t.Fatalf("Probe never ready: %v", err)
	}
	info, err := id.GetPluginInfo(ctx, &csi.GetPluginInfoRequest{})
	if err != nil || info.GetName() != "x.example.org" || info.GetVendorVersion() != "v1" {
		t.Fatalf("GetPluginInfo = %v, %v", info, err)
	}
	if _, err := csi.NewNodeClient(conn).NodeGetInfo(ctx, &csi.NodeGetInfoRequest{}); err == nil {
		t.Error("controller mode serves the node service")
	}
	resp, err := http.Get("http://" + httpAddr + "/healthz")
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("healthz = %v, %v", resp, err)
	}
	resp.Body.Close()
	// The calls above are on /metrics, by method and code.
	resp, err = http.Get("http://" + httpAddr + "/metrics")
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("/metrics = %v, %v", resp, err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		`cinder_csi_operation_duration_seconds_count{code="OK",method="/csi.v1.Identity/GetPluginInfo"} 1`,
		`cinder_csi_operation_duration_seconds_count{code="OK",method="/csi.v1.Identity/Probe"}`,
		`cinder_csi_build_info{attacher="nova",csi_spec="",mode="controller",version="v1"} 1`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if n := cloud.Calls("GetVolume") + cloud.Calls("ListVolumes") + cloud.Calls("GetLimits"); n != 0 {
		t.Errorf("probes called the cloud %d times", n)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run returned %v after cancel", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not stop")
	}
}
