package driver

import (
	"context"
	"time"

	"github.com/kubernetes-csi/csi-lib-utils/protosanitizer"
	"google.golang.org/grpc"
	"google.golang.org/grpc/status"
	"k8s.io/klog/v2"
)

// logInterceptor logs every call with its secrets stripped: a request is only ever
// logged through protosanitizer, so Secrets fields never reach a log line.
func logInterceptor(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	start := time.Now()
	klog.V(4).InfoS("GRPC call", "method", info.FullMethod, "request", protosanitizer.StripSecrets(req))
	resp, err := handler(ctx, req)
	if err != nil {
		st := status.Convert(err)
		klog.ErrorS(nil, "GRPC error", "method", info.FullMethod, "code", st.Code().String(),
			"message", st.Message(), "duration", time.Since(start))
		return resp, err
	}
	klog.V(4).InfoS("GRPC response", "method", info.FullMethod, "response", protosanitizer.StripSecrets(resp),
		"duration", time.Since(start))
	return resp, nil
}
