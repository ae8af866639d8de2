package driver

import (
	"context"
	"strings"
	"time"

	"github.com/kubernetes-csi/csi-lib-utils/protosanitizer"
	"google.golang.org/grpc"
	"google.golang.org/grpc/status"
	"k8s.io/klog/v2"

	"github.com/cinder-csi/cinder-csi-driver/pkg/cinder"
)

// logInterceptor logs every call with its secrets stripped: a request is only ever
// logged through protosanitizer, so Secrets fields never reach a log line. Each
// call ends in one line, at -v=2 (an error always), with its outcome, duration and
// the OpenStack request IDs it caused: the IDs that Cinder's and Nova's logs carry.
func logInterceptor(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	start := time.Now()
	ctx, requestIDs := cinder.WithRequestIDs(ctx)
	klog.V(4).InfoS("GRPC call", "method", info.FullMethod, "request", protosanitizer.StripSecrets(req))
	resp, err := handler(ctx, req)
	if err != nil {
		st := status.Convert(err)
		klog.ErrorS(nil, "GRPC error", "method", info.FullMethod, "code", st.Code().String(),
			"message", st.Message(), "duration", time.Since(start), "openstackRequestIDs", requestIDs())
		return resp, err
	}
	klog.V(4).InfoS("GRPC response", "method", info.FullMethod, "response", protosanitizer.StripSecrets(resp))
	// Identity calls (the liveness probe's every few seconds) only at -v=4.
	v := klog.Level(2)
	if strings.HasPrefix(info.FullMethod, "/csi.v1.Identity/") {
		v = 4
	}
	klog.V(v).InfoS("GRPC done", "method", info.FullMethod, "code", "OK", "duration", time.Since(start),
		"openstackRequestIDs", requestIDs())
	return resp, nil
}
