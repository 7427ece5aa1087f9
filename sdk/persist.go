package sdk

import (
	"context"
	"fmt"
	"time"

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
	// call.
	EventTime time.Time
	// Values holds feature values by name: bool, string, the integer kinds,
	// float32, float64, or a slice of them for a vector. A feature left out
	// is written as its default.
	Values map[string]any
}

// Persist writes rows of one feature group and returns once they are
// durable in Kafka and in the group's store, and every server's caches have
// been told. The rows are refused whole when one is invalid.
func (c *Client) Persist(ctx context.Context, group string, rows []Row) error {
	req := &featurev1.PersistRequest{FeatureGroup: group, Rows: make([]*featurev1.FeatureEvent, len(rows))}
	for i, r := range rows {
		ev, err := event("", group, r.Keys, r.EventTime, r.Values)
		if err != nil {
			return fmt.Errorf("sdk: persist %s row %d: %w", group, i, err)
		}
		req.Rows[i] = ev
	}
	if _, err := c.features.Persist(ctx, req); err != nil {
		return fmt.Errorf("sdk: persist %s: %w", group, err)
	}
	return nil
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
