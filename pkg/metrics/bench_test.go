package metrics

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
)

// The cost the metrics add to a CSI call and to an OpenStack request, to set
// against the milliseconds those take (make bench): with and without a registry.

func BenchmarkInterceptor(b *testing.B) {
	info := &grpc.UnaryServerInfo{FullMethod: "/csi.v1.Controller/CreateVolume"}
	handler := func(context.Context, any) (any, error) { return nil, nil }
	for _, bc := range []struct {
		name string
		m    *Metrics
	}{
		{"off", nil},
		{"on", New(prometheus.NewRegistry(), Build{Mode: "controller"})},
	} {
		b.Run(bc.name, func(b *testing.B) {
			ic := bc.m.UnaryInterceptor()
			b.ReportAllocs()
			for b.Loop() {
				_, _ = ic(context.Background(), nil, info, handler)
			}
		})
	}
}

func BenchmarkRequest(b *testing.B) {
	m := New(prometheus.NewRegistry(), Build{Mode: "controller"})
	b.ReportAllocs()
	for b.Loop() {
		m.Request("volume", "GET", "/v3/{id}/volumes/{id}", 200, 12*time.Millisecond)
	}
}
