package views

import (
	"context"
	"math/rand/v2"
	"strconv"
	"testing"

	"github.com/ofstack/ofs/codec"
	"github.com/ofstack/ofs/schema"
)

// benchBlocks puts, for 100 keys and each of groups, a block of a row of 50
// fp32 features with random values (232 bytes, which zstd does not shrink)
// into s, and returns the keys.
func benchBlocks(b *testing.B, s Store, groups []uint32) []Key {
	b.Helper()
	rng := rand.New(rand.NewPCG(1, 1))
	keys := userKeys(0, 100)
	blocks := make([]Block, 0, len(keys)*len(groups))
	for _, k := range keys {
		for _, g := range groups {
			blk := randomBlock(b, rng, 50)
			if len(blk) != codec.HeaderSize+200 {
				b.Fatalf("block of %d bytes", len(blk))
			}
			blocks = append(blocks, Block{Key: k, Group: g, Data: blk, EventTime: 1})
		}
	}
	if err := s.Write(context.Background(), blocks); err != nil {
		b.Fatal(err)
	}
	return keys
}

func benchTiered(b *testing.B, r *Tiered, keys []Key, groups []uint32, p []schema.CachePolicy) {
	b.Helper()
	ctx := context.Background()
	if _, err := r.Read(ctx, keys, groups, p); err != nil { // warm
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		out, err := r.Read(ctx, keys, groups, p)
		if err != nil {
			b.Fatal(err)
		}
		if out[len(out)-1] == nil {
			b.Fatal("a block is missing")
		}
	}
	b.ReportMetric(float64(b.N)*float64(len(keys))/b.Elapsed().Seconds(), "keys/s")
}

// BenchmarkCacheL1Hit reads 100 keys × 1 and × 3 groups, all in the L1.
func BenchmarkCacheL1Hit(b *testing.B) {
	for _, n := range []int{1, 3} {
		b.Run("groups="+strconv.Itoa(n), func(b *testing.B) {
			groups := []uint32{1, 2, 3}[:n]
			p := []schema.CachePolicy{bothTiers, bothTiers, bothTiers}[:n]
			store := newMemStore()
			keys := benchBlocks(b, store, groups)
			c := testCache(b, false)
			benchTiered(b, c.Tiered(store), keys, groups, p)
		})
	}
}

// BenchmarkCacheL1HitParallel is BenchmarkCacheL1Hit with 1 group from
// GOMAXPROCS goroutines.
func BenchmarkCacheL1HitParallel(b *testing.B) {
	groups, p := []uint32{1}, policies(bothTiers)
	store := newMemStore()
	keys := benchBlocks(b, store, groups)
	c := testCache(b, false)
	r := c.Tiered(store)
	ctx := context.Background()
	if _, err := r.Read(ctx, keys, groups, p); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := r.Read(ctx, keys, groups, p); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)*float64(len(keys))/b.Elapsed().Seconds(), "keys/s")
}

// BenchmarkCacheL2Hit reads 100 keys × 1 group from the L2 (no L1).
func BenchmarkCacheL2Hit(b *testing.B) {
	groups, p := []uint32{1}, policies(l2Only)
	store := newMemStore()
	keys := benchBlocks(b, store, groups)
	c := testCache(b, true, CacheMemory(0))
	r := c.Tiered(store)
	if _, err := r.Read(context.Background(), keys, groups, p); err != nil {
		b.Fatal(err)
	}
	c.disk.sync()
	before := metricValue(c.m.storeReads)
	benchTiered(b, r, keys, groups, p)
	if metricValue(c.m.storeReads) != before {
		b.Fatal("the store was read: not all L2 hits")
	}
}

// BenchmarkCacheTieredRedis reads 100 keys × 1 group from Redis through the
// tiered reader, with a policy that caches nothing: the cost of the miss
// path over BenchmarkRedisRead.
func BenchmarkCacheTieredRedis(b *testing.B) {
	s, _ := devRedis(b)
	groups := []uint32{1}
	keys := benchBlocks(b, s, groups)
	c := testCache(b, false)
	benchTiered(b, c.Tiered(s), keys, groups, policies(noCache))
}

// BenchmarkCacheL1RandomKeys reads 100 random keys of 100,000 held in the
// L1 (about 30 MB of rows and blocks: more than the CPU's caches), one group:
// what a feature server's lookups cost when its working set is not hot.
func BenchmarkCacheL1RandomKeys(b *testing.B) {
	const held = 100_000
	groups, p := []uint32{1}, policies(bothTiers)
	store := newMemStore()
	rng := rand.New(rand.NewPCG(1, 2))
	keys := userKeys(0, held)
	blocks := make([]Block, len(keys))
	for i, k := range keys {
		blocks[i] = Block{Key: k, Group: 1, Data: randomBlock(b, rng, 50), EventTime: 1}
	}
	if err := store.Write(context.Background(), blocks); err != nil {
		b.Fatal(err)
	}
	r := testCache(b, false, CacheMemory(1<<30)).Tiered(store)
	ctx := context.Background()
	for i := 0; i < held; i += 1000 { // fill the L1
		if _, err := r.Read(ctx, keys[i:i+1000], groups, p); err != nil {
			b.Fatal(err)
		}
	}
	batches := make([][]Key, 1024)
	for i := range batches {
		batches[i] = make([]Key, 100)
		for j := range batches[i] {
			batches[i][j] = keys[rng.IntN(held)]
		}
	}
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		out, err := r.Read(ctx, batches[n%len(batches)], groups, p)
		if err != nil {
			b.Fatal(err)
		}
		if out[99] == nil {
			b.Fatal("a block is missing")
		}
		n++
	}
	b.ReportMetric(float64(b.N)*100/b.Elapsed().Seconds(), "keys/s")
}
