package loadgen

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"runtime"
	"runtime/pprof"
	"strconv"
	"time"

	"github.com/ofstack/ofs/codec"
	"github.com/ofstack/ofs/internal/blocks"
	"github.com/ofstack/ofs/schema"
	"github.com/ofstack/ofs/servers"
	"github.com/ofstack/ofs/servers/feature"
	"github.com/ofstack/ofs/views"
)

// Target is the server half of `ofs bench retrieve`: a feature server over
// a synthetic registry (entity bench_user, keyed by id; group bench_fp32
// of Features fp32 features) whose store holds Keys seeded keys, beside
// the gRPC echo server of EchoService.
type Target struct {
	Keys, Features int
	// Cache reads through the L1, warmed with every key first, so that
	// every request is an L1 hit; without it every request reads the
	// store.
	Cache bool
	// Kind is the registry kind of the store Open opens from the
	// synthetic registry.
	Kind schema.StoreKind
	Open func(*schema.Registry) (views.Store, error)
}

// Serve seeds the store, listens on a loopback port, writes "READY
// host:port" and a newline to ready, and serves until ctx is done.
// OFS_BENCH_CPUPROFILE names a file for a CPU profile of the first 8s,
// OFS_BENCH_MEMPROFILE one for the allocations of the first 8s.
func (o Target) Serve(ctx context.Context, ready io.Writer) error {
	features := make([]schema.Feature, o.Features)
	for i := range features {
		features[i] = schema.Feature{Name: fmt.Sprintf("f%03d", i), Type: schema.FP32}
	}
	reg := schema.NewRegistry()
	at := time.Now()
	for i, c := range []schema.Command{
		schema.ApplyStore{ID: "bench", Kind: o.Kind, Connection: "bench"},
		schema.ApplyEntity{Name: "bench_user", Keys: []schema.KeyColumn{{Name: "id", Type: schema.Int64}}},
		schema.ApplyFeatureGroup{Name: "bench_fp32", Entity: "bench_user", ID: 1, Store: "bench", Features: features},
	} {
		var err error
		if reg, _, err = reg.Apply(schema.Request{ID: strconv.Itoa(i), Actor: "bench", Command: c}, at); err != nil {
			return err
		}
	}
	store, err := o.Open(reg)
	if err != nil {
		return err
	}
	defer store.Close()
	if err := seed(ctx, store, reg, o); err != nil {
		return err
	}
	holder := schema.NewHolder(schema.NewSnapshot(reg))
	var reader feature.Reader = store
	if o.Cache {
		cache, err := views.NewCache(views.CacheMemory(1 << 30))
		if err != nil {
			return err
		}
		defer cache.Close()
		tiered := cache.Tiered(store).Reader(func(uint32) schema.CachePolicy {
			return schema.CachePolicy{L1: true, TTL: time.Hour}
		})
		if err := warm(ctx, tiered, o); err != nil {
			return err
		}
		reader = tiered
	}
	srv := feature.New(holder, func(string) (feature.Reader, error) { return reader, nil })
	gs, _ := servers.NewGRPC(slog.New(slog.DiscardHandler))
	feature.Register(gs, srv)
	gs.RegisterService(&EchoService, nil)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	if path := os.Getenv("OFS_BENCH_CPUPROFILE"); path != "" { // a profile of the server half, for whoever tunes it
		f, err := os.Create(path)
		if err != nil {
			return err
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		go func() {
			time.Sleep(8 * time.Second)
			pprof.StopCPUProfile()
			_ = f.Close()
		}()
	}
	if path := os.Getenv("OFS_BENCH_MEMPROFILE"); path != "" { // what the server half allocates, sampled finely
		f, err := os.Create(path)
		if err != nil {
			return err
		}
		runtime.MemProfileRate = 512
		go func() {
			time.Sleep(8 * time.Second)
			_ = pprof.Lookup("allocs").WriteTo(f, 0)
			_ = f.Close()
		}()
	}
	if _, err := fmt.Fprintf(ready, "READY %s\n", lis.Addr()); err != nil {
		_ = lis.Close() // the error says more
		return err
	}
	go func() {
		<-ctx.Done()
		gs.Stop()
	}()
	return gs.Serve(lis)
}

// warm reads every key once through the cache, so that every request of
// the measurement is an L1 hit.
func warm(ctx context.Context, r feature.Reader, o Target) error {
	keys := make([]views.Key, 0, 1000)
	for k := range o.Keys {
		keys = append(keys, views.Key{Entity: "bench_user", Values: []string{strconv.Itoa(k)}})
		if len(keys) == cap(keys) || k == o.Keys-1 {
			if _, err := r.Read(ctx, keys, []uint32{1}); err != nil {
				return fmt.Errorf("warm the cache: %w", err)
			}
			keys = keys[:0]
		}
	}
	return nil
}

// seed writes one block per key, 1000 per Write.
func seed(ctx context.Context, store views.Store, reg *schema.Registry, o Target) error {
	g, _ := reg.FeatureGroup("bench_fp32")
	l, err := blocks.NewLayout(g.Active())
	if err != nil {
		return err
	}
	b := codec.NewBuilder(l)
	vals := make([]float32, o.Features)
	now := time.Now().UnixMicro()
	batch := make([]views.Block, 0, 1000)
	for k := range o.Keys {
		for i := range vals {
			vals[i] = float32(k) + float32(i)/1000
		}
		b.Reset()
		b.SetFloat32Columns(0, vals)
		data, err := b.Append(nil, now, codec.NeverExpires)
		if err != nil {
			return err
		}
		batch = append(batch, views.Block{Key: views.Key{Entity: "bench_user", Values: []string{strconv.Itoa(k)}},
			Group: g.ID, Data: data, EventTime: now})
		if len(batch) == cap(batch) || k == o.Keys-1 {
			if err := store.Write(ctx, batch); err != nil {
				return fmt.Errorf("seed: %w", err)
			}
			batch = batch[:0]
		}
	}
	return nil
}
