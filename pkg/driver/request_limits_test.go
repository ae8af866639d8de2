package driver

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/cinder-csi/cinder-csi-driver/pkg/cinder/fake"
)

// TestOversizedRequests sends requests through the driver's own gRPC server: one
// within the bound is served, one with a huge parameter map or name is refused with
// InvalidArgument saying what to shorten, one beyond gRPC's receive bound is refused
// before it is decoded.
func TestOversizedRequests(t *testing.T) {
	d, cloud := newTestController(t, fake.Options{})
	dir, err := os.MkdirTemp("", "limits")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	d.opts.Endpoint = "unix://" + filepath.Join(dir, "csi.sock")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	for i := 0; i < 200; i++ {
		if _, err := os.Stat(filepath.Join(dir, "csi.sock")); err == nil {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	conn, err := grpc.NewClient(d.opts.Endpoint, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallSendMsgSize(8<<20)))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	cc := csi.NewControllerClient(conn)
	bigMap := func(total int) map[string]string {
		m := map[string]string{}
		for i := 0; len(m)*1024 < total; i++ {
			m[strings.Repeat("k", 16)+string(rune('a'+i%26))+strings.Repeat("x", i/26)] = strings.Repeat("v", 1000)
		}
		return m
	}
	for _, c := range []struct {
		name   string
		req    *csi.CreateVolumeRequest
		code   codes.Code
		saying string
	}{
		{"small", createReq("small", 1, nil), codes.OK, ""},
		{"parameters of 300 KiB", createReq("params", 1, bigMap(300<<10)), codes.InvalidArgument, "shorten the StorageClass parameters"},
		{"a name of 1 MiB", createReq(strings.Repeat("n", 900<<10), 1, nil), codes.InvalidArgument, "more than the 262144 this driver takes"},
		{"secrets of 2 MiB", &csi.CreateVolumeRequest{Name: "secrets", VolumeCapabilities: []*csi.VolumeCapability{mountCap()}, Secrets: bigMap(2 << 20)}, codes.ResourceExhausted, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := cc.CreateVolume(context.Background(), c.req)
			st := status.Convert(err)
			if st.Code() != c.code || !strings.Contains(st.Message(), c.saying) {
				t.Fatalf("got %v %q, want %v saying %q", st.Code(), st.Message(), c.code, c.saying)
			}
		})
	}
	if n, _, _ := cloud.Counts(); n != 1 {
		t.Errorf("the cloud holds %d volumes, want 1 (only the small request's)", n)
	}
}
