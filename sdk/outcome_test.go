package sdk_test

import (
	"context"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	featurev1 "github.com/ofstack/ofs/proto/ofs/feature/v1"
	"github.com/ofstack/ofs/sdk"
)

// persistStub answers Persist with errs in turn (nil: OK), and records each
// attempt's request and time left.
type persistStub struct {
	stub
	mu    sync.Mutex
	errs  []error
	reqs  []*featurev1.PersistRequest
	lefts []time.Duration
}

func (s *persistStub) Persist(ctx context.Context, req *featurev1.PersistRequest) (*featurev1.PersistResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d, _ := ctx.Deadline()
	s.reqs, s.lefts = append(s.reqs, req), append(s.lefts, time.Until(d))
	var err error
	if len(s.errs) > 0 {
		err, s.errs = s.errs[0], s.errs[1:]
	}
	if err != nil {
		return nil, err
	}
	return &featurev1.PersistResponse{Rows: uint32(len(req.GetRows()))}, nil
}

func withInfo(code codes.Code, info *featurev1.ErrorInfo) error {
	st, err := status.New(code, "stub").WithDetails(info)
	if err != nil {
		panic(err)
	}
	return st.Err()
}

var (
	unknownRetryable = withInfo(codes.Unavailable, &featurev1.ErrorInfo{Retryable: true, Outcome: featurev1.WriteOutcome_WRITE_OUTCOME_UNKNOWN})
	notAppliedFinal  = withInfo(codes.Unavailable, &featurev1.ErrorInfo{Retryable: false, Outcome: featurev1.WriteOutcome_WRITE_OUTCOME_NOT_APPLIED})
	notAppliedRetry  = withInfo(codes.Unavailable, &featurev1.ErrorInfo{Retryable: true, Outcome: featurev1.WriteOutcome_WRITE_OUTCOME_NOT_APPLIED})
)

func TestPersistAttemptsAndOutcomes(t *testing.T) {
	rows := []sdk.Row{{Keys: map[string]any{"user_id": 1}, Values: map[string]any{"x": 1}}}
	for _, tc := range []struct {
		name     string
		errs     []error
		attempts int
		outcome  error // nil: OK
	}{
		{"ok after unknown", []error{unknownRetryable, nil}, 2, nil},
		{"not retryable stops", []error{notAppliedFinal, nil}, 1, sdk.ErrNotApplied},
		{"not applied all along", []error{notAppliedRetry, notAppliedRetry, notAppliedRetry}, 3, sdk.ErrNotApplied},
		{"unknown once is unknown", []error{unknownRetryable, notAppliedRetry, notAppliedRetry}, 3, sdk.ErrOutcomeUnknown},
		{"a detail-less refusal", []error{status.Error(codes.PermissionDenied, "writer token")}, 1, sdk.ErrNotApplied},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			s := &persistStub{errs: tc.errs}
			serveStub(t, l, &s.stub, s)
			var n atomic.Int64
			c, err := sdk.Dial(l.Addr().String(), sdk.WithRetry(sdk.Retry{MaxAttempts: 3, Base: time.Millisecond, Max: time.Millisecond}),
				counting(&n, nil))
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
			defer cancel()
			err = c.Persist(ctx, "g", rows)
			switch {
			case tc.outcome == nil && err != nil:
				t.Fatalf("Persist: %v, want OK", err)
			case tc.outcome != nil && !errors.Is(err, tc.outcome):
				t.Fatalf("Persist: %v, want %v", err, tc.outcome)
			}
			if len(s.reqs) != tc.attempts {
				t.Fatalf("%d attempts, want %d", len(s.reqs), tc.attempts)
			}
			key, at := s.reqs[0].GetIdempotencyKey(), s.reqs[0].GetRows()[0].GetEventTime().AsTime()
			if key == "" || at.IsZero() {
				t.Fatalf("first attempt has key %q and event time %v: want both set by the SDK", key, at)
			}
			for i, r := range s.reqs {
				if r.GetIdempotencyKey() != key || !r.GetRows()[0].GetEventTime().AsTime().Equal(at) {
					t.Fatalf("attempt %d carries key %q at %v, the first %q at %v", i, r.GetIdempotencyKey(), r.GetRows()[0].GetEventTime().AsTime(), key, at)
				}
			}
			// Each attempt had its share of the deadline, not all of it.
			if len(s.lefts) > 1 && s.lefts[0] > 3*time.Second/3+100*time.Millisecond {
				t.Fatalf("the first of 3 attempts had %s of a 3s deadline, want about a third", s.lefts[0])
			}
			var pe *sdk.PersistError
			if tc.outcome != nil && (!errors.As(err, &pe) || pe.Key != key) {
				t.Fatalf("Persist's error %v names no key %q", err, key)
			}
		})
	}
}

func TestRetrieveRetriesOnlyWhatTheServerMarks(t *testing.T) {
	for _, tc := range []struct {
		err      error
		attempts int64
	}{
		{withInfo(codes.Unavailable, &featurev1.ErrorInfo{Retryable: false}), 1},
		{withInfo(codes.Unavailable, &featurev1.ErrorInfo{Retryable: true}), 3},
		{status.Error(codes.Unavailable, "a connection"), 3},
		{status.Error(codes.ResourceExhausted, "too big"), 1},
	} {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		serveStub(t, l, &stub{err: tc.err})
		var n atomic.Int64
		c, err := sdk.Dial(l.Addr().String(), sdk.WithRetry(sdk.Retry{MaxAttempts: 3, Base: time.Millisecond, Max: time.Millisecond}),
			counting(&n, nil))
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.Retrieve(context.Background(), sdk.RetrieveRequest{Entity: "user", Keys: [][]string{{"1"}}})
		if status.Code(err) != status.Code(tc.err) || n.Load() != tc.attempts {
			t.Errorf("%v: %v after %d attempts, want %d", tc.err, err, n.Load(), tc.attempts)
		}
		_ = c.Close() // nothing in flight
	}
}
