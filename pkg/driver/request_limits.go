package driver

import (
	"context"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
	"k8s.io/klog/v2"
)

// Request size bounds. A CSI request from a CO is a few KiB at most: names, IDs,
// StorageClass parameters, secrets and contexts. maxRequestBytes refuses anything
// far beyond that with a readable InvalidArgument before any handler, log line or
// Cinder request touches it; maxRecvBytes makes gRPC refuse (ResourceExhausted)
// larger messages before they are decoded, so memory stays bounded either way.
const (
	maxRequestBytes = 256 << 10
	maxRecvBytes    = 1 << 20
)

// limitInterceptor refuses requests larger than maxRequestBytes, naming the method
// and the size, so that an operator can find the parameter map or context that grew.
func limitInterceptor(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	if m, ok := req.(proto.Message); ok {
		if n := proto.Size(m); n > maxRequestBytes {
			klog.InfoS("Refused an oversized request", "method", info.FullMethod, "bytes", n)
			return nil, invalid("%s request is %d bytes, more than the %d this driver takes: shorten the StorageClass parameters, secrets or volume context it carries",
				info.FullMethod, n, maxRequestBytes)
		}
	}
	return handler(ctx, req)
}
