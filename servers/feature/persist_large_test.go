package feature_test

import (
	"context"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"sync/atomic"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/redis/go-redis/v9"

	"github.com/ofstack/ofs/internal/testenv"
	featurev1 "github.com/ofstack/ofs/proto/ofs/feature/v1"
	"github.com/ofstack/ofs/schema"
	"github.com/ofstack/ofs/servers/feature"
	"github.com/ofstack/ofs/topics"
	"github.com/ofstack/ofs/views"
)

// keyCount counts the keys of the invalidations that arrive.
type keyCount struct{ n atomic.Int64 }

func (k *keyCount) Invalidate(keys []views.Key, _ []uint32) { k.n.Add(int64(len(keys))) }

// TestLargePersist: a Persist of 10,000 rows with 800-byte keys and 1 KiB
// values (some 18 MB of events, 8 MB of invalidated keys) is taken by the
// real broker: the events in batches within the features topic's limit,
// the invalidation split; every key is announced.
func TestLargePersist(t *testing.T) {
	names, brokers := testenv.Topics(t, 2)
	rdb := redis.NewClient(&redis.Options{Addr: testenv.Redis(t)})
	t.Cleanup(func() { _ = rdb.Close() })
	prefix := names.Prefix + ":"
	t.Cleanup(func() {
		ctx := context.Background()
		iter := rdb.Scan(ctx, 0, prefix+"*", 1000).Iterator()
		for iter.Next(ctx) {
			_ = rdb.Unlink(ctx, iter.Val()).Err() // cleanup of the test's own keys
		}
	})
	store, err := views.NewRedis(rdb, views.RedisPrefix(prefix))
	if err != nil {
		t.Fatal(err)
	}
	reg := mustApply(t, schema.NewRegistry(),
		schema.ApplyStore{ID: "online", Kind: schema.Redis, Connection: "default"},
		schema.ApplyEntity{Name: "doc", Keys: []schema.KeyColumn{{Name: "path", Type: schema.String}}},
		schema.ApplyFeatureGroup{Name: "text", Entity: "doc", ID: 1, Store: "online",
			Features: []schema.Feature{{Name: "body", Type: schema.String}}},
	)
	holder := schema.NewHolder(schema.NewSnapshot(reg))
	cfg := topics.SaramaConfig("persist-large-test")
	cfg.Producer.Return.Successes = true
	producer, err := sarama.NewSyncProducer(brokers, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer producer.Close()
	consumer, err := sarama.NewConsumer(brokers, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer consumer.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var announced keyCount
	ready := make(chan struct{})
	go func() {
		_ = feature.FollowInvalidations(ctx, consumer, string(names.Invalidations), &announced, quiet, func() { close(ready) })
	}()
	<-ready
	srv := feature.New(holder, func(string) (feature.Reader, error) { return store, nil },
		feature.WithPersist(producer, names, func(string) (views.Store, error) { return store, nil }, nil),
		// 18 MB to Kafka and the store outlast the default bound on a busy machine.
		feature.WithPersistTimeouts(2*time.Minute, time.Minute))

	const n = feature.MaxPersistRows
	// Random hex: half of it survives compression, as real data might.
	rnd := rand.New(rand.NewPCG(1, 2))
	random := func(n int) string {
		b := make([]byte, n/2)
		for i := range b {
			b[i] = byte(rnd.Uint32())
		}
		return hex.EncodeToString(b)
	}
	rows := make([]*featurev1.FeatureEvent, n)
	for i := range rows {
		key := fmt.Sprintf("%06d/", i) + random(794)
		body := random(1024)
		rows[i] = &featurev1.FeatureEvent{
			Keys:   map[string]*featurev1.Value{"path": {Kind: &featurev1.Value_StringValue{StringValue: key}}},
			Values: map[string]*featurev1.Value{"body": {Kind: &featurev1.Value_StringValue{StringValue: body}}},
		}
	}
	resp, err := srv.Persist(ctx, &featurev1.PersistRequest{FeatureGroup: "text", Rows: rows})
	if err != nil {
		t.Fatalf("Persist of %d rows: %v", n, err)
	}
	if resp.GetRows() != n {
		t.Fatalf("persisted %d rows, want %d", resp.GetRows(), n)
	}
	deadline := time.Now().Add(time.Minute)
	for announced.n.Load() < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d keys announced within a minute", announced.n.Load(), n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
