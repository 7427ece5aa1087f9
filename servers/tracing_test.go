package servers

import (
	"context"
	"net"
	"sync"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	collectorpb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/grpc"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
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

// otlpReceiver is an OTLP/gRPC trace receiver: the protocol an
// OpenTelemetry Collector speaks, served on loopback.
type otlpReceiver struct {
	collectorpb.UnimplementedTraceServiceServer
	mu    sync.Mutex
	names []string
	svc   []string
}

func (r *otlpReceiver) Export(_ context.Context, req *collectorpb.ExportTraceServiceRequest) (*collectorpb.ExportTraceServiceResponse, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, rs := range req.GetResourceSpans() {
		for _, a := range rs.GetResource().GetAttributes() {
			if a.GetKey() == "service.name" {
				r.svc = append(r.svc, a.GetValue().GetStringValue())
			}
		}
		for _, ss := range rs.GetScopeSpans() {
			for _, s := range ss.GetSpans() {
				r.names = append(r.names, s.GetName())
			}
		}
	}
	return &collectorpb.ExportTraceServiceResponse{}, nil
}

// TestTracerProviderExports: NewTracerProvider sends spans over OTLP/gRPC
// to its endpoint, named by the service.
func TestTracerProviderExports(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	recv := &otlpReceiver{}
	gs := grpc.NewServer()
	collectorpb.RegisterTraceServiceServer(gs, recv)
	go func() { _ = gs.Serve(lis) }() // Stop ends it
	t.Cleanup(gs.Stop)

	ctx := context.Background()
	tp, err := NewTracerProvider(ctx, TracingConfig{Endpoint: lis.Addr().String(), SampleRatio: 1, Service: "ofs-test"})
	if err != nil || tp == nil {
		t.Fatalf("NewTracerProvider: %v, %v", tp, err)
	}
	_, span := tp.Tracer("test").Start(ctx, "a-span")
	span.End()
	if err := tp.Shutdown(ctx); err != nil { // flushes the batch
		t.Fatal(err)
	}
	recv.mu.Lock()
	defer recv.mu.Unlock()
	if len(recv.names) != 1 || recv.names[0] != "a-span" || len(recv.svc) != 1 || recv.svc[0] != "ofs-test" {
		t.Fatalf("receiver got spans %q of services %q", recv.names, recv.svc)
	}

	if tp, err := NewTracerProvider(ctx, TracingConfig{}); tp != nil || err != nil {
		t.Errorf("no endpoint: %v, %v; want tracing off", tp, err)
	}
	if _, err := NewTracerProvider(ctx, TracingConfig{Endpoint: "127.0.0.1:1", SampleRatio: 2}); err == nil {
		t.Error("a sample ratio of 2 was accepted")
	}
}
