package views

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/cockroachdb/pebble/v2/vfs/errorfs"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/ofstack/ofs/codec"
	"github.com/ofstack/ofs/schema"
)

// memStore is a Store in memory, for the tests of the tiered reader that
// need no real store.
type memStore struct {
	mu     sync.Mutex
	blocks map[string][]byte
}

func newMemStore() *memStore { return &memStore{blocks: make(map[string][]byte)} }

func memStoreKey(k Key, g uint32) string { return string(appendRedisKey(nil, "", k, g)) }

func (s *memStore) put(k Key, g uint32, block []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if block == nil {
		delete(s.blocks, memStoreKey(k, g))
		return
	}
	s.blocks[memStoreKey(k, g)] = block
}

func (s *memStore) Write(_ context.Context, blocks []Block) error {
	for _, b := range blocks {
		s.put(b.Key, b.Group, b.Data)
	}
	return nil
}

func (s *memStore) Read(ctx context.Context, keys []Key, groups []uint32) ([][]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([][]byte, len(keys)*len(groups))
	for i, k := range keys {
		for j, g := range groups {
			out[i*len(groups)+j] = s.blocks[memStoreKey(k, g)]
		}
	}
	return out, nil
}

func (s *memStore) Close() error { return nil }

// countingStore counts the reads of a store and runs hooks around them.
type countingStore struct {
	Store
	reads atomic.Int64
	// before runs before the n-th read (from 1) and may fail it.
	before func(ctx context.Context, n int64) error
	// after runs after the n-th read, before it returns.
	after func(n int64)
}

func (s *countingStore) Read(ctx context.Context, keys []Key, groups []uint32) ([][]byte, error) {
	n := s.reads.Add(1)
	if s.before != nil {
		if err := s.before(ctx, n); err != nil {
			return nil, err
		}
	}
	out, err := s.Store.Read(ctx, keys, groups)
	if s.after != nil {
		s.after(n)
	}
	return out, err
}

// fakeClock is a clock that tests move.
type fakeClock struct{ us atomic.Int64 }

func newFakeClock() *fakeClock {
	c := &fakeClock{}
	c.us.Store(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixMicro())
	return c
}

func (c *fakeClock) now() time.Time          { return time.UnixMicro(c.us.Load()) }
func (c *fakeClock) micros() int64           { return c.us.Load() }
func (c *fakeClock) advance(d time.Duration) { c.us.Add(d.Microseconds()) }

