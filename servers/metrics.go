package servers

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/status"
)

// Metrics returns the server options that count every call by method and
// status code and time it, registered on reg:
//
//	ofs_grpc_requests_total{method, code}
//	ofs_grpc_request_duration_seconds{method}
func Metrics(reg prometheus.Registerer) []grpc.ServerOption {
	requests := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "ofs_grpc_requests_total",
		Help: "gRPC calls handled, by full method name and status code.",
	}, []string{"method", "code"})
	duration := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "ofs_grpc_request_duration_seconds",
		Help: "Time to handle a gRPC call, by full method name (streams: their whole life).",
		// From 50 µs (an L1 Retrieve) to 30 s (an Apply waiting for its outcome).
		Buckets: prometheus.ExponentialBucketsRange(50e-6, 30, 20),
	}, []string{"method"})
	reg.MustRegister(requests, duration)
	observe := func(method string, start time.Time, err error) {
		requests.WithLabelValues(method, status.Code(err).String()).Inc()
		duration.WithLabelValues(method).Observe(time.Since(start).Seconds())
	}
	return []grpc.ServerOption{
		grpc.ChainUnaryInterceptor(func(ctx context.Context, req any, info *grpc.UnaryServerInfo, next grpc.UnaryHandler) (any, error) {
			start := time.Now()
			resp, err := next(ctx, req)
			observe(info.FullMethod, start, err)
			return resp, err
		}),
		grpc.ChainStreamInterceptor(func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, next grpc.StreamHandler) error {
			start := time.Now()
			err := next(srv, ss)
			observe(info.FullMethod, start, err)
			return err
		}),
	}
}
