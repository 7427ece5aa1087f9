package feature_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/ofstack/ofs/codec"
	featurev1 "github.com/ofstack/ofs/proto/ofs/feature/v1"
	"github.com/ofstack/ofs/servers"
	"github.com/ofstack/ofs/servers/feature"
)

// TestPooledAnswers: answers served over gRPC reuse their memory once
// marshalled. Eight clients ask at once for random keys, each answered
// with values of its own key: an answer whose memory went back to the
// pool too early, or was lent to two calls, would show another key's
// values. At the end no memory is left lent.
func TestPooledAnswers(t *testing.T) {
	f := setup(t)
	const keys = 200
	for k := range keys {
		f.write(t, "dense", 1, []string{fmt.Sprint(k)}, now.Add(-time.Minute), time.Time{}, func(b *codec.Builder) {
			b.SetFloat32(0, float32(k))
			b.SetFloat32(1, float32(-k))
		})
	}
	srv := feature.New(f.holder, func(string) (feature.Reader, error) { return f.store, nil },
		feature.WithClock(func() time.Time { return now }))
	client, _ := serveGRPC(t, srv, servers.Tokens{})
	dense := []*featurev1.GroupSelection{{FeatureGroup: "dense"}}
	var g errgroup.Group
	for c := range 8 {
		g.Go(func() error {
			rng := rand.New(rand.NewPCG(uint64(c), 9))
			for range 100 {
				want := make([]int, 1+rng.IntN(50))
				req := &featurev1.RetrieveRequest{Entity: "user", Groups: dense}
				for i := range want {
					want[i] = rng.IntN(keys)
					req.KeyValues = append(req.KeyValues, fmt.Sprint(want[i]))
				}
				resp, err := client.Retrieve(context.Background(), req)
				if err != nil {
					return err
				}
				data := resp.GetMatrices()[0].GetData()
				if len(data) != 8*len(want) {
					return fmt.Errorf("%d keys: %d bytes of matrix", len(want), len(data))
				}
				for i, k := range want {
					a := math.Float32frombits(binary.LittleEndian.Uint32(data[8*i:]))
					b := math.Float32frombits(binary.LittleEndian.Uint32(data[8*i+4:]))
					if a != float32(k) || b != float32(-k) || !resp.GetRows()[i].GetFound()[0] {
						return fmt.Errorf("row %d, key %d: values %v, %v", i, k, a, b)
					}
				}
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
	if n := feature.LentAnswers(); n != 0 {
		t.Fatalf("%d answers' memory still lent after every call was answered", n)
	}
}
