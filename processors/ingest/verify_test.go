package ingest_test

import (
	"context"
	"testing"
	"time"

	"github.com/ofstack/ofs/processors/replay"
	"github.com/ofstack/ofs/schema"
	"github.com/ofstack/ofs/views"
)

// verifyStore checks the store against the fold of the features topic
// (`ofs verify`): after a fault, the store must hold exactly what the log
// says.
func verifyStore(t *testing.T, e *env, store views.Store) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	r, err := replay.Verify(ctx, replay.VerifyConfig{
		Source: replay.Source{Brokers: e.brokers, Names: e.names, History: replay.HistoryOf(schema.NewSnapshot(e.reg))},
		Stores: func(*schema.Store) (views.Store, error) { return store, nil },
	})
	if err != nil {
		t.Fatalf("verify: %v", err)
	}
	if r.Drift() != 0 || len(r.Groups) == 0 {
		t.Fatalf("verify: %d rows of drift in %+v; first: %+v", r.Drift(), r.Groups, r.Diffs)
	}
	for _, g := range r.Groups {
		if g.LogSum != g.StoreSum || g.Rows == 0 {
			t.Fatalf("verify: group %+v", g)
		}
	}
}
