package servers

import (
	"context"
	"errors"
	"fmt"

	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
)

// TracingConfig is where a server sends OpenTelemetry traces. Tracing is
// off without an Endpoint: then no span is started anywhere, and a read
// of the cache tiers pays one context lookup.
type TracingConfig struct {
	// Endpoint is the OTLP/gRPC receiver, host:port (an OpenTelemetry
	// Collector, Jaeger, Tempo).
	Endpoint string
	// SampleRatio is the fraction of calls traced that arrive without a
	// sampled parent, 0 to 1; a caller's sampled trace is always followed.
	SampleRatio float64
	// TLS, when set, secures the connection to the receiver; without it
	// the connection is plaintext.
	TLS credentials.TransportCredentials
	// Service names the process in the traces ("ofs-serve").
	Service string
}

// ErrTracingConfig is a TracingConfig that cannot be used.
var ErrTracingConfig = errors.New("servers: tracing")

// NewTracerProvider returns a provider that batches spans to c.Endpoint,
// or nil when c has none. Shut it down on exit to send what it holds.
func NewTracerProvider(ctx context.Context, c TracingConfig) (*sdktrace.TracerProvider, error) {
	if c.Endpoint == "" {
		return nil, nil
	}
	if c.SampleRatio < 0 || c.SampleRatio > 1 {
		return nil, fmt.Errorf("%w: sample ratio %v, want 0 to 1", ErrTracingConfig, c.SampleRatio)
	}
	opts := []otlptracegrpc.Option{otlptracegrpc.WithEndpoint(c.Endpoint)}
	if c.TLS != nil {
		opts = append(opts, otlptracegrpc.WithTLSCredentials(c.TLS))
	} else {
		opts = append(opts, otlptracegrpc.WithInsecure())
	}
	exp, err := otlptracegrpc.New(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("%w: exporter to %s: %w", ErrTracingConfig, c.Endpoint, err)
	}
	service := c.Service
	if service == "" {
		service = "ofs"
	}
	return sdktrace.NewTracerProvider(
		sdktrace.WithBatcher(exp),
		sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(c.SampleRatio))),
		sdktrace.WithResource(resource.NewSchemaless(attribute.String("service.name", service))),
	), nil
}

// Tracing returns the server options that trace every call with tp
// (otelgrpc's stats handler), following W3C trace context from the
// caller; nil without tp. Spans the handlers start from the call's context
// (the cache tiers' "ofs.l1", "ofs.l2", "ofs.store") are its children.
func Tracing(tp *sdktrace.TracerProvider) []grpc.ServerOption {
	if tp == nil {
		return nil
	}
	return []grpc.ServerOption{grpc.StatsHandler(otelgrpc.NewServerHandler(
		otelgrpc.WithTracerProvider(tp),
		otelgrpc.WithPropagators(propagation.TraceContext{}),
	))}
}
