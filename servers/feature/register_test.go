package feature_test

import (
	"context"
	"math/rand/v2"
	"strconv"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/ofstack/ofs/codec"
	featurev1 "github.com/ofstack/ofs/proto/ofs/feature/v1"
	"github.com/ofstack/ofs/servers"
)

// TestRegisterPooledRequests: over gRPC, with requests decoded into pooled
// memory (feature.Register), concurrent calls of different keys each get
// the values of their own keys, call after call.
func TestRegisterPooledRequests(t *testing.T) {
	f := setup(t)
	const keys = 200
	for k := range keys {
		f.write(t, "dense", 1, []string{strconv.Itoa(k)}, now.Add(-time.Minute), now.Add(time.Hour), func(b *codec.Builder) {
			b.SetFloat32(0, float32(k))
			b.SetFloat32(1, float32(-k))
		})
	}
	client, _ := serveGRPC(t, f.srv, servers.Tokens{})
	g, ctx := errgroup.WithContext(context.Background())
	for w := range 8 {
		g.Go(func() error {
			rng := rand.New(rand.NewPCG(uint64(w), 7))
			for call := range 60 {
				n := 1 + rng.IntN(150) // requests of different sizes reuse each other's buffers
				want := make([]int, n)
				req := &featurev1.RetrieveRequest{Entity: "user", Compact: call%2 == 0,
					Groups: []*featurev1.GroupSelection{{FeatureGroup: "dense", Features: []string{"a", "b"}}}}
				for i := range want {
					want[i] = rng.IntN(keys)
					req.KeyValues = append(req.KeyValues, strconv.Itoa(want[i]))
				}
				resp, err := client.Retrieve(ctx, req)
				if err != nil {
					return err
				}
				got := f32s(t, resp.GetMatrices()[0])
				if len(got) != 2*n {
					t.Errorf("worker %d call %d: %d values for %d keys", w, call, len(got), n)
					return nil
				}
				for i, k := range want {
					if got[2*i] != float32(k) || got[2*i+1] != float32(-k) {
						t.Errorf("worker %d call %d row %d: %v %v, want the values of key %d", w, call, i, got[2*i], got[2*i+1], k)
						return nil
					}
				}
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
}
