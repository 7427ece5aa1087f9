package loadgen

import (
	"context"
	"errors"
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
