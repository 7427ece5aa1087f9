package views

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Defaults of a Guarded store.
const (
	DefaultReadTimeout     = time.Second
	DefaultBreakerFailures = 5
	DefaultBreakerCooldown = 5 * time.Second
)

// Guarded is a Store whose reads have their own timeout and a circuit
// breaker, for the read path of a server: a stalled store answers
// ErrUnavailable within the timeout (whatever its client's own timeouts
// and retries), and after a run of failures at once, without a call, until
// a probe read succeeds. Reads are timed and their failures counted and
// logged per store. Write and Close pass through.
type Guarded struct {
	Store
	name    string
	timeout time.Duration
	log     *slog.Logger
	m       *StoreMetrics
	b       breaker

	duration       prometheus.Observer
	timeouts, down prometheus.Counter
	refused, other prometheus.Counter
	state          prometheus.Gauge
}

// StoreMetrics are the metrics of the Guarded stores of a process:
//
//	ofs_store_read_duration_seconds{store, op}
//	ofs_store_errors_total{store, op, reason}  reason: timeout, unavailable, circuit_open, error
//	ofs_store_breaker_state{store}             0 closed, 1 half-open (probing), 2 open
type StoreMetrics struct {
	duration *prometheus.HistogramVec
	errors   *prometheus.CounterVec
	state    *prometheus.GaugeVec
}

// NewStoreMetrics returns the metrics, registered on reg (nil: not
// registered).
func NewStoreMetrics(reg prometheus.Registerer) *StoreMetrics {
	m := &StoreMetrics{
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "ofs_store_read_duration_seconds",
			Help: "Time of a store call on the read path, by store and operation (failures included).",
			// From 100 µs (a Redis MGET on loopback) to 10 s.
			Buckets: prometheus.ExponentialBucketsRange(100e-6, 10, 16),
		}, []string{"store", "op"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ofs_store_errors_total",
			Help: "Failed store calls on the read path, by store, operation and reason (timeout, unavailable, circuit_open, error).",
		}, []string{"store", "op", "reason"}),
		state: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "ofs_store_breaker_state",
			Help: "The circuit breaker of a store's reads: 0 closed, 1 half-open (a probe read), 2 open.",
		}, []string{"store"}),
	}
	if reg != nil {
		reg.MustRegister(m.duration, m.errors, m.state)
	}
	return m
}

// Errors returns the counter of failed reads of store for reason.
func (m *StoreMetrics) Errors(store, reason string) prometheus.Counter {
	return m.errors.WithLabelValues(store, "read", reason)
}

// State returns the breaker state gauge of store.
func (m *StoreMetrics) State(store string) prometheus.Gauge { return m.state.WithLabelValues(store) }

// GuardOption configures a Guarded store.
type GuardOption func(*Guarded)

// GuardTimeout bounds each read (default DefaultReadTimeout).
func GuardTimeout(d time.Duration) GuardOption { return func(g *Guarded) { g.timeout = d } }

// GuardBreaker opens the circuit after failures reads in a row failed
// (timed out or unavailable) and keeps it open for cooldown before a probe
// read; defaults DefaultBreakerFailures and DefaultBreakerCooldown.
func GuardBreaker(failures int, cooldown time.Duration) GuardOption {
	return func(g *Guarded) { g.b.threshold, g.b.cooldown = failures, cooldown }
}

// GuardLogger sets the logger (default: discard).
func GuardLogger(l *slog.Logger) GuardOption { return func(g *Guarded) { g.log = l } }

// GuardMetrics sets the metrics (default: unregistered ones).
func GuardMetrics(m *StoreMetrics) GuardOption { return func(g *Guarded) { g.m = m } }

// Guard returns s guarded, its metrics and logs labelled name (the
// registry's store id).
func Guard(s Store, name string, opts ...GuardOption) (*Guarded, error) {
	g := &Guarded{Store: s, name: name, timeout: DefaultReadTimeout, log: slog.New(slog.DiscardHandler),
		b: breaker{threshold: DefaultBreakerFailures, cooldown: DefaultBreakerCooldown, now: time.Now}}
	for _, o := range opts {
		o(g)
	}
	switch {
	case s == nil:
		return nil, fmt.Errorf("%w: nil store", ErrInvalidOption)
	case g.timeout <= 0:
		return nil, fmt.Errorf("%w: read timeout %s", ErrInvalidOption, g.timeout)
	case g.b.threshold < 1 || g.b.cooldown <= 0:
		return nil, fmt.Errorf("%w: breaker of %d failures, %s", ErrInvalidOption, g.b.threshold, g.b.cooldown)
	}
	if g.m == nil {
		g.m = NewStoreMetrics(nil)
	}
	const op = "read"
	g.duration = g.m.duration.WithLabelValues(name, op)
	g.timeouts = g.m.errors.WithLabelValues(name, op, "timeout")
	g.down = g.m.errors.WithLabelValues(name, op, "unavailable")
	g.refused = g.m.errors.WithLabelValues(name, op, "circuit_open")
	g.other = g.m.errors.WithLabelValues(name, op, "error")
	g.state = g.m.state.WithLabelValues(name)
	g.state.Set(0)
	return g, nil
}

type readResult struct {
	out [][]byte
	err error
}

