package views

import (
	"context"
	"errors"
	"testing"

	"github.com/gocql/gocql"
)

// TestScyllaFail: which driver errors say the store is away. A
// cancellation counts as the caller's only when the caller's context ended;
// gocql also cancels the requests of a connection it closes.
func TestScyllaFail(t *testing.T) {
	live := context.Background()
	ended, cancel := context.WithCancel(context.Background())
	cancel()
	s := &Scylla{}
	tests := []struct {
		name        string
		ctx         context.Context
		err         error
		unavailable bool
		canceled    bool
	}{
		{"no connections", live, gocql.ErrNoConnections, true, false},
		{"driver's own cancel", live, context.Canceled, true, true},
		{"driver's own deadline", live, context.DeadlineExceeded, true, false},
		{"caller canceled", ended, context.Canceled, false, true},
		{"caller canceled, driver error", ended, gocql.ErrNoConnections, false, true},
		{"a bad request", live, errors.New("syntax error"), false, false},
	}
	for _, tc := range tests {
		err := s.fail(tc.ctx, "read", tc.err)
		if got := errors.Is(err, ErrUnavailable); got != tc.unavailable {
			t.Errorf("%s: %v: unavailable %v, want %v", tc.name, err, got, tc.unavailable)
		}
		if got := errors.Is(err, context.Canceled); got != tc.canceled {
			t.Errorf("%s: %v: canceled %v, want %v", tc.name, err, got, tc.canceled)
		}
	}
}
