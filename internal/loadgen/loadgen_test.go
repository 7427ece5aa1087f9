package loadgen

import (
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestRunCountsAndOrdersLatencies(t *testing.T) {
	var calls atomic.Int64
	r, err := Run(context.Background(), 4, 200*time.Millisecond, func(context.Context, int) error {
		n := calls.Add(1)
		if n%10 == 0 {
			return errors.New("every tenth fails")
		}
		time.Sleep(time.Millisecond)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if r.Requests == 0 || r.Errors == 0 || r.FirstErr == nil {
		t.Fatalf("requests %d errors %d first %v: want both successes and failures counted", r.Requests, r.Errors, r.FirstErr)
	}
	if int64(r.Requests+r.Errors) > calls.Load() {
		t.Fatalf("%d results from %d calls", r.Requests+r.Errors, calls.Load())
	}
	if r.Percentile(0.5) > r.Percentile(0.99) || r.Percentile(0.99) > r.Percentile(1) {
		t.Fatalf("percentiles out of order: %v %v %v", r.Percentile(0.5), r.Percentile(0.99), r.Percentile(1))
	}
	if r.Rate() <= 0 {
		t.Fatal("no rate")
	}
}

func TestRunRejectsNonsense(t *testing.T) {
	if _, err := Run(context.Background(), 0, time.Second, nil); err == nil {
		t.Fatal("concurrency 0 accepted")
	}
	if _, err := Run(context.Background(), 1, 0, nil); err == nil {
		t.Fatal("duration 0 accepted")
	}
}

// TestInterleaveSumsSlices: each call's row sums its slices (requests,
// elapsed time, CPU), its latencies sorted, and the calls take turns.
func TestInterleaveSumsSlices(t *testing.T) {
	var order []int
	var mu sync.Mutex
	calls := []Call{
		func(context.Context, int) error {
			mu.Lock()
			order = append(order, 0)
			mu.Unlock()
			time.Sleep(time.Millisecond)
			return nil
		},
		func(context.Context, int) error {
			mu.Lock()
			order = append(order, 1)
			mu.Unlock()
			time.Sleep(2 * time.Millisecond)
			return nil
		},
	}
	cpu := CPUFunc(SelfCPU)
	rows, err := Interleave(context.Background(), []string{"a", "b"}, 1, 1, 10*time.Millisecond, 200*time.Millisecond, 4, calls, cpu)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2 || rows[0].Name != "a" || rows[1].Name != "b" {
		t.Fatalf("rows %+v", rows)
	}
	for _, r := range rows {
		if r.Result.Elapsed < 190*time.Millisecond || r.Result.Requests == 0 || r.Result.Requests != len(r.Result.latencies) ||
			!slices.IsSorted(r.Result.latencies) || r.Baseline != -1 {
			t.Fatalf("%s: elapsed %v, %d requests, %d latencies: want the four slices summed", r.Name, r.Result.Elapsed, r.Result.Requests, len(r.Result.latencies))
		}
	}
	if rows[0].Result.Rate() < 1.3*rows[1].Result.Rate() {
		t.Fatalf("rates %.0f and %.0f: the 1 ms call should be near twice the 2 ms one", rows[0].Result.Rate(), rows[1].Result.Rate())
	}
	switches := 0
	for i := 1; i < len(order); i++ {
		if order[i] != order[i-1] {
			switches++
		}
	}
	if switches < 2*4-1 {
		t.Fatalf("%d switches between the calls, want at least 7 (warm-ups, then 4 rounds of both)", switches)
	}
	if _, err := Interleave(context.Background(), []string{"a"}, 1, 1, 0, time.Second, 1, calls, cpu); err == nil {
		t.Fatal("one name for two calls accepted")
	}
}
