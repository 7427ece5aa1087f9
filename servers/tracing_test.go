package servers

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"

	"github.com/ofstack/ofs/internal/testenv"
)

// TestTracing: a call to a server with Tracing makes a server span that
// continues the caller's W3C trace.
func TestTracing(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	conn := serveTest(t, Tracing(tp)...)
	const traceID, parentID = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
	ctx := metadata.AppendToOutgoingContext(context.Background(), "traceparent", "00-"+traceID+"-"+parentID+"-01")
	if _, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for len(rec.Ended()) == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond) // the span ends after the answer is sent
	}
	spans := rec.Ended()
	if len(spans) != 1 {
		t.Fatalf("%d spans ended, want 1", len(spans))
	}
	s := spans[0]
	if s.Name() != "grpc.health.v1.Health/Check" || s.SpanKind() != trace.SpanKindServer {
		t.Errorf("span %q of kind %v", s.Name(), s.SpanKind())
	}
	if s.SpanContext().TraceID().String() != traceID || s.Parent().SpanID().String() != parentID {
		t.Errorf("span in trace %s under %s, want the caller's %s under %s",
			s.SpanContext().TraceID(), s.Parent().SpanID(), traceID, parentID)
	}
	if Tracing(nil) != nil {
		t.Error("Tracing(nil) gave options")
	}
}

// TestTracerProviderExports: NewTracerProvider sends spans over OTLP/gRPC
// to its endpoint, named by the service.
func TestTracerProviderExports(t *testing.T) {
	recv := testenv.NewOTLPReceiver(t)
	ctx := context.Background()
	tp, err := NewTracerProvider(ctx, TracingConfig{Endpoint: recv.Addr, SampleRatio: 1, Service: "ofs-test"})
	if err != nil || tp == nil {
		t.Fatalf("NewTracerProvider: %v, %v", tp, err)
	}
	_, span := tp.Tracer("test").Start(ctx, "a-span")
	span.End()
	StopTracing(tp, slog.New(slog.DiscardHandler)) // flushes the batch
	if names, svc := recv.Spans(); len(names) != 1 || names[0] != "a-span" || len(svc) != 1 || svc[0] != "ofs-test" {
		t.Fatalf("receiver got spans %q of services %q", names, svc)
	}

	if tp, err := NewTracerProvider(ctx, TracingConfig{}); tp != nil || err != nil {
		t.Errorf("no endpoint: %v, %v; want tracing off", tp, err)
	}
	for _, bad := range []TracingConfig{{Endpoint: "127.0.0.1:1", SampleRatio: 2}, {Endpoint: "no-port", SampleRatio: 0.1}} {
		if _, err := NewTracerProvider(ctx, bad); !errors.Is(err, ErrTracingConfig) {
			t.Errorf("%+v: %v, want ErrTracingConfig", bad, err)
		}
	}
}
