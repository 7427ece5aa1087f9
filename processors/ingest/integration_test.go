package ingest_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/ofstack/ofs/codec"
	"github.com/ofstack/ofs/internal/blocks"
	"github.com/ofstack/ofs/internal/testenv"
	"github.com/ofstack/ofs/processors/ingest"
	"github.com/ofstack/ofs/schema"
	"github.com/ofstack/ofs/topics"
	"github.com/ofstack/ofs/views"
	"github.com/ofstack/ofs/views/registrycopy"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// env is one test's installation: topics of its own on the dev Kafka, a
// registry published into etcd under its own root and watched into a
// holder, and a Redis store with its own key prefix.
type env struct {
	brokers []string
	names   topics.Names
	etcd    *clientv3.Client
	root    string
	holder  *schema.Holder
	redis   *redis.Client
	prefix  string
	store   *views.Redis
	reg     *schema.Registry
}

// testRegistry is the registry of the integration tests: store "main" on
// connection "default" (Redis), entity user (user_id int64), group
// user_profile (id 1, TTL 0: age int8, ctr fp32, country string, emb
// fp32[2]), and the group wide50 (id 2) of 50 fp32 features f00..f49.
func testRegistry(t testing.TB, extra ...schema.Command) *schema.Registry {
	t.Helper()
	wide := make([]schema.Feature, 50)
	for i := range wide {
		wide[i] = schema.Feature{Name: fmt.Sprintf("f%02d", i), Type: schema.FP32}
	}
	cmds := append([]schema.Command{
		schema.ApplyStore{ID: "main", Kind: schema.Redis, Connection: "default"},
		schema.ApplyEntity{Name: "user", Keys: []schema.KeyColumn{{Name: "user_id", Type: schema.Int64}}},
		schema.ApplyFeatureGroup{Name: "user_profile", Entity: "user", ID: 1, Store: "main",
			Features: []schema.Feature{
				{Name: "age", Type: schema.Int8},
				{Name: "ctr", Type: schema.FP32},
				{Name: "country", Type: schema.String, Default: schema.StringValue("unknown")},
				{Name: "emb", Type: schema.FP32, VectorLength: 2},
			}},
		schema.ApplyFeatureGroup{Name: "wide50", Entity: "user", ID: 2, Store: "main", Features: wide},
	}, extra...)
	r := schema.NewRegistry()
	for i, c := range cmds {
		next, out, err := r.Apply(schema.Request{ID: fmt.Sprint("r", i), Actor: "test", Command: c}, time.Now().UTC())
		if err != nil || out.Err != nil {
			t.Fatalf("registry command %d: %v %v", i, err, out.Err)
		}
		r = next
	}
	return r
}

