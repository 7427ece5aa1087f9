package backoff

import (
	"context"
	"testing"
	"time"
)

func TestDoubling(t *testing.T) {
	tests := []struct {
		name       string
		first, max time.Duration
		want       []time.Duration
	}{
		{"doubles up to max", 50 * time.Millisecond, 300 * time.Millisecond,
			[]time.Duration{50 * time.Millisecond, 100 * time.Millisecond, 200 * time.Millisecond, 300 * time.Millisecond, 300 * time.Millisecond}},
		{"first is max", time.Second, time.Second, []time.Duration{time.Second, time.Second}},
		{"first above max is max", 2 * time.Second, time.Second, []time.Duration{time.Second, time.Second}},
	}
	for _, tc := range tests {
		d := Doubling{First: tc.first, Max: tc.max}
		for i, want := range tc.want {
			if got := d.Next(); got != want {
				t.Errorf("%s: wait %d is %v, want %v", tc.name, i, got, want)
			}
		}
	}
}

func TestReset(t *testing.T) {
	d := Doubling{First: time.Millisecond, Max: time.Hour}
	for range 5 {
		d.Next()
	}
	d.Reset()
	if got := d.Next(); got != time.Millisecond {
		t.Errorf("after Reset the wait is %v, want %v", got, time.Millisecond)
	}
}

func TestSleep(t *testing.T) {
	if !Sleep(context.Background(), time.Millisecond) {
		t.Errorf("Sleep of a live context did not wait the whole time")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if Sleep(ctx, time.Hour) {
		t.Errorf("Sleep of a done context reported a whole wait")
	}
}
