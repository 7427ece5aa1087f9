package replay_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/redis/go-redis/v9"

	"github.com/ofstack/ofs/internal/testenv"
	"github.com/ofstack/ofs/processors/replay"
	"github.com/ofstack/ofs/schema"
	"github.com/ofstack/ofs/topics"
	"github.com/ofstack/ofs/views"
)

// BenchmarkReplay produces OFS_BENCH_EVENTS JSON events (default
// 1,000,000; ten per key) to an 8-partition features topic, then measures
// a replay into a fresh Redis prefix, a verification against it, and a
// replay as of the middle of the events. Run with -benchtime=1x; the
// numbers are in docs/benchmarks.md.
func BenchmarkReplay(b *testing.B) {
	n := 1_000_000
	if s := os.Getenv("OFS_BENCH_EVENTS"); s != "" {
		var err error
		if n, err = strconv.Atoi(s); err != nil {
			b.Fatal(err)
		}
	}
	names, brokers := testenv.Topics(b, 8)
	b.Cleanup(func() { deleteTopics(b, brokers, names) })
	rdb := redis.NewClient(&redis.Options{Addr: testenv.Redis(b)})
	b.Cleanup(func() { _ = rdb.Close() })
	snap := schema.NewSnapshot(registry(b))
	base := time.Now().Add(-3 * time.Hour).UTC()
	mid := produceEvents(b, brokers, names, n, base)

	src := replay.Source{Brokers: brokers, Names: names, History: replay.HistoryOf(snap)}
	open := func(prefix string) views.Store {
		s, err := views.NewRedis(rdb, views.RedisPrefix(prefix))
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { deletePrefix(b, rdb, prefix) })
		return s
	}
	ctx := context.Background()
	var filled views.Store
	b.Run("replay", func(b *testing.B) {
		for i := range b.N {
			store := open(fmt.Sprintf("%s:bench%d:", names.Prefix, i))
			start := time.Now()
			sum, err := replay.Run(ctx, replay.Config{Source: src, Stores: func(*schema.Store) (views.Store, error) { return store, nil }})
			if err != nil || sum.Read != int64(n) {
				b.Fatalf("%+v, %v", sum, err)
			}
			b.ReportMetric(float64(n)/time.Since(start).Seconds(), "events/s")
			filled = store
		}
	})
	b.Run("verify", func(b *testing.B) {
		for range b.N {
			start := time.Now()
			r, err := replay.Verify(ctx, replay.VerifyConfig{Source: src, Stores: func(*schema.Store) (views.Store, error) { return filled, nil }})
			if err != nil || r.Drift() != 0 {
				b.Fatalf("%+v, %v", r.Groups, err)
			}
			b.ReportMetric(float64(n)/time.Since(start).Seconds(), "events/s")
		}
	})
	b.Run("as-of", func(b *testing.B) {
		asOf := src
		asOf.AsOf = mid
		for i := range b.N {
			store := open(fmt.Sprintf("%s:asof%d:", names.Prefix, i))
			start := time.Now()
			sum, err := replay.Run(ctx, replay.Config{Source: asOf, Stores: func(*schema.Store) (views.Store, error) { return store, nil }})
			if err != nil || sum.Written == 0 || sum.Written >= int64(n) {
				b.Fatalf("%+v, %v", sum, err)
			}
			b.ReportMetric(float64(n)/time.Since(start).Seconds(), "events/s")
		}
	})
}

// produceEvents sends n events of group profile, ten per key, event times
// one millisecond apart from base, and returns the event time of the
// middle one.
func produceEvents(b *testing.B, brokers []string, names topics.Names, n int, base time.Time) time.Time {
	cfg := topics.SaramaConfig("replay-bench")
	cfg.Producer.Flush.Messages = 1000
	cfg.Producer.Flush.Frequency = 5 * time.Millisecond
	cfg.Producer.Return.Successes = false
	p, err := sarama.NewAsyncProducer(brokers, cfg)
	if err != nil {
		b.Fatal(err)
	}
	errs := make(chan error, 1)
	go func() {
		for e := range p.Errors() {
			select {
			case errs <- e:
			default:
			}
		}
	}()
	keys := max(n/10, 1)
	start := time.Now()
	for i := range n {
		k := i % keys
		at := base.Add(time.Duration(i) * time.Millisecond).Format(time.RFC3339Nano)
		v := fmt.Sprintf(`{"entity":"user","keys":{"user_id":%d},"feature_group":"profile","event_time":%q,`+
			`"values":{"age":%d,"ctr":%g,"country":"c%d","emb":[%d,0.5,-1]}}`, k, at, i%100, float32(i%1000)/7, i%50, i%5)
		p.Input() <- &sarama.ProducerMessage{Topic: string(names.Features),
			Key: sarama.StringEncoder(topics.FeatureKey("user", "profile", strconv.Itoa(k))), Value: sarama.StringEncoder(v)}
	}
	if err := p.Close(); err != nil {
		b.Fatal(err)
	}
	select {
	case err := <-errs:
		b.Fatal(err)
	default:
	}
	b.Logf("produced %d events in %s", n, time.Since(start).Round(time.Millisecond))
	return base.Add(time.Duration(n/2) * time.Millisecond)
}

func deleteTopics(b *testing.B, brokers []string, names topics.Names) {
	admin, err := topics.NewAdmin(brokers, topics.Security{})
	if err != nil {
		b.Error(err)
		return
	}
	defer admin.Close()
	for _, s := range names.Specs(topics.Layout{FeaturePartitions: 8}) {
		if err := admin.DeleteTopic(s.Name); err != nil {
			b.Logf("delete %s: %v", s.Name, err)
		}
	}
}

func deletePrefix(b *testing.B, rdb *redis.Client, prefix string) {
	ctx := context.Background()
	iter := rdb.Scan(ctx, 0, prefix+"*", 5000).Iterator()
	var batch []string
	for iter.Next(ctx) {
		if batch = append(batch, iter.Val()); len(batch) == 5000 {
			if err := rdb.Unlink(ctx, batch...).Err(); err != nil {
				b.Error(err)
			}
			batch = batch[:0]
		}
	}
	if len(batch) > 0 {
		if err := rdb.Unlink(ctx, batch...).Err(); err != nil {
			b.Error(err)
		}
	}
	if err := iter.Err(); err != nil {
		b.Error(err)
	}
}
