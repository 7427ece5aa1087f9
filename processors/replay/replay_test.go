package replay_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/redis/go-redis/v9"

	"github.com/ofstack/ofs/internal/events"
	"github.com/ofstack/ofs/internal/testenv"
	"github.com/ofstack/ofs/processors/ingest"
	"github.com/ofstack/ofs/processors/replay"
	"github.com/ofstack/ofs/schema"
	"github.com/ofstack/ofs/topics"
	"github.com/ofstack/ofs/views"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func registry(t testing.TB) *schema.Registry {
	t.Helper()
	r := schema.NewRegistry()
	for i, c := range []schema.Command{
		schema.ApplyStore{ID: "main", Kind: schema.Redis, Connection: "default"},
		schema.ApplyEntity{Name: "user", Keys: []schema.KeyColumn{{Name: "user_id", Type: schema.Int64}}},
		schema.ApplyFeatureGroup{Name: "profile", Entity: "user", ID: 1, Store: "main", Features: []schema.Feature{
			{Name: "age", Type: schema.Int32}, {Name: "ctr", Type: schema.FP32},
			{Name: "country", Type: schema.String}, {Name: "emb", Type: schema.FP16, VectorLength: 3}}},
		schema.ApplyFeatureGroup{Name: "counts", Entity: "user", ID: 2, Store: "main", TTL: 24 * time.Hour,
			Features: []schema.Feature{{Name: "clicks", Type: schema.Uint32}}},
	} {
		next, _, err := r.Apply(schema.Request{ID: fmt.Sprint(i), Actor: "test", Command: c}, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		r = next
	}
	return r
}

// snapshotRedis returns every key under prefix (without it) and its value.
func snapshotRedis(t *testing.T, rdb *redis.Client, prefix string) map[string]string {
	t.Helper()
	ctx := context.Background()
	out := map[string]string{}
	iter := rdb.Scan(ctx, 0, prefix+"*", 1000).Iterator()
	for iter.Next(ctx) {
		v, err := rdb.Get(ctx, iter.Val()).Result()
		if err != nil {
			t.Fatal(err)
		}
		out[strings.TrimPrefix(iter.Val(), prefix)] = v
	}
	if err := iter.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestReplayIntoFreshStoreEqualsLive(t *testing.T) {
	names, brokers := testenv.Topics(t, 3)
	name := names.Prefix
	rdb := redis.NewClient(&redis.Options{Addr: testenv.Redis(t)})
	t.Cleanup(func() { _ = rdb.Close() })
	holder := schema.NewHolder(schema.NewSnapshot(registry(t)))
	open := func(prefix string) *views.Redis {
		s, err := views.NewRedis(rdb, views.RedisPrefix(prefix))
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	livePrefix, freshPrefix := name+":live:", name+":fresh:"
	live := open(livePrefix)

	// Events: 300 keys, several rows each, some arriving out of order, some
	// invalid (they are skipped, as ingest dead-letters them).
	producer, err := sarama.NewSyncProducer(brokers, topics.SaramaConfig("replay-test"))
	if err != nil {
		t.Fatal(err)
	}
	defer producer.Close()
	base := time.Now().Add(-time.Hour).UTC()
	var msgs []*sarama.ProducerMessage
	for round, offset := range []int{0, 2, 1} { // round 2 is older than round 1
		for k := range 300 {
			at := base.Add(time.Duration(offset) * time.Minute).Format(time.RFC3339Nano)
			profile := fmt.Sprintf(`{"entity":"user","keys":{"user_id":%d},"feature_group":"profile","event_time":%q,`+
				`"values":{"age":%d,"ctr":%g,"country":"c%d","emb":[%d,0.5,-1]}}`, k, at, k+round, float32(k)/7, round, k%5)
			counts := fmt.Sprintf(`{"entity":"user","keys":{"user_id":%d},"feature_group":"counts","event_time":%q,"values":{"clicks":%d}}`,
				k, at, k*10+round)
			for g, v := range map[string]string{"profile": profile, "counts": counts} {
				msgs = append(msgs, &sarama.ProducerMessage{Topic: string(names.Features),
					Key: sarama.StringEncoder(topics.FeatureKey("user", g, fmt.Sprint(k))), Value: sarama.StringEncoder(v)})
			}
		}
	}
	msgs = append(msgs, &sarama.ProducerMessage{Topic: string(names.Features), Key: sarama.StringEncoder("nobody"),
		Value: sarama.StringEncoder(`{"entity":"nobody"}`)},
		// A valid event under another key: ingest dead-letters it as
		// key_mismatch, so replay must not store it either (it is the newest
		// row of user 5 and would win there).
		&sarama.ProducerMessage{Topic: string(names.Features), Key: sarama.StringEncoder("not-the-key"),
			Value: sarama.StringEncoder(`{"entity":"user","keys":{"user_id":5},"feature_group":"counts","values":{"clicks":999999}}`)})
	if err := producer.SendMessages(msgs); err != nil {
		t.Fatal(err)
	}

	// The live store, through the ingest processor.
	p, err := ingest.New(brokers, names, holder, func(*schema.Store) (views.Store, error) { return live, nil },
		ingest.WithLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("ingest: %v", err)
		}
	}()
	waitCommitted(t, brokers, names)
	liveKV := snapshotRedis(t, rdb, livePrefix)
	if len(liveKV) != 600 {
		t.Fatalf("ingest wrote %d blocks, want 600", len(liveKV))
	}

	var last replay.Progress
	src := replay.Source{Brokers: brokers, Names: names, History: replay.HistoryOf(holder.Load())}
	sum, err := replay.Run(context.Background(), replay.Config{
		Source: src, Log: quiet,
		Stores:   func(*schema.Store) (views.Store, error) { return open(freshPrefix), nil },
		Progress: func(p replay.Progress) { last = p },
	})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Read != int64(len(msgs)) || sum.Written != 1800 || sum.Skipped != 2 || last.Read != sum.Read ||
		sum.Rejected[events.CodeKeyMismatch] != 1 {
		t.Fatalf("summary %+v (last progress %+v): want %d read, 1800 written, 2 skipped, 1 key_mismatch", sum, last, len(msgs))
	}
	fresh := snapshotRedis(t, rdb, freshPrefix)
	if !maps.Equal(liveKV, fresh) {
		t.Fatalf("replayed store differs from the live one: %d vs %d keys", len(fresh), len(liveKV))
	}

	// In place, into the live store: nothing changes.
	if _, err := replay.Run(context.Background(), replay.Config{Source: src,
		Stores: func(*schema.Store) (views.Store, error) { return live, nil }}); err != nil {
		t.Fatal(err)
	}
	if again := snapshotRedis(t, rdb, livePrefix); !maps.Equal(liveKV, again) {
		t.Fatal("an in-place replay changed the live store")
	}
}

// waitCommitted waits until the ingest group has committed every partition
// of the features topic to its end: the ingest processor commits only what
// the store has acknowledged.
func waitCommitted(t *testing.T, brokers []string, names topics.Names) {
	t.Helper()
	admin, err := topics.NewAdmin(brokers, topics.Security{})
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	client, err := sarama.NewClient(brokers, topics.SaramaConfig("replay-test-offsets"))
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	topic := string(names.Features)
	parts, err := client.Partitions(topic)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(2 * time.Minute)
	for {
		resp, err := admin.ListConsumerGroupOffsets(string(names.IngestGroup), map[string][]int32{topic: parts})
		if err != nil {
			t.Fatal(err)
		}
		behind := int64(0)
		for _, p := range parts {
			end, err := client.GetOffset(topic, p, sarama.OffsetNewest)
			if err != nil {
				t.Fatal(err)
			}
			committed := int64(0)
			if b := resp.GetBlock(topic, p); b != nil && b.Offset > 0 {
				committed = b.Offset
			}
			behind += end - committed
		}
		if behind == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the ingest group is %d messages behind after 2 minutes", behind)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
