package testenv

import (
	"context"
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	collectorpb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/grpc"
)

// OTLPReceiver is an OTLP/gRPC trace receiver on loopback, the protocol an
// OpenTelemetry Collector speaks: what a process configured to send
// traces to Addr sends arrives in it.
type OTLPReceiver struct {
	collectorpb.UnimplementedTraceServiceServer
	// Addr is the receiver's host:port.
	Addr string

	mu       sync.Mutex
	spans    []string // names, in arrival order
	services []string // service.name of each batch
}

// NewOTLPReceiver starts a receiver that stops when the test ends.
func NewOTLPReceiver(t testing.TB) *OTLPReceiver {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &OTLPReceiver{Addr: lis.Addr().String()}
	gs := grpc.NewServer()
	collectorpb.RegisterTraceServiceServer(gs, r)
	go func() { _ = gs.Serve(lis) }() // Stop ends it
	t.Cleanup(gs.Stop)
	return r
}

// Export implements the OTLP trace service.
func (r *OTLPReceiver) Export(_ context.Context, req *collectorpb.ExportTraceServiceRequest) (*collectorpb.ExportTraceServiceResponse, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, rs := range req.GetResourceSpans() {
		for _, a := range rs.GetResource().GetAttributes() {
			if a.GetKey() == "service.name" {
				r.services = append(r.services, a.GetValue().GetStringValue())
			}
		}
		for _, ss := range rs.GetScopeSpans() {
			for _, s := range ss.GetSpans() {
				r.spans = append(r.spans, s.GetName())
			}
		}
	}
	return &collectorpb.ExportTraceServiceResponse{}, nil
}

// Spans returns the names of the spans received so far, and the service
// names of their batches.
func (r *OTLPReceiver) Spans() (names, services []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.spans), slices.Clone(r.services)
}

// WaitSpan waits up to timeout for a span named name, and reports whether
// it came.
func (r *OTLPReceiver) WaitSpan(name string, timeout time.Duration) bool {
	for deadline := time.Now().Add(timeout); ; time.Sleep(50 * time.Millisecond) {
		if names, _ := r.Spans(); slices.Contains(names, name) {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
	}
}
