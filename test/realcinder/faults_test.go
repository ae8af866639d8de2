package realcinder

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"

	"github.com/cinder-csi/cinder-csi-driver/pkg/cinder"
	"github.com/cinder-csi/cinder-csi-driver/test/internal/testbed"
)

// faultProxy sits between the driver and the real Cinder API on loopback and breaks
// some requests the way a load balancer or a restarting API does.
type faultProxy struct {
	mu sync.Mutex
	// plan lists, per "METHOD path-suffix", what the next matching requests get:
	// "503" (refused before Cinder sees it), "lost" (Cinder does it, the answer is
	// replaced by a 500), "429" (rate limited, with Retry-After: 1).
	plan  map[string][]string
	seen  map[string]int
	proxy *httputil.ReverseProxy
}

func (f *faultProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	key := r.Method + " " + lastSegment(r.URL.Path)
	f.mu.Lock()
	f.seen[key]++
	var fault string
	if p := f.plan[key]; len(p) > 0 {
		fault, f.plan[key] = p[0], p[1:]
	}
	f.mu.Unlock()
	switch fault {
	case "503":
		http.Error(w, `{"badRequest": {"message": "injected 503", "code": 503}}`, http.StatusServiceUnavailable)
	case "429":
		w.Header().Set("Retry-After", "1")
		http.Error(w, `{"overLimit": {"message": "injected 429", "code": 429}}`, http.StatusTooManyRequests)
	case "lost":
		rec := httptest.NewRecorder()
		f.proxy.ServeHTTP(rec, r)
		_, _ = io.Copy(io.Discard, rec.Body)
		http.Error(w, `{"computeFault": {"message": "injected: answer lost", "code": 500}}`, http.StatusInternalServerError)
	default:
		f.proxy.ServeHTTP(w, r)
	}
}

func lastSegment(p string) string {
	p = strings.TrimSuffix(p, "/")
	return p[strings.LastIndex(p, "/")+1:]
}

// TestTransientErrorsAreInvisible runs CreateVolume and CreateSnapshot through a
// proxy that refuses, rate-limits and loses answers, and checks that the calls succeed
// and that Cinder holds exactly one volume and one snapshot for them.
func TestTransientErrorsAreInvisible(t *testing.T) {
	requireTestBed(t)
	direct := client(t, "local-noauth")
	check := leakCheck(t, direct)
	path, _ := testbed.CloudsFile()
	cfg, err := cinder.LoadConfig(path, "local-noauth")
	if err != nil {
		t.Fatal(err)
	}
	target, err := url.Parse(cfg.Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	target.Path = ""
	fp := &faultProxy{plan: map[string][]string{
		"POST volumes":   {"503", "lost"},
		"POST snapshots": {"429", "lost"},
		"GET detail":     {"503", "503"},
	}, seen: map[string]int{}, proxy: httputil.NewSingleHostReverseProxy(target)}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: fp, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(lis) }()
	defer srv.Close()
	cfg.Endpoint = "http://" + lis.Addr().String() + "/v3"

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	c, err := cinder.NewClient(ctx, cfg, cinder.ClientOptions{UserAgent: "fault-test"})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	conn, stop, err := testbed.StartDriver(ctx, c, dir, "fault-node", 4)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = stop() }()
	ctrl := csi.NewControllerClient(conn)
	prefix := fmt.Sprintf("faults-%d", time.Now().UnixNano()%1_000_000)
	vol, err := ctrl.CreateVolume(ctx, &csi.CreateVolumeRequest{Name: prefix + "-vol", CapacityRange: &csi.CapacityRange{RequiredBytes: gib},
		VolumeCapabilities: []*csi.VolumeCapability{testbed.MountCap()}})
	if err != nil {
		t.Fatalf("CreateVolume through the faults: %v", err)
	}
	if vols, _ := direct.FindVolumesByName(ctx, prefix+"-vol"); len(vols) != 1 {
		t.Errorf("Cinder holds %d volumes named %s-vol, want exactly 1", len(vols), prefix)
	}
	snap, err := ctrl.CreateSnapshot(ctx, &csi.CreateSnapshotRequest{Name: prefix + "-snap", SourceVolumeId: vol.GetVolume().GetVolumeId()})
	if err != nil {
		t.Fatalf("CreateSnapshot through the faults: %v", err)
	}
	if snaps, _, _ := direct.ListSnapshots(ctx, cinder.SnapshotListOpts{Name: prefix + "-snap"}); len(snaps) != 1 {
		t.Errorf("Cinder holds %d snapshots named %s-snap, want exactly 1", len(snaps), prefix)
	}
	fp.mu.Lock()
	t.Logf("requests seen by the proxy: %v (left in the plan: %v)", fp.seen, fp.plan)
	for k, p := range fp.plan {
		if len(p) > 0 && k != "GET detail" {
			t.Errorf("faults planned for %q were not all hit: %v", k, p)
		}
	}
	fp.mu.Unlock()
	w := (&testbed.Walk{Ctrl: ctrl, Node: csi.NewNodeClient(conn), Dir: dir, Nodes: [2]string{testbed.NodeID("fault-node"), testbed.NodeID("fault-node")},
		Say: t.Logf}).Own([]string{vol.GetVolume().GetVolumeId()}, []string{snap.GetSnapshot().GetSnapshotId()})
	// Cinder refuses to delete a snapshot that is still being made.
	for i := 0; i < 60; i++ {
		s, err := ctrl.CreateSnapshot(ctx, &csi.CreateSnapshotRequest{Name: prefix + "-snap", SourceVolumeId: vol.GetVolume().GetVolumeId()})
		if err == nil && s.GetSnapshot().GetReadyToUse() {
			break
		}
		time.Sleep(time.Second)
	}
	if err := w.Cleanup(ctx); err != nil {
		t.Fatal(err)
	}
	check()
}
