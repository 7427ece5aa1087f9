package feature_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/resolver"
	"google.golang.org/grpc/resolver/manual"
	"google.golang.org/protobuf/proto"

	"github.com/ofstack/ofs/codec"
	"github.com/ofstack/ofs/internal/testenv"
	featurev1 "github.com/ofstack/ofs/proto/ofs/feature/v1"
	"github.com/ofstack/ofs/schema"
	"github.com/ofstack/ofs/sdk"
	"github.com/ofstack/ofs/servers"
	"github.com/ofstack/ofs/servers/feature"
	"github.com/ofstack/ofs/topics"
	"github.com/ofstack/ofs/views"
)

// fleet is feature servers in this process sharing Kafka topics, a store
// and etcd, each with its own L1, gRPC server and registration.
type fleet struct {
	t       *testing.T
	names   topics.Names
	brokers []string
	reg     *schema.Registry
	holder  *schema.Holder
	store   *views.Redis
	peers   bool // servers register and wait for each other
	opts    []feature.Option
}

type member struct {
	addr   string
	gs     *grpc.Server
	etcd   *clientv3.Client
	cancel context.CancelFunc
	gate   *gate
	reg    *prometheus.Registry
}

// metric is the value of an unlabelled metric of m.
func (m *member) metric(t *testing.T, name string) float64 {
	t.Helper()
	fams, err := m.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if f.GetName() == name {
			mm := f.GetMetric()[0]
			return mm.GetCounter().GetValue() + mm.GetGauge().GetValue()
		}
	}
	t.Fatalf("no metric %s", name)
	return 0
}

// gate holds store writes while closed.
type gate struct {
	views.Store
	mu     sync.Mutex
	closed chan struct{} // nil: open
	held   chan struct{} // a write waits
}

func (g *gate) close() {
	g.mu.Lock()
	g.closed, g.held = make(chan struct{}), make(chan struct{}, 1)
	g.mu.Unlock()
}

func (g *gate) open() {
	g.mu.Lock()
	if g.closed != nil {
		close(g.closed)
		g.closed = nil
	}
	g.mu.Unlock()
}

func (g *gate) Write(ctx context.Context, blocks []views.Block) error {
	g.mu.Lock()
	closed, held := g.closed, g.held
	g.mu.Unlock()
	if closed != nil {
		held <- struct{}{}
		<-closed
	}
	return g.Store.Write(ctx, blocks)
}

var liveGroup = []schema.Command{
	schema.ApplyStore{ID: "online", Kind: schema.Redis, Connection: "default"},
	schema.ApplyEntity{Name: "user", Keys: []schema.KeyColumn{{Name: "user_id", Type: schema.Int64}}},
	schema.ApplyFeatureGroup{Name: "live", Entity: "user", ID: 1, Store: "online",
		// Cached for an hour: only an invalidation makes a server read again.
		Cache:    schema.CachePolicy{L1: true, TTL: time.Hour},
		Features: []schema.Feature{{Name: "score", Type: schema.FP32}, {Name: "label", Type: schema.String}}},
}

func newFleet(t *testing.T, redisAddr string, peers bool, opts ...feature.Option) *fleet {
	t.Helper()
	names, brokers := testenv.Topics(t, 2)
	rdb := redis.NewClient(&redis.Options{Addr: redisAddr, MaxRetries: 1, ReadTimeout: 500 * time.Millisecond})
	t.Cleanup(func() { _ = rdb.Close() })
	store, err := views.NewRedis(rdb, views.RedisPrefix(names.Prefix+":"))
	if err != nil {
		t.Fatal(err)
	}
	reg := mustApply(t, schema.NewRegistry(), liveGroup...)
	return &fleet{t: t, names: names, brokers: brokers, reg: reg, holder: schema.NewHolder(schema.NewSnapshot(reg)),
		store: store, peers: peers, opts: opts}
}