func setup(t testing.TB, partitions int32, extra ...schema.Command) *env {
	t.Helper()
	names, brokers := testenv.Topics(t, partitions)
	name := names.Prefix
	endpoints := testenv.Etcd(t)
	redisAddr := testenv.Redis(t)

	cli, err := clientv3.New(clientv3.Config{Endpoints: endpoints, DialTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cli.Close() })
	e := &env{brokers: brokers, names: names, etcd: cli, root: registrycopy.Root(names.Prefix), holder: schema.NewHolder(nil)}
	e.reg = testRegistry(t, extra...)
	pub := registrycopy.NewPublisher(cli, e.root)
	defer pub.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := pub.Publish(ctx, e.reg); err != nil {
		t.Fatalf("publish the registry: %v", err)
	}
	wctx, wcancel := context.WithCancel(context.Background())
	w := registrycopy.NewWatcher(cli, e.root, e.holder, quiet)
	wdone := make(chan struct{})
	go func() { defer close(wdone); _ = w.Run(wctx) }()
	t.Cleanup(func() { wcancel(); <-wdone })
	if _, err := e.holder.Wait(ctx, e.reg.Revision()); err != nil {
		t.Fatalf("the watcher did not see the registry: %v", err)
	}

	e.redis = redis.NewClient(&redis.Options{Addr: redisAddr})
	e.prefix = name + ":"
	t.Cleanup(func() { deleteKeys(t, e.redis, e.prefix); _ = e.redis.Close() })
	e.store, err = views.NewRedis(e.redis, views.RedisPrefix(e.prefix))
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func deleteKeys(t testing.TB, c *redis.Client, prefix string) {
	ctx := context.Background()
	iter := c.Scan(ctx, 0, prefix+"*", 1000).Iterator()
	var keys []string
	for iter.Next(ctx) {
		keys = append(keys, iter.Val())
		if len(keys) == 1000 {
			if err := c.Unlink(ctx, keys...).Err(); err != nil {
				t.Errorf("cleanup: %v", err)
				return
			}
			keys = keys[:0]
		}
	}
	if len(keys) > 0 {
		if err := c.Unlink(ctx, keys...).Err(); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	}
	if err := iter.Err(); err != nil {
		t.Errorf("cleanup: %v", err)
	}
}

// run starts an ingest processor writing connection "default" to store,
// until the test ends; it returns once the processor is ready, with its
// metrics registry and a function that stops it.
func (e *env) run(t testing.TB, store views.Store, opts ...ingest.Option) (*prometheus.Registry, func()) {
	t.Helper()
	return e.runStores(t, map[string]views.Store{"default": store}, opts...)
}

// runStores is run with the stores of several connections.
func (e *env) runStores(t testing.TB, stores map[string]views.Store, opts ...ingest.Option) (*prometheus.Registry, func()) {
	t.Helper()
	reg := prometheus.NewRegistry()
	p, err := ingest.New(e.brokers, e.names, e.holder, ingest.ByConnection(stores),
		append([]ingest.Option{ingest.WithLogger(quiet), ingest.WithRegisterer(reg)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	var once atomic.Bool
	stop := func() {
		if once.Swap(true) {
			return
		}
		cancel()
		if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("ingest processor: %v", err)
		}
	}
	t.Cleanup(stop)
	select {
	case <-p.Ready():
	case err := <-done:
		done <- err
		t.Fatalf("ingest processor stopped: %v", err)
	case <-time.After(2 * time.Minute):
		t.Fatal("ingest processor not ready in 2 minutes")
	}
	return reg, stop
}

// producer returns a producer of the raw bytes it is given, as kcat is.
func (e *env) producer(t testing.TB) sarama.SyncProducer {
	t.Helper()
	cfg := sarama.NewConfig()
	cfg.Version = topics.KafkaVersion
	cfg.Producer.Return.Successes = true
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	cfg.Producer.Flush.Messages = 1000
	cfg.Producer.Flush.Frequency = time.Millisecond
	cfg.Producer.MaxMessageBytes = topics.MaxMessageBytes
	p, err := sarama.NewSyncProducer(e.brokers, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	return p
}

// send produces messages, in batches.
func (e *env) send(t testing.TB, p sarama.SyncProducer, msgs []*sarama.ProducerMessage) {
	t.Helper()
	for start := 0; start < len(msgs); start += 5000 {
		if err := p.SendMessages(msgs[start:min(start+5000, len(msgs))]); err != nil {
			t.Fatalf("produce: %v", err)
		}
	}
}

// jsonEvent is a user_profile event for user id as a kcat user would write it.
func jsonEvent(names topics.Names, id int64, at time.Time, age int, ctr float32, country string) *sarama.ProducerMessage {
	v := fmt.Sprintf(`{"entity":"user","keys":{"user_id":%d},"feature_group":"user_profile","event_time":%q,`+
		`"values":{"age":%d,"ctr":%v,"country":%q}}`, id, at.UTC().Format(time.RFC3339Nano), age, ctr, country)
	return &sarama.ProducerMessage{Topic: string(names.Features), Key: sarama.StringEncoder(topics.FeatureKey("user", "user_profile", strconv.FormatInt(id, 10))),
		Value: sarama.StringEncoder(v)}
}

// row is a stored user_profile row.
type row struct {
	age     int64
	ctr     float32
	country string
	time    int64
}

// readProfiles reads the user_profile rows of ids from store; a missing
// row is absent from the map.
func readProfiles(t testing.TB, reg *schema.Registry, store views.Store, ids []int64) map[int64]row {
	t.Helper()
	g, _ := reg.FeatureGroup("user_profile")
	l, err := blocks.NewLayout(g.Active())
	if err != nil {
		t.Fatal(err)
	}
	p, err := codec.NewProjection(l, []*codec.Layout{l}, nil)
	if err != nil {
		t.Fatal(err)
	}
	out := map[int64]row{}
	var r codec.Reader
	for start := 0; start < len(ids); start += 1000 {
		chunk := ids[start:min(start+1000, len(ids))]
		keys := make([]views.Key, len(chunk))
		for i, id := range chunk {
			keys[i] = views.Key{Entity: "user", Values: []string{strconv.FormatInt(id, 10)}}
		}
		got, err := store.Read(context.Background(), keys, []uint32{g.ID})
		if err != nil {
			t.Fatalf("read: %v", err)
		}
		for i, b := range got {
			if b == nil {
				continue
			}
			if err := r.Open(b, p, math.MinInt64); err != nil {
				t.Fatalf("user %d: %v", chunk[i], err)
			}
			out[chunk[i]] = row{age: r.Int64(0), ctr: r.Float32(1), country: r.String(2), time: r.Header().EventTime}
		}
	}
	return out
}

// eventually polls cond until it holds, failing the test after limit.
func eventually(t testing.TB, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited %v for %s", limit, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func written(reg *prometheus.Registry) float64 {
	mfs, err := reg.Gather()
	if err != nil {
		return 0
	}
	for _, mf := range mfs {
		if mf.GetName() == "ofs_ingest_rows_written_total" {
			return mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	return 0
}
