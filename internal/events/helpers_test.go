package events

import (
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/ofstack/ofs/codec"
	"github.com/ofstack/ofs/internal/blocks"
	"github.com/ofstack/ofs/schema"
)

// now is the decoders' clock in tests.
var now = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

// fixture returns a registry snapshot with
//
//	entity user (user_id int64), entity session (sid string, n uint32)
//	group user_profile (id 1, user, TTL 24h), versions 1 and 2 (2 adds "extra")
//	group session_stats (id 2, session, no TTL)
//	group wide50 (id 3, user, no TTL): 50 fp32 features
func fixture(t testing.TB) *schema.Snapshot {
	t.Helper()
	r := schema.NewRegistry()
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i, c := range []schema.Command{
		schema.ApplyStore{ID: "main", Kind: schema.Redis, Connection: "default"},
		schema.ApplyEntity{Name: "user", Keys: []schema.KeyColumn{{Name: "user_id", Type: schema.Int64}}},
		schema.ApplyEntity{Name: "session", Keys: []schema.KeyColumn{
			{Name: "sid", Type: schema.String}, {Name: "n", Type: schema.Uint32}}},
		schema.ApplyFeatureGroup{Name: "user_profile", Entity: "user", ID: 1, Store: "main", TTL: 24 * time.Hour,
			Features: []schema.Feature{
				{Name: "age", Type: schema.Int8},
				{Name: "ctr", Type: schema.FP32, Default: schema.FloatValue(0.5)},
				{Name: "embedding", Type: schema.FP32, VectorLength: 2},
				{Name: "country", Type: schema.String, Default: schema.StringValue("unknown")},
				{Name: "active", Type: schema.Bool},
				{Name: "score", Type: schema.FP16},
				{Name: "big", Type: schema.Uint64},
				{Name: "counts", Type: schema.Int32, VectorLength: 3},
				{Name: "tags", Type: schema.String, VectorLength: 2},
				{Name: "flags", Type: schema.Bool, VectorLength: 2},
				{Name: "e4", Type: schema.FP8E4M3},
				{Name: "d", Type: schema.FP64},
				{Name: "id64", Type: schema.Int64},
			}},
		schema.AddFeatures{Group: "user_profile", Features: []schema.Feature{{Name: "extra", Type: schema.Int16, Default: schema.IntValue(7)}}},
		schema.ApplyFeatureGroup{Name: "session_stats", Entity: "session", ID: 2, Store: "main",
			Features: []schema.Feature{{Name: "clicks", Type: schema.Int64}}},
		schema.ApplyFeatureGroup{Name: "wide50", Entity: "user", ID: 3, Store: "main", Features: wide50()},
	} {
		next, out, err := r.Apply(schema.Request{ID: "r" + string(rune('a'+i)), Actor: "test", Command: c}, at)
		if err != nil || out.Err != nil {
			t.Fatalf("fixture command %d: %v %v", i, err, out.Err)
		}
		r = next
	}
	return schema.NewSnapshot(r)
}

// wide50 is the features of the benchmark group: 50 fp32 features f00..f49.
func wide50() []schema.Feature {
	fs := make([]schema.Feature, 50)
	for i := range fs {
		fs[i] = schema.Feature{Name: fmt.Sprintf("f%02d", i), Type: schema.FP32}
	}
	return fs
}

func newDecoder(opts ...Option) *Decoder {
	return NewDecoder(&blocks.Cache{}, append([]Option{Clock(func() time.Time { return now })}, opts...)...)
}

// readBlock returns every feature of the active version of group as Go
// values: int64, uint64, float64, string, bool, or slices of them.
func readBlock(t testing.TB, snap *schema.Snapshot, group string, block []byte) map[string]any {
	t.Helper()
	g, ok := snap.FeatureGroup(group)
	if !ok {
		t.Fatalf("no group %s", group)
	}
	var cache blocks.Cache
	layouts, err := cache.Layouts(g)
	if err != nil {
		t.Fatal(err)
	}
	active := layouts[len(layouts)-1]
	p, err := codec.NewProjection(active, layouts, nil)
	if err != nil {
		t.Fatal(err)
	}
	var r codec.Reader
	if err := r.Open(block, p, math.MinInt64); err != nil {
		t.Fatalf("open block: %v", err)
	}
	out := map[string]any{}
	for i := range active.Len() {
		c := active.Column(i)
		switch {
		case c.Len > 0 && c.Type == schema.String:
			out[c.Name] = r.AppendStrings(nil, i)
		case c.Len > 0 && c.Type == schema.Bool:
			out[c.Name] = r.AppendBools(nil, i)
		case c.Len > 0 && c.Type.IsFloat():
			out[c.Name] = r.AppendFloat64s(nil, i)
		case c.Len > 0 && c.Type.IsSigned():
			out[c.Name] = r.AppendInt64s(nil, i)
		case c.Len > 0:
			out[c.Name] = r.AppendUint64s(nil, i)
		case c.Type == schema.String:
			out[c.Name] = r.String(i)
		case c.Type == schema.Bool:
			out[c.Name] = r.Bool(i)
		case c.Type.IsFloat():
			out[c.Name] = r.Float64(i)
		case c.Type.IsSigned():
			out[c.Name] = r.Int64(i)
		default:
			out[c.Name] = r.Uint64(i)
		}
	}
	return out
}
