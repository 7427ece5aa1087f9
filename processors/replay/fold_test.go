package replay_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/redis/go-redis/v9"
	"google.golang.org/protobuf/proto"

	"github.com/ofstack/ofs/codec"
	"github.com/ofstack/ofs/internal/events"
	"github.com/ofstack/ofs/internal/testenv"
	registryproc "github.com/ofstack/ofs/processors/registry"
	"github.com/ofstack/ofs/processors/replay"
	featurev1 "github.com/ofstack/ofs/proto/ofs/feature/v1"
	"github.com/ofstack/ofs/schema"
	"github.com/ofstack/ofs/topics"
	"github.com/ofstack/ofs/views"
)

// foldLog writes a log whose fold needs every rule: registry commands on the
// registry topic (a feature added, events, the feature removed, events), an
// event under the wrong Kafka key, and a transaction committed last, whose
// marker is the last offset of the features topic's one partition.
func foldLog(t *testing.T) (names topics.Names, brokers []string, t0 time.Time) {
	t.Helper()
	names, brokers = testenv.Topics(t, 1)
	t0 = time.Now().Add(-2 * time.Hour).UTC().Truncate(time.Millisecond)
	at := func(m int) time.Time { return t0.Add(time.Duration(m) * time.Minute) }
	cfg := topics.SaramaConfig("replay-fold-test")
	cfg.Producer.Return.Successes = true
	producer, err := sarama.NewSyncProducer(brokers, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer producer.Close()
	send := func(topic, key, value string, ts time.Time) {
		t.Helper()
		if _, _, err := producer.SendMessage(&sarama.ProducerMessage{Topic: topic, Key: sarama.StringEncoder(key),
			Value: sarama.StringEncoder(value), Timestamp: ts}); err != nil {
			t.Fatal(err)
		}
	}
	command := func(c schema.Command, ts time.Time) {
		t.Helper()
		b, err := proto.Marshal(schema.Request{ID: fmt.Sprint(ts.UnixNano()), Actor: "test", Command: c}.ToProto())
		if err != nil {
			t.Fatal(err)
		}
		send(string(names.Registry), registryproc.Key, string(b), ts)
	}
	event := func(k int, values string, ts time.Time) string {
		return fmt.Sprintf(`{"entity":"user","keys":{"user_id":%d},"feature_group":"profile","event_time":%q,"values":{%s}}`,
			k, ts.Format(time.RFC3339Nano), values)
	}
	key := func(k int) string { return topics.FeatureKey("user", "profile", fmt.Sprint(k)) }

	command(schema.ApplyStore{ID: "main", Kind: schema.Redis, Connection: "default"}, at(0))
	command(schema.ApplyEntity{Name: "user", Keys: []schema.KeyColumn{{Name: "user_id", Type: schema.Int64}}}, at(0))
	command(schema.ApplyFeatureGroup{Name: "profile", Entity: "user", ID: 1, Store: "main", Features: []schema.Feature{
		{Name: "age", Type: schema.Int32}, {Name: "tier", Type: schema.String}}}, at(1))
	for k := range 10 { // written for version 1, naming tier
		send(string(names.Features), key(k), event(k, fmt.Sprintf(`"age":%d,"tier":"gold"`, k), at(10)), at(10))
	}
	command(schema.RemoveFeatures{Group: "profile", Names: []string{"tier"}}, at(20))
	for k := 10; k < 20; k++ { // version 2
		send(string(names.Features), key(k), event(k, fmt.Sprintf(`"age":%d`, k), at(30)), at(30))
	}
	// A backfill stamped before its group was registered: ingest, reading it
	// later, knew the group.
	send(string(names.Features), key(30), event(30, `"age":30`, at(0)), at(0))
	// Valid, but under another key: ingest dead-letters it as key_mismatch.
	send(string(names.Features), key(3), event(4, `"age":99`, at(40)), at(40))

	tcfg := topics.SaramaConfig("replay-fold-txn")
	tcfg.Producer.Return.Successes = true
	tcfg.Producer.Transaction.ID = testenv.Name(t)
	tx, err := sarama.NewSyncProducer(brokers, tcfg)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Close()
	if err := tx.BeginTxn(); err != nil {
		t.Fatal(err)
	}
	for k := 20; k < 25; k++ {
		if _, _, err := tx.SendMessage(&sarama.ProducerMessage{Topic: string(names.Features), Key: sarama.StringEncoder(key(k)),
			Value: sarama.StringEncoder(event(k, `"age":1`, at(50))), Timestamp: at(50)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := tx.CommitTxn(); err != nil {
		t.Fatal(err)
	}
	// The coordinator writes the commit marker after CommitTxn returns.
	client, err := sarama.NewClient(brokers, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		end, err := client.GetOffset(string(names.Features), 0, sarama.OffsetNewest)
		if err != nil {
			t.Fatal(err)
		}
		if end == 28 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the features topic ends at %d, want 28 (27 messages and the commit marker)", end)
		}
	}
	return names, brokers, t0
}

func TestReplayIsAFoldOfTheLog(t *testing.T) {
	names, brokers, t0 := foldLog(t)
	rdb := redis.NewClient(&redis.Options{Addr: testenv.Redis(t)})
	t.Cleanup(func() { _ = rdb.Close() })
	prefix := names.Prefix + ":fold:"
	store, err := views.NewRedis(rdb, views.RedisPrefix(prefix))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	src := replay.Source{Brokers: brokers, Names: names}
	sum, err := replay.Run(ctx, replay.Config{Source: src, Log: quiet,
		Stores: func(*schema.Store) (views.Store, error) { return store, nil }})
	if err != nil {
		t.Fatalf("replay (a transaction marker ends the partition: it must not wait for it): %v", err)
	}
	// 27 messages and a marker: the watermark is 28.
	if sum.Read != 27 || sum.Written != 26 || sum.Rejected[events.CodeKeyMismatch] != 1 || sum.Watermarks[0] != 28 {
		t.Fatalf("summary %+v, watermarks %v: want 27 read, 26 written, 1 key_mismatch, watermark 28", sum, sum.Watermarks)
	}
	blocks := func(k int) []byte {
		t.Helper()
		out, err := store.Read(ctx, []views.Key{{Entity: "user", Values: []string{fmt.Sprint(k)}}}, []uint32{1})
		if err != nil || out[0] == nil {
			t.Fatalf("user %d: %v, %v", k, out, err)
		}
		return out[0]
	}
	for k, wantVersion := range map[int]uint32{0: 1, 9: 1, 10: 2, 24: 2, 30: 2} {
		h, err := codec.ReadHeader(blocks(k))
		if err != nil || h.SchemaVersion != wantVersion {
			t.Fatalf("user %d: header %+v, %v: want version %d (the registry at the event's time)", k, h, err, wantVersion)
		}
	}
	if b := blocks(4); strings.Contains(string(b), "99") {
		t.Fatal("the key_mismatch event was stored")
	}

	// In place, announcing: every written key is announced, after its write.
	sum, err = replay.Run(ctx, replay.Config{Source: src, Announce: replay.AnnounceWrites,
		Stores: func(*schema.Store) (views.Store, error) { return store, nil }})
	if err != nil || sum.Announced == 0 {
		t.Fatalf("in place, announcing: %+v, %v", sum, err)
	}
	if n := invalidatedKeys(t, brokers, names); n != 26 {
		t.Fatalf("%d keys announced on the invalidations topic, want the 26 written", n)
	}

	// Verify: the store is the fold.
	report, err := replay.Verify(ctx, replay.VerifyConfig{Source: src, Stores: func(*schema.Store) (views.Store, error) { return store, nil }})
	if err != nil || report.Drift() != 0 || len(report.Groups) != 1 || report.Groups[0].Rows != 26 ||
		report.Groups[0].LogSum != report.Groups[0].StoreSum {
		t.Fatalf("verify after replay: %+v, %v: want 0 drift over 26 rows, equal checksums", report, err)
	}
	// Corrupt three keys in the store behind its back: a copy of another
	// key's block (same event time, other values), an older block, a key
	// deleted.
	redisKey := func(k int) string {
		t.Helper()
		b := blocks(k)
		for rk, v := range snapshotRedis(t, rdb, prefix) {
			if v == string(b) {
				return prefix + rk
			}
		}
		t.Fatalf("no Redis key holds user %d's block", k)
		return ""
	}
	k0, k2, k15, k7 := redisKey(0), redisKey(2), redisKey(15), redisKey(7)
	// Live, a row newer than the fold was written after the watermark: not
	// drift.
	if err := rdb.Set(ctx, k0, blocks(20), 0).Err(); err != nil {
		t.Fatal(err)
	}
	report, err = replay.Verify(ctx, replay.VerifyConfig{Source: src, Stores: func(*schema.Store) (views.Store, error) { return store, nil }})
	if err != nil || report.Drift() != 0 || report.Groups[0].Newer != 1 || report.Groups[0].LogSum != report.Groups[0].StoreSum {
		t.Fatalf("verify with a newer row: %+v, %v: want 0 drift, 1 newer", report, err)
	}
	if err := rdb.Set(ctx, k2, blocks(1), 0).Err(); err != nil {
		t.Fatal(err)
	}
	if err := rdb.Set(ctx, k15, blocks(5), 0).Err(); err != nil {
		t.Fatal(err)
	}
	if err := rdb.Del(ctx, k7).Err(); err != nil {
		t.Fatal(err)
	}
	report, err = replay.Verify(ctx, replay.VerifyConfig{Source: src, Stores: func(*schema.Store) (views.Store, error) { return store, nil }})
	if err != nil {
		t.Fatal(err)
	}
	g := report.Groups[0]
	if report.Drift() != 3 || g.Differ != 1 || g.Stale != 1 || g.Missing != 1 || g.Equal != 22 || g.Newer != 1 || g.LogSum == g.StoreSum {
		t.Fatalf("verify after corruption: %+v", g)
	}
	got := map[string]replay.Diff{}
	for _, d := range report.Diffs {
		got[d.Key.Values[0]] = d
	}
	if len(got) != 3 || got["2"].Problem != "differ" || got["15"].Problem != "stale" || got["7"].Problem != "missing" ||
		!strings.Contains(got["2"].Log, "age: 2") || !strings.Contains(got["2"].Store, "age: 1") ||
		!strings.Contains(got["2"].Log, `tier: "gold"`) || got["7"].Store != "(none)" {
		t.Fatalf("diffs: %+v", report.Diffs)
	}

	// As of a time between the two registries: the first ten rows and the
	// backfill only.
	asof := names.Prefix + ":asof:"
	old, err := views.NewRedis(rdb, views.RedisPrefix(asof))
	if err != nil {
		t.Fatal(err)
	}
	sum, err = replay.Run(ctx, replay.Config{Source: replay.Source{Brokers: brokers, Names: names, AsOf: t0.Add(25 * time.Minute)},
		Stores: func(*schema.Store) (views.Store, error) { return old, nil }})
	if err != nil || sum.Written != 11 {
		t.Fatalf("as of: %+v, %v: want 11 written (the backfill's event time is before)", sum, err)
	}
	if n := len(snapshotRedis(t, rdb, asof)); n != 11 {
		t.Fatalf("as of: %d keys stored, want 11", n)
	}
	asOfSrc := replay.Source{Brokers: brokers, Names: names, AsOf: t0.Add(25 * time.Minute)}
	report, err = replay.Verify(ctx, replay.VerifyConfig{Source: asOfSrc, Stores: func(*schema.Store) (views.Store, error) { return old, nil }})
	if err != nil || report.Drift() != 0 || report.Groups[0].Rows != 11 {
		t.Fatalf("verify as of: %+v, %v", report, err)
	}
	// The corrupted live store, compared as of then: keys 2 and 7 of the
	// first ten drift, and key 0, newer than the time asked for.
	report, err = replay.Verify(ctx, replay.VerifyConfig{Source: asOfSrc, Stores: func(*schema.Store) (views.Store, error) { return store, nil }})
	if err != nil || report.Drift() != 3 {
		t.Fatalf("verify as of against the live store: %+v, %v: want 3 rows of drift", report, err)
	}
}

// invalidatedKeys counts the keys announced on the invalidations topic.
func invalidatedKeys(t *testing.T, brokers []string, names topics.Names) int {
	t.Helper()
	client, err := sarama.NewClient(brokers, topics.SaramaConfig("replay-test-inv"))
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	end, err := client.GetOffset(string(names.Invalidations), 0, sarama.OffsetNewest)
	if err != nil {
		t.Fatal(err)
	}
	consumer, err := sarama.NewConsumerFromClient(client)
	if err != nil {
		t.Fatal(err)
	}
	defer consumer.Close()
	pc, err := consumer.ConsumePartition(string(names.Invalidations), 0, sarama.OffsetOldest)
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	n := 0
	for m := range pc.Messages() {
		var inv featurev1.Invalidation
		if err := proto.Unmarshal(m.Value, &inv); err != nil {
			t.Fatal(err)
		}
		n += len(inv.GetKeys())
		if m.Offset >= end-1 {
			break
		}
	}
	return n
}
