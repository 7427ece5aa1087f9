// Package backoff gives the waits between the retries of an operation that
// fails for a reason that may pass (a store or a broker that cannot be
// reached): a wait that doubles from a first one up to a largest one, and a
// sleep that ends early when its context is done. The loops that retry stay
// with their callers, which differ in what ends them and what they log.
package backoff

import (
	"context"
	"time"
)

// Doubling is a sequence of waits: First, then twice the wait before, up to
// Max. First must be more than zero and at most Max. It is not safe for
// concurrent use.
type Doubling struct {
	First, Max time.Duration

	next time.Duration // 0 before the first wait and after Reset
}

// Next returns the next wait of the sequence.
func (d *Doubling) Next() time.Duration {
	w := d.next
	if w == 0 {
		w = min(d.First, d.Max)
	}
	d.next = min(2*w, d.Max)
	return w
}

// Reset starts the sequence over: the next wait is First.
func (d *Doubling) Reset() { d.next = 0 }

// Sleep waits for d, or until ctx is done if that comes first, and reports
// whether it waited the whole of d.
func Sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