// testCache returns a cache with an L1 and, with disk, an L2 in a
// directory of the test's own; it is closed at the end of the test.
func testCache(t testing.TB, disk bool, opts ...CacheOption) *Cache {
	t.Helper()
	base := []CacheOption{CacheMemory(64 << 20), CacheRegisterer(prometheus.NewRegistry())}
	if disk {
		base = append(base, CacheDisk(t.TempDir(), 64<<20))
	}
	c, err := NewCache(append(base, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return c
}

var (
	bothTiers = schema.CachePolicy{L1: true, L2: true, TTL: time.Hour}
	l1Only    = schema.CachePolicy{L1: true, TTL: time.Hour}
	l2Only    = schema.CachePolicy{L2: true, TTL: time.Hour}
	noCache   = schema.CachePolicy{}
)

func policies(p ...schema.CachePolicy) []schema.CachePolicy { return p }

func mustTiered(t testing.TB, r *Tiered, keys []Key, groups []uint32, p []schema.CachePolicy) [][]byte {
	t.Helper()
	out, err := r.Read(context.Background(), keys, groups, p)
	if err != nil {
		t.Fatalf("Read: %v", err)
	}
	if len(out) != len(keys)*len(groups) {
		t.Fatalf("Read: %d blocks for %d keys × %d groups", len(out), len(keys), len(groups))
	}
	return out
}

func userKeys(from, n int) []Key {
	keys := make([]Key, n)
	for i := range keys {
		keys[i] = key("user", strconv.Itoa(from+i))
	}
	return keys
}

// uncompressed returns block decompressed.
func uncompressed(t testing.TB, block []byte) []byte {
	t.Helper()
	b, err := codec.Decompress(nil, block)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// seedRedis writes, for each of keys, a compressed block in group 1 and
// an uncompressed one in group 2, and returns what Read must give for
// them (uncompressed).
func seedRedis(t *testing.T, s Store, keys []Key) map[string][]byte {
	t.Helper()
	want := make(map[string][]byte)
	blocks := make([]Block, 0, 2*len(keys))
	for i, k := range keys {
		b1 := fp32Block(t, 50, float32(i), 100, 0, true)
		b2 := fp32Block(t, 4, float32(i), 100, 0, false)
		if h, _ := codec.ReadHeader(b1); !h.Compressed {
			t.Fatal("the group 1 block is not compressed")
		}
		blocks = append(blocks, Block{Key: k, Group: 1, Data: b1, EventTime: 100}, Block{Key: k, Group: 2, Data: b2, EventTime: 100})
		want[memStoreKey(k, 1)] = uncompressed(t, b1)
		want[memStoreKey(k, 2)] = b2
	}
	if err := s.Write(context.Background(), blocks); err != nil {
		t.Fatal(err)
	}
	return want
}

// checkRead compares a Read of keys × groups with want (nil where want
// has nothing).
func checkRead(t *testing.T, out [][]byte, keys []Key, groups []uint32, want map[string][]byte) {
	t.Helper()
	for i, k := range keys {
		for j, g := range groups {
			got, w := out[i*len(groups)+j], want[memStoreKey(k, g)]
			if !bytes.Equal(got, w) || (got == nil) != (w == nil) {
				t.Fatalf("%s group %d: %d bytes (nil %v), want %d (nil %v)", k, g, len(got), got == nil, len(w), w == nil)
			}
		}
	}
}

// l1Get looks (k, g) up in the L1 of c.
func l1Get(c *Cache, k Key, g uint32, now int64) []byte {
	out := make([][]byte, 1)
	c.mem.lookup(c.hashKey(k), k, []uint32{g}, l1Policy, now, out)
	return out[0]
}

// TestTieredRedis: the first read comes from Redis in one store read
// (uncompressed, misses as nil), the second from the L1, misses included.
func TestTieredRedis(t *testing.T) {
	rs, _ := devRedis(t)
	store := &countingStore{Store: rs}
	c := testCache(t, true)
	r := c.Tiered(store)
	keys := userKeys(0, 110) // 100 with blocks, 10 without
	want := seedRedis(t, rs, keys[:100])
	groups, p := []uint32{1, 2}, policies(bothTiers, bothTiers)

	checkRead(t, mustTiered(t, r, keys, groups, p), keys, groups, want)
	if n := store.reads.Load(); n != 1 {
		t.Fatalf("%d store reads for one cold read of 110 keys × 2 groups, want 1", n)
	}
	checkRead(t, mustTiered(t, r, keys, groups, p), keys, groups, want)
	if n := store.reads.Load(); n != 1 {
		t.Fatalf("%d store reads after a warm read, want 1", n)
	}
	if hits, absent := metricValue(c.m.l1Hit), metricValue(c.m.l1Absent); hits != 200 || absent != 20 {
		t.Fatalf("L1: %v hits and %v cached misses, want 200 and 20", hits, absent)
	}
	// The L2 got them too, in the background.
	c.disk.sync()
	if h := getDisk(c, keys[0], 1, c.now().UnixMicro()); !h.found || !bytes.Equal(h.block, want[memStoreKey(keys[0], 1)]) {
		t.Fatal("the L2 does not hold a block read from Redis")
	}
	if h := getDisk(c, keys[105], 1, c.now().UnixMicro()); !h.found || len(h.block) != 0 {
		t.Fatal("the L2 does not hold a miss read from Redis")
	}
}

// TestTieredL2AfterL1Eviction: an L1 too small for the keys read evicts
// them; the next read finds them in the L2, not in Redis, and puts them
// back in the L1.
func TestTieredL2AfterL1Eviction(t *testing.T) {
	rs, _ := devRedis(t)
	store := &countingStore{Store: rs}
	// One shard of 8 KiB: a handful of keys of two blocks (~600 bytes).
	c := testCache(t, true, CacheMemory(8<<10), cacheMemShards(1))
	r := c.Tiered(store)
	keys := userKeys(0, 100)
	want := seedRedis(t, rs, keys)
	groups, p := []uint32{1, 2}, policies(bothTiers, bothTiers)
	checkRead(t, mustTiered(t, r, keys, groups, p), keys, groups, want)
	c.disk.sync()
	if ev := metricValue(c.m.l1Evictions); ev < 80 {
		t.Fatalf("%v L1 evictions, want most of the 100 keys evicted", ev)
	}
	l2Before := metricValue(c.m.l2Hit)
	checkRead(t, mustTiered(t, r, keys, groups, p), keys, groups, want)
	if n := store.reads.Load(); n != 1 {
		t.Fatalf("%d store reads, want 1: the second read should come from the tiers", n)
	}
	if hits := metricValue(c.m.l2Hit) - l2Before; hits < 160 {
		t.Fatalf("%v L2 hits on the second read", hits)
	}
	// A key evicted from the L1 comes from the L2, and is in the L1 again.
	k := keys[50:51]
	for _, g := range groups {
		c.mem.remove(c.hashKey(k[0]), k[0], g)
	}
	l1Before, l2Before := metricValue(c.m.l1Hit), metricValue(c.m.l2Hit)
	checkRead(t, mustTiered(t, r, k, groups, p), k, groups, want)
	checkRead(t, mustTiered(t, r, k, groups, p), k, groups, want)
	if l2, l1 := metricValue(c.m.l2Hit)-l2Before, metricValue(c.m.l1Hit)-l1Before; l2 != 2 || l1 != 2 {
		t.Fatalf("two reads of a key evicted from the L1: %v L2 hits, %v L1 hits; want 2 and 2", l2, l1)
	}
}

// waitJoined waits until n readers wait for the fetch of (k, g) (at most
// 10 s).
func waitJoined(c *Cache, k Key, g uint32, n int) bool {
	hg := hashGroup(c.hashKey(k), g)
	for range 1000 {
		c.flights.mu.Lock()
		f := c.flights.m[hg]
		joined := f != nil && f.waiters >= n
		c.flights.mu.Unlock()
		if joined {
			return true
		}
		time.Sleep(10 * time.Millisecond)
	}
	return false
}

// TestTieredSingleflight: 50 concurrent readers of the same cold keys
// cause one store read: the first reads, the others wait for it.
func TestTieredSingleflight(t *testing.T) {
	rs, _ := devRedis(t)
	var c *Cache
	keys := userKeys(0, 100)
	joined := true
	store := &countingStore{Store: rs, before: func(context.Context, int64) error {
		// Hold the read until the 49 other readers wait for it.
		joined = waitJoined(c, keys[99], 2, 49)
		return nil
	}}
	c = testCache(t, false)
	r := c.Tiered(store)
	want := seedRedis(t, rs, keys)
	groups, p := []uint32{1, 2}, policies(l1Only, l1Only)
	var wg sync.WaitGroup
	outs := make([][][]byte, 50)
	errs := make([]error, 50)
	for w := range 50 {
		wg.Go(func() { outs[w], errs[w] = r.Read(context.Background(), keys, groups, p) })
	}
	wg.Wait()
	for w := range 50 {
		if errs[w] != nil {
			t.Fatalf("reader %d: %v", w, errs[w])
		}
		checkRead(t, outs[w], keys, groups, want)
	}
	if !joined {
		t.Fatal("the other readers did not join the first one's fetch within 10 s")
	}
	if n := store.reads.Load(); n != 1 {
		t.Fatalf("%d store reads for 50 concurrent readers of the same keys, want 1", n)
	}
	if waits := metricValue(c.m.flightWaits); waits != 49*200 {
		t.Fatalf("%v misses served by another reader's fetch, want %d", waits, 49*200)
	}
}

// TestTieredInvalidate: an invalidation drops the key from both tiers, and
// the next read gets the new block from Redis.
func TestTieredInvalidate(t *testing.T) {
	rs, _ := devRedis(t)
	store := &countingStore{Store: rs}
	c := testCache(t, true)
	r := c.Tiered(store)
	keys := userKeys(0, 10)
	want := seedRedis(t, rs, keys)
	groups, p := []uint32{1, 2}, policies(bothTiers, bothTiers)
	mustTiered(t, r, keys, groups, p)
	c.disk.sync()

	k := keys[3]
	newer := fp32Block(t, 4, 99, 200, 0, false)
	if err := rs.Write(context.Background(), []Block{{Key: k, Group: 2, Data: newer, EventTime: 200}}); err != nil {
		t.Fatal(err)
	}
	r.Invalidate([]Key{k}, []uint32{2})
	now := c.now().UnixMicro()
	if l1Get(c, k, 2, now) != nil {
		t.Fatal("still in the L1 after Invalidate")
	}
	if getDisk(c, k, 2, now).found {
		t.Fatal("still in the L2 after Invalidate")
	}
	if l1Get(c, k, 1, now) == nil || !getDisk(c, k, 1, now).found {
		t.Fatal("Invalidate of group 2 dropped group 1")
	}
	want[memStoreKey(k, 2)] = newer
	checkRead(t, mustTiered(t, r, keys, groups, p), keys, groups, want)
	if n := store.reads.Load(); n != 2 {
		t.Fatalf("%d store reads, want 2 (the cold read and the invalidated key)", n)
	}
}

// TestTieredInvalidateRacingFill: an invalidation that comes while a fill
// is reading the store keeps the old block out of both tiers.
func TestTieredInvalidateRacingFill(t *testing.T) {
	rs, _ := devRedis(t)
	k := key("user", "1")
	old, newer := fp32Block(t, 4, 1, 100, 0, false), fp32Block(t, 4, 2, 200, 0, false)
	mustWrite(t, rs, Block{Key: k, Group: 1, Data: old, EventTime: 100})
	var c *Cache
	store := &countingStore{Store: rs}
	store.after = func(n int64) {
		if n == 1 { // Redis answered the old block; now the write and its invalidation
			mustWrite(t, rs, Block{Key: k, Group: 1, Data: newer, EventTime: 200})
			c.Invalidate([]Key{k}, []uint32{1})
		}
	}
	c = testCache(t, true)
	r := c.Tiered(store)
	keys, groups, p := []Key{k}, []uint32{1}, policies(bothTiers)
	if got := mustTiered(t, r, keys, groups, p)[0]; !bytes.Equal(got, old) {
		t.Fatal("the racing read did not return what Redis answered it")
	}
	c.disk.sync()
	if got := mustTiered(t, r, keys, groups, p)[0]; !bytes.Equal(got, newer) {
		t.Fatalf("after the invalidation: event time %s, want the newer block", eventTimeOf(got))
	}
	if n := store.reads.Load(); n != 2 {
		t.Fatalf("%d store reads, want 2", n)
	}
	if metricValue(c.m.l1Raced) != 1 || metricValue(c.m.l2Raced) != 1 {
		t.Fatalf("raced fills: L1 %v, L2 %v; want 1 each", metricValue(c.m.l1Raced), metricValue(c.m.l2Raced))
	}
}

// TestTieredInvalidateFlight: a read that starts after an invalidation
// does not join a fetch that began before it.
func TestTieredInvalidateFlight(t *testing.T) {
	store := newMemStore()
	k := key("user", "1")
	old, newer := fp32Block(t, 4, 1, 100, 0, false), fp32Block(t, 4, 2, 200, 0, false)
	store.put(k, 1, old)
	inRead, release := make(chan struct{}), make(chan struct{})
	cs := &countingStore{Store: store, before: func(_ context.Context, n int64) error {
		if n == 1 {
			close(inRead)
			<-release
		}
		return nil
	}}
	c := testCache(t, true)
	r := c.Tiered(cs)
	keys, groups, p := []Key{k}, []uint32{1}, policies(bothTiers)
	first := make(chan []byte)
	go func() {
		out, err := r.Read(context.Background(), keys, groups, p)
		if err != nil {
			t.Error(err)
		}
		first <- out[0]
	}()
	<-inRead
	// The first read reads the store; the store holds the old block still
	// (its read is not done): write and invalidate.
	store.put(k, 1, newer)
	r.Invalidate(keys, groups)
	// A read that joined the old fetch would wait for it, which waits for
	// this read: a deadline tells.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	out, err := r.Read(ctx, keys, groups, p)
	cancel()
	if err != nil {
		close(release)
		t.Fatalf("a read after the invalidation: %v (it joined the fetch that began before)", err)
	}
	if got := out[0]; !bytes.Equal(got, newer) {
		t.Fatalf("a read after the invalidation got event time %s, want the newer block", eventTimeOf(got))
	}
	close(release)
	<-first
	c.disk.sync()
	if got := mustTiered(t, r, keys, groups, p)[0]; !bytes.Equal(got, newer) {
		t.Fatalf("after the old fetch ended: event time %s, want the newer block", eventTimeOf(got))
	}
	if n := cs.reads.Load(); n != 2 {
		t.Fatalf("%d store reads, want 2", n)
	}
}

// TestTieredRedisDown: a Redis that stopped gives ErrUnavailable, never
// blocks as defaults, even when some blocks are cached.
func TestTieredRedisDown(t *testing.T) {
	addr, server := ownRedis(t, false)
	rs, err := OpenRedis(&redis.UniversalOptions{Addrs: []string{addr}, DialTimeout: time.Second, MaxRetries: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rs.Close() })
	c := testCache(t, true)
	r := c.Tiered(rs)
	keys := userKeys(0, 4)
	want := seedRedis(t, rs, keys)
	groups, p := []uint32{1, 2}, policies(bothTiers, bothTiers)
	checkRead(t, mustTiered(t, r, keys[:2], groups, p), keys[:2], groups, want)
	if err := server.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = server.Wait() // killed: the exit status says so
	for name, ks := range map[string][]Key{"cold keys": keys[2:], "cached and cold keys": keys} {
		out, err := r.Read(context.Background(), ks, groups, p)
		if !errors.Is(err, ErrUnavailable) || out != nil {
			t.Errorf("%s: %d blocks, %v; want none and ErrUnavailable", name, len(out), err)
		}
	}
	// What is cached is still served.
	checkRead(t, mustTiered(t, r, keys[:2], groups, p), keys[:2], groups, want)
	if metricValue(c.m.storeErrors) != 2 {
		t.Fatalf("%v store errors counted, want 2", metricValue(c.m.storeErrors))
	}
}

// TestTieredPolicies: each group is cached as its policy says, and an
// entry expires at the earlier of its TTL and its block's expiry.
func TestTieredPolicies(t *testing.T) {
	store := newMemStore()
	cs := &countingStore{Store: store}
	clock := newFakeClock()
	c := testCache(t, true, CacheClock(clock.now))
	r := c.Tiered(cs)
	k := key("user", "1")
	keys := []Key{k}
	now := clock.micros()
	soon := fp32Block(t, 4, 1, 1, now+5*time.Second.Microseconds(), false) // expires in 5 s
	late := fp32Block(t, 4, 2, 1, now+time.Hour.Microseconds(), false)     // in an hour
	store.put(k, 1, soon)
	store.put(k, 2, late)
	store.put(k, 3, late)
	store.put(k, 4, late)
	ttl := schema.CachePolicy{L1: true, L2: true, TTL: 10 * time.Second}
	groups := []uint32{1, 2, 3, 4, 5}
	p := policies(ttl, ttl, noCache, l2Only, ttl) // group 5: no block, a cached miss for 10 s

	read := func(wantReads int64, want ...[]byte) {
		t.Helper()
		out := mustTiered(t, r, keys, groups, p)
		for j := range want {
			if !bytes.Equal(out[j], want[j]) || (out[j] == nil) != (want[j] == nil) {
				t.Fatalf("group %d: %d bytes, want %d", groups[j], len(out[j]), len(want[j]))
			}
		}
		if n := cs.reads.Load(); n != wantReads {
			t.Fatalf("%d store reads, want %d", n, wantReads)
		}
	}
	read(1, soon, late, late, late, nil)
	read(2, soon, late, late, late, nil) // group 3 (no cache) goes to the store again
	c.disk.sync()
	if l1Get(c, k, 4, clock.micros()) != nil || !getDisk(c, k, 4, clock.micros()).found {
		t.Fatal("the L2-only group is in the L1, or not in the L2")
	}
	clock.advance(5 * time.Second) // group 1's block expired: read again, returned as it is
	read(3, soon, late, late, late, nil)
	clock.advance(5 * time.Second) // every TTL is up
	read(4, soon, late, late, late, nil)
}

// TestTieredDuplicates: keys and groups asked for twice get their blocks
// in every place, from one store read.
func TestTieredDuplicates(t *testing.T) {
	store := newMemStore()
	cs := &countingStore{Store: store}
	a, b := key("user", "a"), key("user", "b")
	ba1, bb2 := fp32Block(t, 4, 1, 1, 0, false), fp32Block(t, 4, 2, 1, 0, false)
	store.put(a, 1, ba1)
	store.put(b, 2, bb2)
	c := testCache(t, false)
	r := c.Tiered(cs)
	for range 2 { // cold, then warm
		out := mustTiered(t, r, []Key{a, b, a}, []uint32{1, 2, 1}, policies(bothTiers, noCache, bothTiers))
		want := [][]byte{ba1, nil, ba1, nil, bb2, nil, ba1, nil, ba1}
		for i := range want {
			if !bytes.Equal(out[i], want[i]) || (out[i] == nil) != (want[i] == nil) {
				t.Fatalf("entry %d: %d bytes, want %d", i, len(out[i]), len(want[i]))
			}
		}
	}
	if n := cs.reads.Load(); n != 2 {
		t.Fatalf("%d store reads, want 2 (one per read: group 2 is not cached)", n)
	}
}

// TestTieredLeaderCanceled: a reader waiting for another's fetch, whose
// context is canceled, fetches for itself.
func TestTieredLeaderCanceled(t *testing.T) {
	store := newMemStore()
	k := key("user", "1")
	block := fp32Block(t, 4, 1, 1, 0, false)
	store.put(k, 1, block)
	inRead := make(chan struct{})
	cs := &countingStore{Store: store, before: func(ctx context.Context, n int64) error {
		if n == 1 {
			close(inRead)
			<-ctx.Done()
			return ctx.Err()
		}
		return nil
	}}
	c := testCache(t, false)
	r := c.Tiered(cs)
	keys, groups, p := []Key{k}, []uint32{1}, policies(noCache)
	ctx, cancel := context.WithCancel(context.Background())
	leader := make(chan error)
	go func() {
		_, err := r.Read(ctx, keys, groups, p)
		leader <- err
	}()
	<-inRead
	follower := make(chan []byte)
	go func() { follower <- mustTiered(t, r, keys, groups, p)[0] }()
	if !waitJoined(c, k, 1, 1) {
		t.Fatal("the follower did not join the leader's fetch")
	}
	cancel()
	if err := <-leader; !errors.Is(err, context.Canceled) {
		t.Fatalf("leader: %v, want context.Canceled", err)
	}
	if got := <-follower; !bytes.Equal(got, block) {
		t.Fatal("the follower did not get the block")
	}
	if n := cs.reads.Load(); n != 2 {
		t.Fatalf("%d store reads, want 2 (the canceled one and the follower's own)", n)
	}
}

// TestTieredCorrupt: a block that fails its checksum is returned as it is,
// not cached, and counted.
func TestTieredCorrupt(t *testing.T) {
	store := newMemStore()
	cs := &countingStore{Store: store}
	k := key("user", "1")
	bad := fp32Block(t, 4, 1, 1, 0, false)
	bad[len(bad)-1] ^= 0xff
	store.put(k, 1, bad)
	c := testCache(t, true, CacheLogger(slog.New(slog.DiscardHandler)))
	r := c.Tiered(cs)
	for range 2 {
		if got := mustTiered(t, r, []Key{k}, []uint32{1}, policies(bothTiers))[0]; !bytes.Equal(got, bad) {
			t.Fatal("the corrupt block was not returned as the store gave it")
		}
	}
	if n := cs.reads.Load(); n != 2 {
		t.Fatalf("%d store reads, want 2: a corrupt block is not cached", n)
	}
	if metricValue(c.m.storeErrors) != 2 {
		t.Fatalf("%v store errors, want 2", metricValue(c.m.storeErrors))
	}
}

// TestTieredDiskErrors: an L2 whose reads fail is a tier of misses: reads
// get the store's blocks, without error.
func TestTieredDiskErrors(t *testing.T) {
	var failing atomic.Bool
	fs := errorfs.Wrap(vfs.Default, errorfs.InjectorFunc(func(op errorfs.Op) error {
		if failing.Load() && strings.HasSuffix(op.Path, ".sst") {
			return errorfs.ErrInjected
		}
		return nil
	}))
	store := newMemStore()
	cs := &countingStore{Store: store}
	c := testCache(t, true, CacheMemory(0), cacheDiskFS(fs), CacheLogger(slog.New(slog.DiscardHandler)))
	r := c.Tiered(cs)
	keys := userKeys(0, 20)
	want := make(map[string][]byte)
	for i, k := range keys {
		b := fp32Block(t, 4, float32(i), 1, 0, false)
		store.put(k, 1, b)
		want[memStoreKey(k, 1)] = b
	}
	groups, p := []uint32{1}, policies(l2Only)
	checkRead(t, mustTiered(t, r, keys, groups, p), keys, groups, want)
	c.disk.sync()
	if err := c.disk.db.Flush(); err != nil {
		t.Fatal(err)
	}
	failing.Store(true)
	checkRead(t, mustTiered(t, r, keys, groups, p), keys, groups, want)
	if n := cs.reads.Load(); n != 2 {
		t.Fatalf("%d store reads, want 2: the L2 could not serve the second", n)
	}
	if metricValue(c.m.l2Errors) == 0 {
		t.Fatal("no L2 error counted")
	}
	failing.Store(false)
}

// TestTieredReader: the reader with a policy function reads like a Store.
func TestTieredReader(t *testing.T) {
	store := newMemStore()
	cs := &countingStore{Store: store}
	k := key("user", "1")
	block := fp32Block(t, 4, 1, 1, 0, false)
	store.put(k, 7, block)
	c := testCache(t, false)
	var asked []uint32
	rd := c.Tiered(cs).Reader(func(g uint32) schema.CachePolicy {
		asked = append(asked, g)
		if g == 7 {
			return l1Only
		}
		return noCache
	})
	for range 2 {
		out, err := rd.Read(context.Background(), []Key{k}, []uint32{7, 8})
		if err != nil || !bytes.Equal(out[0], block) || out[1] != nil {
			t.Fatalf("Read: %v, %v", out, err)
		}
	}
	if n := cs.reads.Load(); n != 2 || fmt.Sprint(asked) != "[7 8 7 8]" {
		t.Fatalf("%d store reads (want 2), policies asked for %v", n, asked)
	}
	if _, err := c.Tiered(cs).Read(context.Background(), []Key{k}, []uint32{7}, nil); !errors.Is(err, ErrInvalidOption) {
		t.Fatalf("Read without policies: %v, want ErrInvalidOption", err)
	}
	if _, err := c.Tiered(cs).Read(context.Background(), []Key{{}}, []uint32{7}, policies(l1Only)); !errors.Is(err, ErrInvalidKey) {
		t.Fatalf("Read of an empty key: %v, want ErrInvalidKey", err)
	}
}

// TestTieredConcurrent: readers, and a writer that writes a newer block
// then invalidates it, run together over both tiers; a read that starts
// after an invalidation returned never gets a block older than the write
// it followed. Run with -race.
func TestTieredConcurrent(t *testing.T) {
	store := newMemStore()
	c := testCache(t, true, CacheMemory(1<<20))
	r := c.Tiered(store)
	const nkeys = 20
	keys := userKeys(0, nkeys)
	var published [nkeys]atomic.Int64 // the latest version whose invalidation returned
	blocks := make(map[int64][]byte)
	for v := int64(1); v <= 200; v++ {
		blocks[v] = fp32Block(t, 4, float32(v), v, 0, false)
	}
	for i, k := range keys {
		store.put(k, 1, blocks[1])
		published[i].Store(1)
	}
	groups, p := []uint32{1}, policies(bothTiers)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		defer close(stop)
		rng := rand.New(rand.NewPCG(1, 1))
		for v := int64(2); v <= 200; v++ {
			i := rng.IntN(nkeys)
			store.put(keys[i], 1, blocks[v])
			c.Invalidate(keys[i:i+1], groups)
			published[i].Store(v)
			time.Sleep(100 * time.Microsecond)
		}
	})
	errs := make(chan error, 4)
	for w := range 4 {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 2))
			for {
				select {
				case <-stop:
					return
				default:
				}
				i := rng.IntN(nkeys)
				floor := published[i].Load()
				out, err := r.Read(context.Background(), keys[i:i+1], groups, p)
				if err != nil {
					errs <- err
					return
				}
				v, err := codec.EventTime(out[0])
				if err != nil {
					errs <- err
					return
				}
				// A key's versions grow; one older than the version whose
				// invalidation returned before the read began is one the
				// invalidation should have kept out.
				if v < floor {
					errs <- fmt.Errorf("key %d: read version %d after version %d was invalidated", i, v, floor)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// TestTieredAllocs: a read served by the L1 allocates its result and
// nothing else, through Tiered and through TieredReader.
func TestTieredAllocs(t *testing.T) {
	store := newMemStore()
	keys := userKeys(0, 100)
	groups := []uint32{1, 2, 3}
	for _, k := range keys {
		for _, g := range groups {
			store.put(k, g, fp32Block(t, 50, 1, 1, 0, false))
		}
	}
	c := testCache(t, false)
	r := c.Tiered(store)
	p := policies(l1Only, l1Only, l1Only)
	rd := r.Reader(func(uint32) schema.CachePolicy { return l1Only })
	ctx := context.Background()
	mustTiered(t, r, keys, groups, p)
	reads := map[string]func() ([][]byte, error){
		"Tiered":       func() ([][]byte, error) { return r.Read(ctx, keys, groups, p) },
		"TieredReader": func() ([][]byte, error) { return rd.Read(ctx, keys, groups) },
	}
	for name, read := range reads {
		var err error
		allocs := testing.AllocsPerRun(100, func() {
			var out [][]byte
			if out, err = read(); err == nil && out[len(out)-1] == nil {
				err = errors.New("a block is missing")
			}
		})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if allocs != 1 {
			t.Errorf("%s: %v allocations per read of 100 keys × 3 groups from the L1, want 1 (the result)", name, allocs)
		}
	}
}

// TestTieredReadVerified: blocks are reported verified only when all came
// from the L1; a corrupt block from the store never is, so the caller's
// codec.Reader still catches it.
func TestTieredReadVerified(t *testing.T) {
	store := newMemStore()
	good, bad := key("user", "1"), key("user", "2")
	store.put(good, 1, fp32Block(t, 4, 1, 1, 0, false))
	corrupt := fp32Block(t, 4, 1, 1, 0, false)
	corrupt[len(corrupt)-1] ^= 0xff
	store.put(bad, 1, corrupt)
	c := testCache(t, true, CacheLogger(slog.New(slog.DiscardHandler)))
	r := c.Tiered(store).Reader(func(uint32) schema.CachePolicy { return bothTiers })
	for n, want := range []bool{false, true} { // from the store, then from the L1
		if _, verified, err := r.ReadVerified(t.Context(), []Key{good}, []uint32{1}, nil); err != nil || verified != want {
			t.Fatalf("read %d of a good block: verified %v, err %v; want %v", n, verified, err, want)
		}
	}
	for range 2 {
		out, verified, err := r.ReadVerified(t.Context(), []Key{good, bad}, []uint32{1}, make([][]byte, 1, 4))
		if err != nil || verified {
			t.Fatalf("a read with a corrupt block from the store: verified %v, err %v", verified, err)
		}
		if _, err := codec.Verify(out[1]); !errors.Is(err, codec.ErrCorrupt) {
			t.Fatalf("the corrupt block: %v, want ErrCorrupt", err)
		}
	}
}
