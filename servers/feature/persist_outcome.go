package feature

import (
	"errors"
	"fmt"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	featurev1 "github.com/ofstack/ofs/proto/ofs/feature/v1"
	"github.com/ofstack/ofs/servers"
)

// ErrOutcome marks an error of Persist with what became of the write.
var ErrOutcome = errors.New("feature: persist outcome")

// outcomeError is a Persist error that knows its outcome and whether a
// retry with the same key may help.
type outcomeError struct {
	outcome   featurev1.WriteOutcome
	retryable bool
	err       error
}

func (e *outcomeError) Error() string { return e.err.Error() }
func (e *outcomeError) Unwrap() error { return e.err }
func (e *outcomeError) Is(target error) bool {
	return target == ErrOutcome
}

// notApplied says nothing of the write was done; retryable says trying
// again may help.
func notApplied(retryable bool, err error) error {
	return &outcomeError{outcome: featurev1.WriteOutcome_WRITE_OUTCOME_NOT_APPLIED, retryable: retryable, err: err}
}

// unknown says the write may have been done (or will be, from the log): the
// caller should send it again with the same key.
func unknown(stage string, err error) error {
	return &outcomeError{outcome: featurev1.WriteOutcome_WRITE_OUTCOME_UNKNOWN, retryable: true,
		err: fmt.Errorf("%s (outcome unknown: send it again with the same idempotency key): %w", stage, err)}
}

// persistStatus is the status of a Persist error, with its ErrorInfo.
func persistStatus(err error, key string) error {
	if err == nil {
		return nil
	}
	info := &featurev1.ErrorInfo{IdempotencyKey: key, Outcome: featurev1.WriteOutcome_WRITE_OUTCOME_NOT_APPLIED}
	var oe *outcomeError
	if errors.As(err, &oe) {
		info.Outcome, info.Retryable = oe.outcome, oe.retryable
	}
	return withInfo(servers.Status(err), info)
}

// retrieveStatus is the status of a Retrieve error, with its ErrorInfo:
// retryable when the store could not be reached.
func retrieveStatus(err error) error {
	if err == nil {
		return nil
	}
	st := servers.Status(err)
	return withInfo(st, &featurev1.ErrorInfo{Retryable: status.Code(st) == codes.Unavailable})
}

func withInfo(err error, info *featurev1.ErrorInfo) error {
	st, err2 := status.Convert(err).WithDetails(info)
	if err2 != nil {
		return err
	}
	return st.Err()
}
