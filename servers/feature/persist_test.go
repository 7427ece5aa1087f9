package feature_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/redis/go-redis/v9"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/ofstack/ofs/codec"
	"github.com/ofstack/ofs/internal/testenv"
	featurev1 "github.com/ofstack/ofs/proto/ofs/feature/v1"
	"github.com/ofstack/ofs/schema"
	"github.com/ofstack/ofs/servers/feature"
	"github.com/ofstack/ofs/topics"
	"github.com/ofstack/ofs/views"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// counted counts the invalidations that reach a cache from the topic.
type counted struct {
	*views.Cache
	n atomic.Int64
}

func (c *counted) Invalidate(keys []views.Key, groups []uint32) {
	c.Cache.Invalidate(keys, groups)
	c.n.Add(1)
}

// waitFor waits until c has seen n invalidations from the topic.
func (c *counted) waitFor(t *testing.T, n int64) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for c.n.Load() < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d invalidations arrived in 30s", c.n.Load(), n)
		}
		time.Sleep(time.Millisecond)
	}
}

// cachedServer is one feature server with an in-memory cache in front of the
// shared store, following the invalidations topic.
func cachedServer(t *testing.T, ctx context.Context, brokers []string, names topics.Names, holder *schema.Holder,
	store views.Store, producer sarama.SyncProducer,
) (*feature.Server, *counted) {
	t.Helper()
	cache, err := views.NewCache(views.CacheMemory(64 << 20))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cache.Close() })
	reader := cache.Tiered(store).Reader(func(id uint32) schema.CachePolicy {
		g, _ := holder.Load().FeatureGroupByID(id)
		return g.Cache
	})
	consumer, err := sarama.NewConsumer(brokers, topics.SaramaConfig("persist-test"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = consumer.Close() })
	ready := make(chan struct{})
	inv := &counted{Cache: cache}
	go func() {
		_ = feature.FollowInvalidations(ctx, consumer, string(names.Invalidations), inv, quiet, func() { close(ready) })
	}()
	<-ready
	return feature.New(holder, func(string) (feature.Reader, error) { return reader, nil },
		feature.WithPersist(producer, names, func(string) (views.Store, error) { return store, nil }, cache)), inv
}

func TestPersistIsVisibleOnEveryServer(t *testing.T) {
	names, brokers := testenv.Topics(t, 2)
	name := names.Prefix
	rdb := redis.NewClient(&redis.Options{Addr: testenv.Redis(t)})
	t.Cleanup(func() { _ = rdb.Close() })
	store, err := views.NewRedis(rdb, views.RedisPrefix(name+":"))
	if err != nil {
		t.Fatal(err)
	}
	reg := mustApply(t, schema.NewRegistry(),
		schema.ApplyStore{ID: "online", Kind: schema.Redis, Connection: "default"},
		schema.ApplyEntity{Name: "user", Keys: []schema.KeyColumn{{Name: "user_id", Type: schema.Int64}}},
		schema.ApplyFeatureGroup{Name: "live", Entity: "user", ID: 1, Store: "online",
			// Cached for an hour: only an invalidation makes a server read again.
			Cache:    schema.CachePolicy{L1: true, TTL: time.Hour},
			Features: []schema.Feature{{Name: "score", Type: schema.FP32}, {Name: "label", Type: schema.String}}},
	)
	holder := schema.NewHolder(schema.NewSnapshot(reg))
	producer, err := sarama.NewSyncProducer(brokers, topics.SaramaConfig("persist-test"))
	if err != nil {
		t.Fatal(err)
	}
	defer producer.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	a, _ := cachedServer(t, ctx, brokers, names, holder, store, producer)
	b, bInv := cachedServer(t, ctx, brokers, names, holder, store, producer)

	persist := func(score float32, label string) {
		t.Helper()
		_, err := a.Persist(ctx, &featurev1.PersistRequest{FeatureGroup: "live", Rows: []*featurev1.FeatureEvent{{
			Keys: map[string]*featurev1.Value{"user_id": {Kind: &featurev1.Value_Int64Value{Int64Value: 7}}},
			Values: map[string]*featurev1.Value{
				"score": {Kind: &featurev1.Value_FloatValue{FloatValue: score}},
				"label": {Kind: &featurev1.Value_StringValue{StringValue: label}},
			},
		}}})
		if err != nil {
			t.Fatalf("Persist: %v", err)
		}
	}
	label := func(s *feature.Server) string {
		t.Helper()
		resp, err := s.Retrieve(ctx, &featurev1.RetrieveRequest{Entity: "user", Keys: keys([]string{"7"}),
			Groups: []*featurev1.GroupSelection{{FeatureGroup: "live"}}})
		if err != nil {
			t.Fatalf("Retrieve: %v", err)
		}
		return resp.GetRows()[0].GetStrings()[0]
	}

	persist(1, "first")
	bInv.waitFor(t, 1)                   // the announcement of "first" has passed b
	if got := label(b); got != "first" { // now in b's cache for an hour
		t.Fatalf("server b reads %q, want first", got)
	}
	// Prove the cache: a block written behind the servers' backs (no
	// invalidation) is not seen.
	f := &fixture{reg: reg, store: store}
	f.write(t, "live", 1, []string{"7"}, time.Now(), time.Time{}, func(bld *codec.Builder) { bld.SetString(1, "sneaked") })
	if got := label(b); got != "first" {
		t.Fatalf("server b reads %q, want the cached first", got)
	}
	persist(2, "second")
	start := time.Now()
	if got := label(a); got != "second" {
		t.Fatalf("server a reads %q right after its own Persist, want second", got)
	}
	for label(b) != "second" {
		if time.Since(start) > 30*time.Second {
			t.Fatal("server b still serves the cached value 30s after a Persist on server a")
		}
		time.Sleep(2 * time.Millisecond)
	}
	t.Logf("invalidation delay from server a to server b: %s", time.Since(start))

	// Both rows are in the features topic, for replay.
	client, err := sarama.NewClient(brokers, topics.SaramaConfig("persist-test"))
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	total := int64(0)
	for p := range int32(2) {
		n, err := client.GetOffset(string(names.Features), p, sarama.OffsetNewest)
		if err != nil {
			t.Fatal(err)
		}
		total += n
	}
	if total != 2 {
		t.Fatalf("%d events in the features topic, want the 2 persisted", total)
	}

	// Bad rows are refused whole, with the row named.
	_, err = a.Persist(ctx, &featurev1.PersistRequest{FeatureGroup: "live", Rows: []*featurev1.FeatureEvent{{
		Keys:   map[string]*featurev1.Value{"user_id": {Kind: &featurev1.Value_Int64Value{Int64Value: 8}}},
		Values: map[string]*featurev1.Value{"nope": {Kind: &featurev1.Value_FloatValue{FloatValue: 1}}},
	}}})
	if status.Code(err) != codes.InvalidArgument || !errors.Is(err, err) {
		t.Fatalf("unknown feature: %v, want InvalidArgument", err)
	}
}
