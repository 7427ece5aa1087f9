package servers

import (
	"context"
	"io"
	"log/slog"
	"net"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

func TestMetricsCountByMethodAndCode(t *testing.T) {
	reg := prometheus.NewRegistry()
	s, health := NewGRPC(slog.New(slog.NewTextHandler(io.Discard, nil)), Metrics(reg)...)
	health.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = s.Serve(lis) }() // Stop ends it
	defer s.Stop()
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	h := healthpb.NewHealthClient(conn)
	ctx := context.Background()
	for range 3 {
		if _, err := h.Check(ctx, &healthpb.HealthCheckRequest{}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := h.Check(ctx, &healthpb.HealthCheckRequest{Service: "nope"}); err == nil {
		t.Fatal("an unknown service was healthy")
	}

	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	counts := map[string]float64{}
	observations := uint64(0)
	for _, f := range families {
		for _, m := range f.GetMetric() {
			switch f.GetName() {
			case "ofs_grpc_requests_total":
				code := ""
				for _, l := range m.GetLabel() {
					if l.GetName() == "code" {
						code = l.GetValue()
					}
				}
				counts[code] += m.GetCounter().GetValue()
			case "ofs_grpc_request_duration_seconds":
				observations += m.GetHistogram().GetSampleCount()
			}
		}
	}
	if counts["OK"] != 3 || counts["NotFound"] != 1 || observations != 4 {
		t.Fatalf("counted %v and %d timings, want 3 OK, 1 NotFound, 4 timings", counts, observations)
	}
}
