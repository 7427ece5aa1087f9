package feature_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/ofstack/ofs/codec"
	"github.com/ofstack/ofs/internal/blocks"
	featurev1 "github.com/ofstack/ofs/proto/ofs/feature/v1"
	"github.com/ofstack/ofs/schema"
	"github.com/ofstack/ofs/servers/feature"
	"github.com/ofstack/ofs/views"
)

// memReader answers every key with the same block: the server's own cost,
// without any store or cache.
type memReader struct{ block []byte }

func (m memReader) Read(_ context.Context, keys []views.Key, groups []uint32) ([][]byte, error) {
	out := make([][]byte, len(keys)*len(groups))
	for i := range out {
		out[i] = m.block
	}
	return out, nil
}

// BenchmarkRetrieve100x50FP32 measures one Retrieve of 100 keys x 50 fp32
// features, blocks already in memory: the assembly cost per request.
func BenchmarkRetrieve100x50FP32(b *testing.B) {
	features := make([]schema.Feature, 50)
	for i := range features {
		features[i] = schema.Feature{Name: fmt.Sprintf("f%02d", i), Type: schema.FP32}
	}
	r := schema.NewRegistry()
	for _, c := range []schema.Command{
		schema.ApplyStore{ID: "online", Kind: schema.Redis, Connection: "default"},
		schema.ApplyEntity{Name: "user", Keys: []schema.KeyColumn{{Name: "user_id", Type: schema.Int64}}},
		schema.ApplyFeatureGroup{Name: "g", Entity: "user", ID: 1, Store: "online", Features: features},
	} {
		var err error
		if r, _, err = r.Apply(schema.Request{ID: "x", Actor: "bench", Command: c}, now); err != nil {
			b.Fatal(err)
		}
	}
	g, _ := r.FeatureGroup("g")
	l, err := blocks.NewLayout(g.Active())
	if err != nil {
		b.Fatal(err)
	}
	bld := codec.NewBuilder(l)
	vals := make([]float32, 50)
	for i := range vals {
		vals[i] = float32(i) / 3
	}
	bld.SetFloat32Columns(0, vals)
	block, err := bld.Append(nil, now.UnixMicro(), codec.NeverExpires)
	if err != nil {
		b.Fatal(err)
	}
	srv := feature.New(schema.NewHolder(schema.NewSnapshot(r)),
		func(string) (feature.Reader, error) { return memReader{block}, nil },
		feature.WithClock(func() time.Time { return now }))
	req := &featurev1.RetrieveRequest{Entity: "user", Groups: []*featurev1.GroupSelection{{FeatureGroup: "g"}}}
	for i := range 100 {
		req.Keys = append(req.Keys, &featurev1.EntityKey{Values: []string{fmt.Sprint(i)}})
	}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		resp, err := srv.Retrieve(ctx, req)
		if err != nil || len(resp.GetRows()) != 100 {
			b.Fatal(err)
		}
	}
}
