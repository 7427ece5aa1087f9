package views

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// stallingStore is a store whose reads block until released or fail.
type stallingStore struct {
	*memStore
	stall chan struct{} // reads wait on it while it is open
	fail  atomic.Pointer[error]
}

func (s *stallingStore) Read(ctx context.Context, keys []Key, groups []uint32) ([][]byte, error) {
	if s.stall != nil {
		<-s.stall // ignores ctx, as a client stuck on a frozen server does
	}
	if err := s.fail.Load(); err != nil {
		return nil, *err
	}
	return s.memStore.Read(ctx, keys, groups)
}

// TestGuardedTimesOutAndOpens: a read that stalls is ErrUnavailable after
// the guard's timeout although the store ignores its context; failures in
// a row open the circuit (reads refused without a call), a probe after the
// cooldown closes it again; the caller's own cancellation is no failure.
func TestGuardedTimesOutAndOpens(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := NewStoreMetrics(reg)
	st := &stallingStore{memStore: newMemStore(), stall: make(chan struct{})}
	g, err := Guard(st, "redis_main", GuardTimeout(20*time.Millisecond), GuardBreaker(2, time.Hour), GuardMetrics(m))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	g.b.now = func() time.Time { return now }
	keys, groups := []Key{key("user", "1")}, []uint32{1}
	ctx := context.Background()
	for range 2 {
		if _, err := g.Read(ctx, keys, groups); !errors.Is(err, ErrUnavailable) {
			t.Fatalf("stalled read: %v, want ErrUnavailable", err)
		}
	}
	if _, err := g.Read(ctx, keys, groups); !errors.Is(err, ErrCircuitOpen) || !errors.Is(err, ErrUnavailable) {
		t.Fatalf("after 2 failures: %v, want the circuit open", err)
	}
	if got := testutil.ToFloat64(m.errors.WithLabelValues("redis_main", "read", "timeout")); got != 2 {
		t.Errorf("timeouts counted %v, want 2", got)
	}
	if got := testutil.ToFloat64(m.errors.WithLabelValues("redis_main", "read", "circuit_open")); got != 1 {
		t.Errorf("refusals counted %v, want 1", got)
	}
	if got := testutil.ToFloat64(m.state.WithLabelValues("redis_main")); got != float64(open) {
		t.Errorf("breaker state %v, want open", got)
	}
	close(st.stall) // the store answers again (the stalled reads too)
	now = now.Add(2 * time.Hour)
	if _, err := g.Read(ctx, keys, groups); err != nil {
		t.Fatalf("probe after the cooldown: %v", err)
	}
	if got := testutil.ToFloat64(m.state.WithLabelValues("redis_main")); got != float64(closed) {
		t.Errorf("breaker state %v after the probe, want closed", got)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	unavailable := ErrUnavailable
	st.fail.Store(&unavailable)
	for range 3 {
		if _, err := g.Read(cctx, keys, groups); !errors.Is(err, context.Canceled) && !errors.Is(err, ErrUnavailable) {
			t.Fatalf("canceled read: %v", err)
		}
	}
	if g.b.stateNow() != closed {
		t.Error("the caller's cancellations opened the circuit")
	}
}

// seeingStore records the keys and groups its reads see once released.
type seeingStore struct {
	*memStore
	release chan struct{}
	seen    chan string
}

func (s *seeingStore) Read(ctx context.Context, keys []Key, groups []uint32) ([][]byte, error) {
	<-s.release
	s.seen <- fmt.Sprint(keys, groups)
	return s.memStore.Read(ctx, keys, groups)
}

// TestGuardedReadOwnsItsArguments: a read that times out goes on in the
// background with the keys and groups it was given, whatever the caller
// (which may reuse them once Read returns) writes into them afterwards.
// Under -race, a shared slice would also be reported as a data race.
func TestGuardedReadOwnsItsArguments(t *testing.T) {
	st := &seeingStore{memStore: newMemStore(), release: make(chan struct{}), seen: make(chan string, 1)}
	g, err := Guard(st, "redis_main", GuardTimeout(10*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	// The values share a buffer, as the feature server's point into its
	// pooled request bytes.
	wire := []byte("1234")
	keys := []Key{key("user", unsafe.String(&wire[0], 2)), key("user", unsafe.String(&wire[2], 2))}
	groups := []uint32{7}
	want := fmt.Sprint(keys, groups)
	if _, err := g.Read(context.Background(), keys, groups); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("stalled read: %v, want ErrUnavailable", err)
	}
	// The caller's next request.
	copy(wire, "9999")
	keys[1], groups[0] = Key{}, 9
	close(st.release)
	if got := <-st.seen; got != want {
		t.Fatalf("the background read saw %s, was given %s", got, want)
	}
}
