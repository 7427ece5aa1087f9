package servers

import (
	"log/slog"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
)

// Shutdown is how a gRPC server stops without failing a client's call:
// first it says it is going (health NOT_SERVING, and whatever the caller
// withdraws: readiness, registrations), then it keeps serving for Delay so
// that balancers and clients that watch health stop sending to it, then it
// stops gracefully (GOAWAY: no new calls on its connections, the calls in
// flight finish) within Timeout, and then at once.
type Shutdown struct {
	// Delay is how long the server keeps serving after it reported
	// NOT_SERVING.
	Delay time.Duration
	// Timeout bounds how long the calls in flight may take to finish once
	// GOAWAY is sent; then the connections are closed.
	Timeout time.Duration
}

// Stop stops gs the way s says: h goes NOT_SERVING (for good: a late
// SetServingStatus changes nothing), each of withdraw runs in order, then
// the delay, the graceful stop and the hard stop. It returns once gs has
// stopped; log says how it went.
func (s Shutdown) Stop(gs *grpc.Server, h *health.Server, log *slog.Logger, withdraw ...func()) {
	start := time.Now()
	h.Shutdown()
	for _, w := range withdraw {
		w()
	}
	log.Info("shutting down: NOT_SERVING", "delay", s.Delay, "timeout", s.Timeout)
	if s.Delay > 0 {
		time.Sleep(s.Delay)
	}
	stopped := make(chan struct{})
	go func() { gs.GracefulStop(); close(stopped) }()
	t := time.NewTimer(s.Timeout)
	defer t.Stop()
	select {
	case <-stopped:
		log.Info("stopped gracefully", "took", time.Since(start).Round(time.Millisecond))
	case <-t.C:
		log.Warn("calls still in flight after the shutdown timeout: closing their connections", "timeout", s.Timeout)
		gs.Stop()
		<-stopped
	}
}
