// Package loadgen drives a call at a fixed concurrency for a bounded time
// and reports throughput and latency percentiles. It backs `ofs bench`; its
// loops are bounded in count and time and target only the addresses the
// caller dials (loopback in every use in this repository).
package loadgen

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Call is one request; worker is the index of the calling goroutine.
type Call func(ctx context.Context, worker int) error

// Result is what a run measured.
type Result struct {
	Requests  int
	Errors    int
	FirstErr  error
	Elapsed   time.Duration
	latencies []time.Duration // sorted
}

// Rate is requests per second.
func (r Result) Rate() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Requests) / r.Elapsed.Seconds()
}

// Percentile returns the latency below which the fraction p (0..1) of
// successful requests fell.
func (r Result) Percentile(p float64) time.Duration {
	if len(r.latencies) == 0 {
		return 0
	}
	i := int(p * float64(len(r.latencies)))
	return r.latencies[min(i, len(r.latencies)-1)]
}

// MaxRequests bounds one run whatever its duration, as a safety net.
const MaxRequests = 50_000_000

// Run calls call from concurrency goroutines until duration has passed (or
// MaxRequests were made, or ctx is done) and returns what it measured.
func Run(ctx context.Context, concurrency int, duration time.Duration, call Call) (Result, error) {
	if concurrency < 1 || duration <= 0 {
		return Result{}, fmt.Errorf("loadgen: concurrency %d and duration %s must be positive", concurrency, duration)
	}
	// The calls get ctx itself, without the run's deadline: a deadline
	// reaching a call in flight would be counted as its error.
	end := time.Now().Add(duration)
	type local struct {
		lat   []time.Duration
		errs  int
		first error
	}
	locals := make([]local, concurrency)
	var (
		wg    sync.WaitGroup
		total atomic.Int64
	)
	start := time.Now()
	for w := range concurrency {
		wg.Go(func() {
			l := &locals[w]
			l.lat = make([]time.Duration, 0, 1<<14)
			for ctx.Err() == nil && time.Now().Before(end) {
				if total.Add(1) > MaxRequests {
					return
				}
				t0 := time.Now()
				err := call(ctx, w)
				d := time.Since(t0)
				switch {
				case err == nil:
					l.lat = append(l.lat, d)
				case ctx.Err() != nil:
					// The caller stopped the run during the call.
				default:
					l.errs++
					if l.first == nil {
						l.first = err
					}
				}
			}
		})
	}
	wg.Wait()
	r := Result{Elapsed: time.Since(start)}
	for _, l := range locals {
		r.latencies = append(r.latencies, l.lat...)
		r.Errors += l.errs
		if r.FirstErr == nil {
			r.FirstErr = l.first
		}
	}
	slices.Sort(r.latencies)
	r.Requests = len(r.latencies)
	return r, nil
}
