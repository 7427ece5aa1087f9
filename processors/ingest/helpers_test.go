package ingest

import (
	"context"
	"fmt"
	"math"
	"sync"
	"testing"
	"time"

	"github.com/ofstack/ofs/codec"
	"github.com/ofstack/ofs/internal/blocks"
	"github.com/ofstack/ofs/schema"
	"github.com/ofstack/ofs/views"
)

// now is the processors' clock in unit tests.
var now = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

// registry returns a registry with store "main" (connection "default"),
// entity user (user_id int64) and group user_profile (id 1, TTL 1h: age
// int8, ctr fp32, country string).
func registry(t testing.TB) *schema.Snapshot {
	t.Helper()
	r := schema.NewRegistry()
	for i, c := range []schema.Command{
		schema.ApplyStore{ID: "main", Kind: schema.Redis, Connection: "default"},
		schema.ApplyEntity{Name: "user", Keys: []schema.KeyColumn{{Name: "user_id", Type: schema.Int64}}},
		schema.ApplyFeatureGroup{Name: "user_profile", Entity: "user", ID: 1, Store: "main", TTL: time.Hour,
			Features: []schema.Feature{
				{Name: "age", Type: schema.Int8},
				{Name: "ctr", Type: schema.FP32},
				{Name: "country", Type: schema.String},
			}},
	} {
		next, out, err := r.Apply(schema.Request{ID: fmt.Sprint("r", i), Actor: "test", Command: c}, now.Add(-time.Hour))
		if err != nil || out.Err != nil {
			t.Fatalf("registry command %d: %v %v", i, err, out.Err)
		}
		r = next
	}
	return schema.NewSnapshot(r)
}

// recorder is a views.Store that keeps the latest block of each key, as a
// real store does, and can be made to fail.
type recorder struct {
	mu      sync.Mutex
	blocks  map[string]views.Block
	writes  int // Write calls that succeeded
	fail    int // the next fail calls return ErrUnavailable
	refuse  map[string]bool
	gate    chan struct{} // when set, Write waits for it to be closed
	entered chan struct{} // when set, Write sends on it first
}

func newRecorder() *recorder {
	return &recorder{blocks: map[string]views.Block{}, refuse: map[string]bool{}}
}

func (r *recorder) Write(ctx context.Context, bs []views.Block) error {
	r.mu.Lock()
	gate, entered := r.gate, r.entered
	r.mu.Unlock()
	if entered != nil {
		entered <- struct{}{}
	}
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fail > 0 {
		r.fail--
		return fmt.Errorf("%w: recorder told to fail", views.ErrUnavailable)
	}
	for _, b := range bs {
		if r.refuse[b.Key.String()] {
			return fmt.Errorf("%w: %s refused", views.ErrInvalidKey, b.Key)
		}
	}
	for _, b := range bs {
		k := fmt.Sprintf("%s/%d", b.Key, b.Group)
		if old, ok := r.blocks[k]; !ok || old.EventTime <= b.EventTime {
			b.Data = append([]byte(nil), b.Data...)
			r.blocks[k] = b
		}
	}
	r.writes++
	return nil
}

func (r *recorder) Read(context.Context, []views.Key, []uint32) ([][]byte, error) {
	return nil, fmt.Errorf("recorder does not read")
}

func (r *recorder) Close() error { return nil }

func (r *recorder) block(user string) (views.Block, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	b, ok := r.blocks[fmt.Sprintf("user(%q)/1", user)]
	return b, ok
}

func (r *recorder) len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.blocks)
}

// profile decodes a block of user_profile: age, ctr, country.
func profile(t testing.TB, snap *schema.Snapshot, block []byte) (int64, float32, string) {
	t.Helper()
	g, _ := snap.FeatureGroup("user_profile")
	l, err := blocks.NewLayout(g.Active())
	if err != nil {
		t.Fatal(err)
	}
	p, err := codec.NewProjection(l, []*codec.Layout{l}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var r codec.Reader
	if err := r.Open(block, p, math.MinInt64); err != nil {
		t.Fatalf("open block: %v", err)
	}
	return r.Int64(0), r.Float32(1), r.String(2)
}
