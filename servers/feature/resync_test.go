package feature_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/ofstack/ofs/codec"
	"github.com/ofstack/ofs/internal/testenv"
	featurev1 "github.com/ofstack/ofs/proto/ofs/feature/v1"
	"github.com/ofstack/ofs/schema"
	"github.com/ofstack/ofs/servers/feature"
	"github.com/ofstack/ofs/views/registrycopy"
)

// TestBlockOfANewerVersionResyncs: a block written with a schema version
// that the server's snapshot lacks (its registry copy lags the ingest
// processor's) makes a server with a registry sync read the registry from
// etcd and answer the block's values; without a sync it is answered as
// defaults, not found.
func TestBlockOfANewerVersionResyncs(t *testing.T) {
	f := setup(t)
	cli, err := clientv3.New(clientv3.Config{Endpoints: testenv.Etcd(t), DialTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cli.Close() })
	root := registrycopy.Root(testenv.Name(t))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	stale := schema.NewSnapshot(f.reg) // what the servers hold
	f.reg = mustApply(t, f.reg, schema.ApplyFeatureGroup{Name: "dense", Entity: "user", ID: 2, Store: "online", TTL: time.Hour,
		Features: []schema.Feature{{Name: "a", Type: schema.FP32}, {Name: "b", Type: schema.FP32, Default: schema.FloatValue(0.5)},
			{Name: "c", Type: schema.FP32}}})
	pub := registrycopy.NewPublisher(cli, root)
	t.Cleanup(func() { _ = pub.Close() })
	if err := pub.Publish(ctx, f.reg); err != nil {
		t.Fatal(err)
	}
	f.write(t, "dense", 2, []string{"1"}, now.Add(-time.Minute), now.Add(time.Hour), func(b *codec.Builder) {
		b.SetFloat32(0, 1.5)
		b.SetFloat32(1, 2.5)
		b.SetFloat32(2, 3.5)
	})
	readers := func(id string) (feature.Reader, error) {
		if id != "online" {
			return nil, errors.New("no such store")
		}
		return f.store, nil
	}
	req := &featurev1.RetrieveRequest{Entity: "user", Keys: keys([]string{"1"}),
		Groups: []*featurev1.GroupSelection{{FeatureGroup: "dense", Features: []string{"a", "b"}}}}

	lagging := feature.New(schema.NewHolder(stale), readers, feature.WithClock(func() time.Time { return now }))
	resp, err := lagging.Retrieve(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.GetRows()[0].GetFound()[0] {
		t.Fatal("a server without a registry sync found a block of a version it does not know")
	}

	holder := schema.NewHolder(stale)
	syncs := 0
	srv := feature.New(holder, readers, feature.WithClock(func() time.Time { return now }),
		feature.WithRegistrySync(func(ctx context.Context) (*schema.Snapshot, error) {
			syncs++
			r, err := registrycopy.Load(ctx, cli, root)
			if err != nil {
				return nil, err
			}
			holder.Update(schema.NewSnapshot(r))
			return holder.Load(), nil
		}))
	resp, err = srv.Retrieve(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if !resp.GetRows()[0].GetFound()[0] || syncs != 1 {
		t.Fatalf("found %v after %d syncs, want the block found after one", resp.GetRows()[0].GetFound(), syncs)
	}
	if got := f32s(t, resp.GetMatrices()[0]); fmt.Sprint(got) != "[1.5 2.5]" {
		t.Fatalf("values %v, want [1.5 2.5]", got)
	}
	if holder.Load().Revision() != f.reg.Revision() {
		t.Fatalf("holder at revision %d, want %d", holder.Load().Revision(), f.reg.Revision())
	}
}