// Read reads s within the timeout, unless the circuit is open. The store's
// read may go on in the background after a timeout (until its client gives
// up), so it gets its own copy of keys (their values' bytes included) and
// groups: a caller may reuse them as soon as Read returns (the feature
// server does).
func (g *Guarded) Read(ctx context.Context, keys []Key, groups []uint32) ([][]byte, error) {
	if err := g.b.allow(); err != nil {
		g.refused.Inc()
		return nil, fmt.Errorf("%w: store %q: %w", ErrUnavailable, g.name, err)
	}
	g.state.Set(float64(g.b.stateNow()))
	rctx, cancel := context.WithTimeout(ctx, g.timeout)
	defer cancel()
	start := time.Now()
	done := make(chan readResult, 1)
	keys, groups = ownKeys(keys), slices.Clone(groups)
	go func() {
		out, err := g.Store.Read(rctx, keys, groups)
		done <- readResult{out, err}
	}()
	var res readResult
	select {
	case res = <-done:
	case <-rctx.Done():
		res.err = rctx.Err()
	}
	g.duration.Observe(time.Since(start).Seconds())
	err := res.err
	switch {
	case err == nil:
		if g.b.success() {
			g.log.Info("store reads succeed again: circuit closed", "store", g.name)
		}
		g.state.Set(float64(g.b.stateNow()))
		return res.out, nil
	case ctx.Err() != nil:
		// The caller's deadline or cancellation: no fault of the store's.
		g.b.release()
		return nil, ctx.Err()
	case errors.Is(err, context.DeadlineExceeded):
		g.timeouts.Inc()
		err = fmt.Errorf("%w: store %q: read timed out after %s", ErrUnavailable, g.name, g.timeout)
	case errors.Is(err, ErrUnavailable):
		g.down.Inc()
	default:
		g.other.Inc()
		g.b.release()
		g.log.Warn("store read failed", "store", g.name, "err", err)
		return nil, err
	}
	opened, failures := g.b.failure()
	g.state.Set(float64(g.b.stateNow()))
	switch {
	case opened:
		g.log.Error("store reads fail: circuit open", "store", g.name, "failures", failures,
			"cooldown", g.b.cooldown, "err", err)
	case g.b.shouldLog():
		g.log.Warn("store read failed", "store", g.name, "failures", failures, "err", err)
	}
	return nil, err
}

// ownKeys copies keys, their value strings included (in one allocation):
// the feature server's request buffers, which the values point into, are
// reused once its call returns.
func ownKeys(keys []Key) []Key {
	n, count := 0, 0
	for _, k := range keys {
		count += len(k.Values)
		for _, v := range k.Values {
			n += len(v)
		}
	}
	var b strings.Builder
	b.Grow(n)
	for _, k := range keys {
		for _, v := range k.Values {
			b.WriteString(v)
		}
	}
	all := b.String()
	values := make([]string, 0, count)
	out := make([]Key, len(keys))
	for i, k := range keys {
		start := len(values)
		for _, v := range k.Values {
			values = append(values, all[:len(v)])
			all = all[len(v):]
		}
		out[i] = Key{Entity: k.Entity, Values: values[start:len(values):len(values)]}
	}
	return out
}

// ErrCircuitOpen is the error of a read refused while a store's circuit is
// open; it comes wrapped with ErrUnavailable.
var ErrCircuitOpen = errors.New("views: circuit open")

type breakerState int

const (
	closed breakerState = iota
	halfOpen
	open
)

// breaker counts failures in a row; at threshold it opens for cooldown,
// then lets one probe through (half-open): the probe's success closes it,
// its failure opens it again.
type breaker struct {
	threshold int
	cooldown  time.Duration
	now       func() time.Time

	mu       sync.Mutex
	state    breakerState
	failures int
	until    time.Time // open: when a probe may go
	probing  bool
	lastLog  time.Time
}

// allow reports whether a call may go, as the probe if half-open.
func (b *breaker) allow() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.state == open {
		if b.now().Before(b.until) {
			return fmt.Errorf("%w after %d failures in a row, for %s", ErrCircuitOpen, b.failures, b.until.Sub(b.now()).Round(time.Millisecond))
		}
		b.state = halfOpen
	}
	if b.state == halfOpen {
		if b.probing {
			return fmt.Errorf("%w: a probe read is under way", ErrCircuitOpen)
		}
		b.probing = true
	}
	return nil
}

// success records a call that succeeded; it reports whether it closed the
// circuit.
func (b *breaker) success() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	was := b.state
	b.state, b.failures, b.probing = closed, 0, false
	return was != closed
}

// release ends a call that says nothing of the store's health.
func (b *breaker) release() {
	b.mu.Lock()
	b.probing = false
	b.mu.Unlock()
}

// failure records a failed call; it reports whether the circuit opened,
// and the failures in a row.
func (b *breaker) failure() (opened bool, failures int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.failures++
	b.probing = false
	if b.state == halfOpen || (b.state == closed && b.failures >= b.threshold) {
		opened = b.state == closed
		b.state, b.until = open, b.now().Add(b.cooldown)
	}
	return opened, b.failures
}

// shouldLog reports whether a failure is logged: at most one a second.
func (b *breaker) shouldLog() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if now := b.now(); now.Sub(b.lastLog) >= time.Second {
		b.lastLog = now
		return true
	}
	return false
}

func (b *breaker) stateNow() breakerState {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.state
}