// start starts server id and returns once it serves (and, with peers, has
// joined).
func (f *fleet) start(id string) *member {
	t := f.t
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	cache, err := views.NewCache(views.CacheMemory(64 << 20))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cache.Close() })
	g := &gate{Store: f.store}
	reader := cache.Tiered(f.store).Reader(func(id uint32) schema.CachePolicy {
		gr, _ := f.holder.Load().FeatureGroupByID(id)
		return gr.Cache
	})
	cfg := topics.SaramaConfig("persist-fleet-" + id)
	kc, err := sarama.NewClient(f.brokers, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = kc.Close() })
	// Producer, consumer and offsets each on a client of their own, as in
	// ofs serve: a consumer's long-polling fetch holds a connection's later
	// requests behind it.
	producer, err := sarama.NewSyncProducer(f.brokers, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = producer.Close() })
	consumer, err := sarama.NewConsumer(f.brokers, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = consumer.Close() })
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	m := &member{addr: lis.Addr().String(), cancel: cancel, gate: g, reg: prometheus.NewRegistry()}
	opts := append([]feature.Option{feature.WithPersist(producer, f.names, func(string) (views.Store, error) { return g, nil }, cache)}, f.opts...)
	gs, _ := servers.NewGRPC(quiet)
	m.gs = gs
	following, joined := make(chan struct{}), make(chan struct{})
	if f.peers {
		m.etcd, err = clientv3.New(clientv3.Config{Endpoints: testenv.Etcd(t), DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = m.etcd.Close() })
		topic := string(f.names.Invalidations)
		p, err := feature.NewPeers(m.etcd, "/"+f.names.Prefix, id, m.addr, cache,
			func() (int64, error) { return kc.GetOffset(topic, 0, sarama.OffsetNewest) },
			feature.PeerDialOptions(grpc.WithTransportCredentials(insecure.NewCredentials())), feature.PeerLogger(quiet),
			feature.PeerRegisterer(m.reg))
		if err != nil {
			t.Fatal(err)
		}
		featurev1.RegisterPeerServiceServer(gs, p)
		opts = append(opts, feature.WithPeers(p, func(string) (feature.Reader, error) { return f.store, nil }))
		go func() { _ = p.Follow(ctx, consumer, topic, cache, quiet, func() { close(following) }) }()
		go func() { _ = p.Run(ctx, func() { close(joined) }) }()
	} else {
		close(joined)
		go func() {
			_ = feature.FollowInvalidations(ctx, consumer, string(f.names.Invalidations), cache, quiet, func() { close(following) })
		}()
	}
	srv := feature.New(f.holder, func(string) (feature.Reader, error) { return reader, nil }, opts...)
	featurev1.RegisterFeatureServiceServer(gs, srv)
	go func() { _ = gs.Serve(lis) }() // Stop ends it
	t.Cleanup(gs.Stop)
	for _, c := range []chan struct{}{following, joined} {
		select {
		case <-c:
		case <-time.After(30 * time.Second):
			t.Fatalf("server %s did not start in 30s", id)
		}
	}
	return m
}

// kill stops m as a crash would: its registration is not withdrawn.
func (m *member) kill() {
	if m.etcd != nil {
		_ = m.etcd.Close() // the crash under test: leaving cannot reach etcd
	}
	m.cancel()
	m.gs.Stop()
}

