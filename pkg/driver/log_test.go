package driver

import (
	"context"
	"strings"
	"testing"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc"
	"k8s.io/klog/v2"
)

// TestSecretsNeverLogged sends requests carrying secrets through the logging
// interceptor at the most verbose level, on success and on failure, and checks that
// the secret values appear in no log line.
func TestSecretsNeverLogged(t *testing.T) {
	buf := captureLogs(t)
	d, _ := newTestController(t, fakeOpts())
	const secret = "hunter2-very-secret"
	reqs := []any{
		&csi.CreateVolumeRequest{Name: "v", Secrets: map[string]string{"password": secret}},
		&csi.NodeStageVolumeRequest{VolumeId: volID, Secrets: map[string]string{"key": secret}},
		&csi.CreateSnapshotRequest{Name: "s", SourceVolumeId: volID, Secrets: map[string]string{"token": secret}},
	}
	info := &grpc.UnaryServerInfo{FullMethod: "/csi.v1.Controller/Test"}
	for _, r := range reqs {
		_, _ = logInterceptor(context.Background(), r, info, func(ctx context.Context, req any) (any, error) {
			switch q := req.(type) {
			case *csi.CreateVolumeRequest:
				return d.CreateVolume(ctx, q)
			case *csi.CreateSnapshotRequest:
				return d.CreateSnapshot(ctx, q)
			}
			return nil, invalid("refused")
		})
	}
	klog.Flush()
	out := buf.String()
	if !strings.Contains(out, "GRPC call") || !strings.Contains(out, "***stripped***") {
		t.Fatalf("the interceptor did not log the requests:\n%s", out)
	}
	if strings.Contains(out, secret) {
		t.Fatalf("a secret reached the log:\n%s", out)
	}
}
