package servers

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/ofstack/ofs/internal/tlsconf"
)

// TracingConfig is where a server sends OpenTelemetry traces (the
// `tracing` section of ofs.yaml). Tracing is off without an Endpoint: then
// no span is started anywhere, and a read of the cache tiers pays one
// context lookup.
type TracingConfig struct {
	// Endpoint is the OTLP/gRPC receiver, host:port (an OpenTelemetry
	// Collector, Jaeger, Tempo).
	Endpoint string `yaml:"endpoint"`
	// SampleRatio is the fraction of calls traced that arrive without a
	// sampled parent, 0 to 1; a caller's sampled trace is always followed.
	SampleRatio float64 `yaml:"sample_ratio"`
	// TLS secures the connection to the receiver; off, it is plaintext.
	TLS tlsconf.ClientConfig `yaml:"tls"`
	// Service names the process in the traces (default "ofs").
	Service string `yaml:"service"`
}

// ErrTracingConfig is a TracingConfig that cannot be used.
var ErrTracingConfig = errors.New("servers: tracing")

// Validate checks c without connecting.
func (c TracingConfig) Validate() error {
	if c.SampleRatio < 0 || c.SampleRatio > 1 {
		return fmt.Errorf("%w: sample_ratio is %v, want 0 to 1", ErrTracingConfig, c.SampleRatio)
	}
	if c.Endpoint != "" {
		if _, _, err := net.SplitHostPort(c.Endpoint); err != nil {
			return fmt.Errorf("%w: endpoint %q: want host:port: %w", ErrTracingConfig, c.Endpoint, err)
		}
	}
	return nil
}

// NewTracerProvider returns a provider that batches spans to c.Endpoint,
// or nil when c has none. StopTracing sends what it holds on exit.
func NewTracerProvider(ctx context.Context, c TracingConfig) (*sdktrace.TracerProvider, error) {
	if c.Endpoint == "" {
		return nil, nil
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	tcfg, err := c.TLS.Config()
	if err != nil {
		return nil, fmt.Errorf("%w: tls: %w", ErrTracingConfig, err)
	}
	opts := []otlptracegrpc.Option{otlptracegrpc.WithEndpoint(c.Endpoint)}
	if tcfg != nil {
		opts = append(opts, otlptracegrpc.WithTLSCredentials(credentials.NewTLS(tcfg)))
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

// StopTracing sends the spans tp still holds, waiting at most 5 s, and
// stops it; a nil tp is tracing off.
func StopTracing(tp *sdktrace.TracerProvider, log *slog.Logger) {
	if tp == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := tp.Shutdown(ctx); err != nil {
		log.Warn("tracing: sending the last spans", "err", err)
	}
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
