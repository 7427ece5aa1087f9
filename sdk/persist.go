package sdk

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	featurev1 "github.com/ofstack/ofs/proto/ofs/feature/v1"
)

// Row is one row of a feature group for one entity key.
type Row struct {
	// Keys holds a value per key column of the entity, by column name: an
	// integer for an integer column (or its decimal text), a string for a
	// string column.
	Keys map[string]any
	// EventTime is when the values were true; zero means the time of the
	// call (taken once, before the first attempt: see StampTime).
	EventTime time.Time
	// Values holds feature values by name: bool, string, the integer kinds,
	// float32, float64, or a slice of them for a vector. A feature left out
	// is written as its default.
	Values map[string]any
}

// The outcomes of a failed Persist, matched by errors.Is on its
// *PersistError.
var (
	// ErrNotApplied: nothing of the write was done.
	ErrNotApplied = errors.New("sdk: persist not applied")
	// ErrOutcomeUnknown: the write may have been done, or will be by the
	// ingest processors; call Persist again with PersistError.Options (the
	// same idempotency key and stamp) to find out: it is idempotent.
	ErrOutcomeUnknown = errors.New("sdk: persist outcome unknown")
)

// PersistError is the error of a Persist that did not return OK.
type PersistError struct {
	Group string
	// Outcome is ErrNotApplied or ErrOutcomeUnknown.
	Outcome error
	// Key is the idempotency key every attempt carried, and Stamp the event
	// time given to rows without one.
	Key   string
	Stamp time.Time
	// Err is the last attempt's error (a gRPC status).
	Err error
}

func (e *PersistError) Error() string {
	return fmt.Sprintf("sdk: persist %s (idempotency key %s): %v: %v", e.Group, e.Key, e.Outcome, e.Err)
}

// Unwrap gives the outcome and the last attempt's error.
func (e *PersistError) Unwrap() []error { return []error{e.Outcome, e.Err} }

// Options are the options that repeat this write: the same key and stamp.
func (e *PersistError) Options() []PersistOption {
	return []PersistOption{IdempotencyKey(e.Key), StampTime(e.Stamp)}
}

// PersistOption configures one Persist.
type PersistOption func(*persistConfig)

type persistConfig struct {
	key   string
	stamp time.Time
}

// IdempotencyKey names the write (up to 128 printable ASCII characters);
// without it Persist makes a random one. Every attempt carries it.
func IdempotencyKey(key string) PersistOption { return func(c *persistConfig) { c.key = key } }

// StampTime is the event time of rows without one; without it, the time
// Persist is called.
func StampTime(t time.Time) PersistOption { return func(c *persistConfig) { c.stamp = t } }

// Persist writes rows of one feature group. It returns nil once they are
// durable in Kafka and in the group's store, and every live feature
// server answers them (or newer ones) to a Retrieve. The rows are refused
// whole when one is invalid.
//
// Every attempt carries the same idempotency key and the same event times
// (rows without one are stamped once, before the first attempt), so a
// retry never makes the write newer than the caller made it. Attempts are
// repeated only when the server marks the error retryable. A failure is a
// *PersistError whose Outcome says whether the write may have been done.
func (c *Client) Persist(ctx context.Context, group string, rows []Row, opts ...PersistOption) error {
	pc := persistConfig{stamp: time.Now()}
	for _, o := range opts {
		o(&pc)
	}
	if pc.key == "" {
		b := make([]byte, 16)
		if _, err := rand.Read(b); err != nil {
			return fmt.Errorf("sdk: persist %s: idempotency key: %w", group, err)
		}
		pc.key = hex.EncodeToString(b)
	}
	req := &featurev1.PersistRequest{FeatureGroup: group, Rows: make([]*featurev1.FeatureEvent, len(rows)), IdempotencyKey: pc.key}
	for i, r := range rows {
		at := r.EventTime
		if at.IsZero() {
			at = pc.stamp
		}
		ev, err := event("", group, r.Keys, at, r.Values)
		if err != nil {
			return fmt.Errorf("sdk: persist %s row %d: %w", group, i, err)
		}
		req.Rows[i] = ev
	}
	maybe := false // some attempt may have applied the write
	err := c.cfg.do(ctx, func(ctx context.Context) error {
		_, err := c.features.Persist(ctx, req)
		return err
	}, func(err error) {
		if err != nil && !notApplied(err) {
			maybe = true
		}
	})
	if err == nil {
		return nil
	}
	pe := &PersistError{Group: group, Outcome: ErrNotApplied, Key: pc.key, Stamp: pc.stamp, Err: err}
	if maybe {
		pe.Outcome = ErrOutcomeUnknown
	}
	return pe
}

// notApplied reports whether a Persist attempt's error says nothing was
// written: the server says so, or the call was refused before its handler.
func notApplied(err error) bool {
	if info := errorInfo(err); info != nil {
		return info.GetOutcome() == featurev1.WriteOutcome_WRITE_OUTCOME_NOT_APPLIED
	}
	switch status.Code(err) {
	case codes.Unauthenticated, codes.PermissionDenied, codes.ResourceExhausted, codes.InvalidArgument, codes.Unimplemented:
		return true
	}
	return false
}

func event(entity, group string, keys map[string]any, at time.Time, vals map[string]any) (*featurev1.FeatureEvent, error) {
	ev := &featurev1.FeatureEvent{Entity: entity, FeatureGroup: group}
	var err error
	if ev.Keys, err = values("key", keys); err != nil {
		return nil, err
	}
	if ev.Values, err = values("feature", vals); err != nil {
		return nil, err
	}
	if !at.IsZero() {
		ev.EventTime = timestamppb.New(at)
	}
	return ev, nil
}