func dial(t *testing.T, addrs ...string) (*sdk.Client, *manual.Resolver) {
	t.Helper()
	r := manual.NewBuilderWithScheme(fmt.Sprintf("fleet%d", time.Now().UnixNano()))
	state := resolver.State{}
	for _, a := range addrs {
		state.Addresses = append(state.Addresses, resolver.Address{Addr: a})
	}
	r.InitialState(state)
	c, err := sdk.Dial(r.Scheme()+":///fleet", sdk.WithDialOptions(grpc.WithResolvers(r)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c, r
}

func row(key int64, score float32, label string, at time.Time) sdk.Row {
	return sdk.Row{Keys: map[string]any{"user_id": key}, EventTime: at, Values: map[string]any{"score": score, "label": label}}
}

func labelOf(t *testing.T, c *sdk.Client, key string) string {
	t.Helper()
	res, err := c.Retrieve(context.Background(), sdk.RetrieveRequest{Entity: "user", Keys: [][]string{{key}}, Groups: []sdk.Group{{Name: "live"}}})
	if err != nil {
		t.Fatalf("Retrieve: %v", err)
	}
	i, err := res.Index("label")
	if err != nil {
		t.Fatal(err)
	}
	return res.String(0, i)
}

// eventTime is the event time of the stored block of key.
func (f *fleet) eventTime(t *testing.T, key string) time.Time {
	t.Helper()
	out, err := f.store.Read(context.Background(), []views.Key{{Entity: "user", Values: []string{key}}}, []uint32{1})
	if err != nil || out[0] == nil {
		t.Fatalf("reading key %s from the store: %v (block %v)", key, err, out)
	}
	h, err := codec.ReadHeader(out[0])
	if err != nil {
		t.Fatal(err)
	}
	return time.UnixMicro(h.EventTime)
}

// copies returns, per label, the event times of every event on the
// features topic.
func (f *fleet) copies(t *testing.T) map[string][]time.Time {
	t.Helper()
	consumer, err := sarama.NewConsumer(f.brokers, topics.SaramaConfig("persist-fleet-check"))
	if err != nil {
		t.Fatal(err)
	}
	defer consumer.Close()
	client, err := sarama.NewClient(f.brokers, topics.SaramaConfig("persist-fleet-check"))
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	out := map[string][]time.Time{}
	for p := range int32(2) {
		end, err := client.GetOffset(string(f.names.Features), p, sarama.OffsetNewest)
		if err != nil {
			t.Fatal(err)
		}
		if end == 0 {
			continue
		}
		pc, err := consumer.ConsumePartition(string(f.names.Features), p, sarama.OffsetOldest)
		if err != nil {
			t.Fatal(err)
		}
		for m := range pc.Messages() {
			var ev featurev1.FeatureEvent
			if err := proto.Unmarshal(m.Value, &ev); err != nil {
				t.Fatal(err)
			}
			l := ev.GetValues()["label"].GetStringValue()
			out[l] = append(out[l], ev.GetEventTime().AsTime())
			if m.Offset+1 >= end {
				break
			}
		}
		_ = pc.Close() // read-only
	}
	return out
}

func percentile(d []time.Duration, p float64) time.Duration {
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[int(float64(len(s)-1)*p)]
}

// cycles persists through a and retrieves through b n times, and returns
// the stale reads and the Persist latencies.
func cycles(t *testing.T, a, b *sdk.Client, n int) (stale int, lat []time.Duration) {
	t.Helper()
	ctx := context.Background()
	for i := range n {
		want := fmt.Sprint("v", i)
		start := time.Now()
		if err := a.Persist(ctx, "live", []sdk.Row{row(7, float32(i), want, time.Time{})}); err != nil {
			t.Fatalf("cycle %d: Persist: %v", i, err)
		}
		lat = append(lat, time.Since(start))
		if i%100 == 0 {
			t.Logf("cycle %d: Persist took %s", i, lat[i])
		}
		if got := labelOf(t, b, "7"); got != want { // b now caches want, for the next cycle to invalidate
			stale++
		}
	}
	return stale, lat
}

func TestPersistThenRetrieveElsewhereIsNeverStale(t *testing.T) {
	n := 1000
	if testing.Short() {
		n = 50
	}
	// Today's design (the invalidations topic only), as the baseline of
	// the same run, then servers that wait for each other.
	base := newFleet(t, testenv.Redis(t), false)
	ba, bb := base.start("a"), base.start("b")
	ca, _ := dial(t, ba.addr)
	cb, _ := dial(t, bb.addr)
	baseStale, baseLat := cycles(t, ca, cb, n)

	f := newFleet(t, testenv.Redis(t), true)
	a, b := f.start("a"), f.start("b")
	ca, _ = dial(t, a.addr)
	cb, _ = dial(t, b.addr)
	stale, lat := cycles(t, ca, cb, n)
	t.Logf("topic only: %d of %d reads on the other server stale, Persist p50 %s p99 %s", baseStale, n,
		percentile(baseLat, .5), percentile(baseLat, .99))
	t.Logf("with peers: %d of %d reads on the other server stale, Persist p50 %s p99 %s", stale, n,
		percentile(lat, .5), percentile(lat, .99))
	if stale != 0 {
		t.Fatalf("%d of %d reads on the other server were stale after Persist returned", stale, n)
	}
}

func TestAServerCutOffFromEtcdReadsTheStore(t *testing.T) {
	f := newFleet(t, testenv.Redis(t), true)
	a, b := f.start("a"), f.start("b")
	ca, _ := dial(t, a.addr)
	cb, _ := dial(t, b.addr)
	ctx := context.Background()
	if err := ca.Persist(ctx, "live", []sdk.Row{row(7, 1, "cached", time.Time{})}); err != nil {
		t.Fatal(err)
	}
	if got := labelOf(t, cb, "7"); got != "cached" { // in b's L1 for an hour
		t.Fatalf("b reads %q, want cached", got)
	}
	// A block behind the servers' backs: b's L1 hides it while b is live.
	(&fixture{reg: f.reg, store: f.store}).write(t, "live", 1, []string{"7"}, time.Now(), time.Time{},
		func(bld *codec.Builder) { bld.SetString(1, "sneaked") })
	if got := labelOf(t, cb, "7"); got != "cached" {
		t.Fatalf("b reads %q while live, want its cached value", got)
	}
	_ = b.etcd.Close() // b can no longer confirm its registration
	deadline := time.Now().Add(10 * time.Second)
	for b.metric(t, "ofs_serve_live") != 0 {
		if time.Now().After(deadline) {
			t.Fatal("b still counts itself live 10s after losing etcd")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if got := labelOf(t, cb, "7"); got != "sneaked" {
		t.Fatalf("b, cut off from etcd, reads %q: it must read the store, not its L1", got)
	}
	err := cb.Persist(ctx, "live", []sdk.Row{row(7, 2, "refused", time.Time{})})
	if !errors.Is(err, sdk.ErrNotApplied) {
		t.Fatalf("Persist on a server that is not live: %v, want not applied", err)
	}
}
