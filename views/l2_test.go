package views

import (
	"bytes"
	"errors"
	"log/slog"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/cockroachdb/pebble/v2/vfs/errorfs"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/ofstack/ofs/codec"
)

// testDisk returns a cache with only an L2 of limit bytes in gens
// generations, in a directory of the test's own, closed at the end.
func testDisk(t *testing.T, limit int64, gens int, opts ...CacheOption) *Cache {
	t.Helper()
	c, err := NewCache(append([]CacheOption{CacheMemory(0), CacheDisk(t.TempDir(), limit), cacheGenerations(gens),
		CacheRegisterer(prometheus.NewRegistry())}, opts...)...)
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

func putDisk(c *Cache, k Key, g uint32, expires int64, block []byte) {
	c.disk.fill(hashGroup(c.hashKey(k), g), k, g, c.seq.Load(), expires, block)
}

func getDisk(c *Cache, k Key, g uint32, now int64) diskHit {
	var buf []byte
	return c.disk.get(hashGroup(c.hashKey(k), g), k, g, now, &buf)
}

// randomBlock returns a block of n fp32 features with random bits, which
// zstd cannot shrink.
func randomBlock(tb testing.TB, rng *rand.Rand, n int) []byte {
	tb.Helper()
	fp32Block(tb, n, 0, 0, 0, false) // makes the layout
	l, _ := fp32Layouts.Load(n)
	b := codec.NewBuilder(l.(*codec.Layout))
	for i := range n {
		b.SetFloat32(i, math.Float32frombits(rng.Uint32()&^(1<<30))) // no NaN, no Inf
	}
	block, err := b.AppendCompressed(nil, 1, 0)
	if err != nil {
		tb.Fatal(err)
	}
	return block
}

func TestDiskRoundTrip(t *testing.T) {
	c := testDisk(t, 8<<20, 8)
	k := key("user", "42")
	block := fp32Block(t, 50, 0.5, 1000, 0, false) // zstd shrinks it in the L2
	putDisk(c, k, 1, 5000, block)
	putDisk(c, k, 2, 5000, nil)
	c.disk.sync()

	h := getDisk(c, k, 1, 0)
	if !h.found || !bytes.Equal(h.block, block) || h.expires != 5000 {
		t.Fatalf("group 1: found %v, %d bytes, expires %d; want the block back uncompressed, expiring at 5000", h.found, len(h.block), h.expires)
	}
	if h := getDisk(c, k, 2, 0); !h.found || h.block == nil || len(h.block) != 0 {
		t.Fatalf("group 2 (a cached miss): found %v, block %v", h.found, h.block)
	}
	if h := getDisk(c, k, 3, 0); h.found {
		t.Fatal("group 3 was never filled but is found")
	}
	if h := getDisk(c, key("user", "43"), 1, 0); h.found {
		t.Fatal("another key is found")
	}
	// Stored compressed: the value on disk is smaller than the block.
	v, closer, err := c.disk.db.Get(appendDiskKey(nil, 1, k, 1))
	if err != nil {
		t.Fatal(err)
	}
	defer closer.Close()
	if hd, err := codec.ReadHeader(v[diskValueHeader:]); err != nil || !hd.Compressed {
		t.Fatalf("stored block: compressed %v, %v", hd.Compressed, err)
	}
}

// TestDiskTTL: an entry is served until its cache expiry, exclusive.
func TestDiskTTL(t *testing.T) {
	c := testDisk(t, 8<<20, 8)
	k := key("user", "1")
	putDisk(c, k, 1, 1000, fp32Block(t, 4, 1, 1, 0, false))
	c.disk.sync()
	if !getDisk(c, k, 1, 999).found {
		t.Fatal("not found before its expiry")
	}
	if getDisk(c, k, 1, 1000).found {
		t.Fatal("found at its expiry")
	}
}

// TestDiskBound writes ten times the bound: the live data stays within
// the bound, the disk usage near it, recent entries are found and old ones
// evicted a generation at a time, and no drop reads the data it drops.
func TestDiskBound(t *testing.T) {
	const limit = 8 << 20
	var counting atomic.Bool
	var sstReads, dropReads atomic.Int64
	fs := errorfs.Wrap(vfs.Default, errorfs.InjectorFunc(func(op errorfs.Op) error {
		if strings.HasSuffix(op.Path, ".sst") && (op.Kind == errorfs.OpFileReadAt || op.Kind == errorfs.OpFileRead) {
			sstReads.Add(1)
			if counting.Load() {
				dropReads.Add(1)
			}
		}
		return nil
	}))
	c := testDisk(t, limit, 8, cacheDiskFS(fs))
	drops := 0
	c.disk.onDrop = func(done bool) {
		counting.Store(!done)
		if done {
			drops++
		}
	}
	rng := rand.New(rand.NewPCG(3, 4))
	blocks := make([][]byte, 16)
	for i := range blocks {
		blocks[i] = randomBlock(t, rng, 250) // 1 KB
	}
	const n = 80_000 // ~10× the bound
	var written int64
	maxUsage := uint64(0)
	for i := range n {
		b := blocks[i%len(blocks)]
		putDisk(c, key("user", strconv.Itoa(i)), 1, 1<<62, b)
		written += int64(len(b))
		if i%2000 == 1999 {
			c.disk.sync()
			if live := metricValue(c.m.l2Bytes); live > limit {
				t.Fatalf("after %d MiB: %v bytes live, over the bound of %d", written>>20, live, limit)
			}
			maxUsage = max(maxUsage, c.disk.diskUsage())
		}
	}
	c.disk.sync()
	if dropped := metricValue(c.m.l2QueueFull); dropped > 0 {
		t.Logf("%v fills dropped on a full queue", dropped)
	}
	t.Logf("wrote %d MiB; disk usage at most %.1f MiB (bound %d MiB); %d generations dropped; %d sstable reads during drops, %d in all",
		written>>20, float64(maxUsage)/(1<<20), limit>>20, drops, dropReads.Load(), sstReads.Load())
	// The live data is at most the bound; on disk come the sstables'
	// indexes and filters, and a flushed generation not yet deleted.
	if maxUsage > limit*5/4 {
		t.Fatalf("disk usage reached %d bytes, over 1.25 × the bound of %d", maxUsage, limit)
	}
	if drops < 60 || metricValue(c.m.l2Evictions) != float64(drops) {
		t.Fatalf("%d generations dropped (counted %v) for %d MiB written into %d MiB", drops,
			metricValue(c.m.l2Evictions), written>>20, limit>>20)
	}
	// Each drop removed about 1 MiB of sstables (~250 blocks of 4 KiB); a
	// drop that read them would count hundreds of reads per drop.
	if r := dropReads.Load(); r > 4*int64(drops) {
		t.Fatalf("%d sstable reads during %d drops: the drops read the data", r, drops)
	}
	if !getDisk(c, key("user", strconv.Itoa(n-1)), 1, 0).found {
		t.Fatal("the last entry written is not found")
	}
	if getDisk(c, key("user", "0"), 1, 0).found {
		t.Fatal("the first entry written is still found")
	}
	found := 0
	for i := n - 4000; i < n; i++ {
		if getDisk(c, key("user", strconv.Itoa(i)), 1, 0).found {
			found++
		}
	}
	if found < 3900 {
		t.Fatalf("%d of the last 4000 entries found", found)
	}
}

// TestDiskIndex: the in-memory index finds an entry's generation, forgets
// it, ignores dropped generations, and replaces the oldest slot of a full
// bucket.
func TestDiskIndex(t *testing.T) {
	c := testDisk(t, 8<<20, 4)
	d := c.disk
	hg := func(bucket, fp uint64) uint64 { return fp<<hintFPShift | bucket*hintBucket }
	d.current.Store(10)
	d.oldest.Store(7)
	if !d.point(hg(1, 5), 9, c.seq.Load()) {
		t.Fatal("point refused")
	}
	if g, ok := d.find(hg(1, 5)); !ok || g != 9 {
		t.Fatalf("find: %d, %v; want 9", g, ok)
	}
	if _, ok := d.find(hg(1, 6)); ok {
		t.Fatal("another fingerprint found")
	}
	d.point(hg(1, 5), 10, c.seq.Load())
	if g, _ := d.find(hg(1, 5)); g != 10 {
		t.Fatalf("rewritten into 10, found in %d", g)
	}
	// Fill the bucket with entries of generations 7, 8, 9; the fifth
	// fingerprint takes the slot of generation 7.
	for fp, g := range map[uint64]uint32{6: 7, 7: 8, 8: 9} {
		d.point(hg(1, fp), g, c.seq.Load())
	}
	d.point(hg(1, 9), 10, c.seq.Load())
	if _, ok := d.find(hg(1, 6)); ok {
		t.Fatal("the oldest entry of a full bucket was kept")
	}
	for _, fp := range []uint64{5, 7, 8, 9} {
		if _, ok := d.find(hg(1, fp)); !ok {
			t.Fatalf("fingerprint %d lost", fp)
		}
	}
	// A dropped generation is not found.
	d.oldest.Store(9)
	if _, ok := d.find(hg(1, 7)); ok {
		t.Fatal("an entry of a dropped generation is found")
	}
	d.forget(hg(1, 5))
	if _, ok := d.find(hg(1, 5)); ok {
		t.Fatal("a forgotten entry is found")
	}
	// An invalidation after the fill began: point refuses.
	c.epochs.advance(hg(2, 1), c.seq.Add(1))
	if d.point(hg(2, 1), 10, c.seq.Load()-1) {
		t.Fatal("point took a fill older than an invalidation")
	}
	// Tags wrap around every 255 generations.
	d.current.Store(300)
	d.oldest.Store(297)
	d.point(hg(3, 1), 298, c.seq.Load())
	if g, ok := d.find(hg(3, 1)); !ok || g != 298 {
		t.Fatalf("after the tags wrapped: %d, %v", g, ok)
	}
	d.current.Store(1)
	d.oldest.Store(1)
}

// TestDiskPromotion: a hit in an old generation is written again into the
// current one, so the entry outlives its generation.
func TestDiskPromotion(t *testing.T) {
	c := testDisk(t, 4<<20, 4) // generations of 1 MiB
	rng := rand.New(rand.NewPCG(5, 6))
	filler := randomBlock(t, rng, 250)
	hot := key("user", "hot")
	block := fp32Block(t, 8, 2, 1, 0, false)
	putDisk(c, hot, 1, 1<<62, block)
	next := 0
	advance := func(gens uint32) {
		target := c.disk.current.Load() + gens
		for c.disk.current.Load() < target {
			for range 200 {
				putDisk(c, key("user", strconv.Itoa(next)), 1, 1<<62, filler)
				next++
			}
			c.disk.sync()
		}
	}
	advance(2) // the hot entry is now 2 generations old: promoted on a hit
	h := getDisk(c, hot, 1, 0)
	if !h.found || h.promoteKey == nil {
		t.Fatalf("hit in an old generation: found %v, promote %v", h.found, h.promoteKey != nil)
	}
	c.disk.promote(hashGroup(c.hashKey(hot), 1), c.seq.Load(), h.promoteKey, h.promoteValue)
	c.disk.sync()
	if g, _ := c.disk.find(hashGroup(c.hashKey(hot), 1)); g != c.disk.current.Load() {
		t.Fatalf("promoted into %d, current %d", g, c.disk.current.Load())
	}
	promotedTo := c.disk.current.Load()
	advance(3) // the original generation is dropped
	if h := getDisk(c, hot, 1, 0); !h.found || !bytes.Equal(h.block, block) {
		// Seen once in CI (2026-12-03) and not in 180 local runs: the state
		// says which part lost it.
		g, indexed := c.disk.find(hashGroup(c.hashKey(hot), 1))
		t.Fatalf("the promoted entry is lost with its old generation: found %v, %d bytes; promoted into %d, index says %d (%v), current %d, oldest %d, errors %v",
			h.found, len(h.block), promotedTo, g, indexed, c.disk.current.Load(), c.disk.oldest.Load(), metricValue(c.m.l2Errors))
	}
	if metricValue(c.m.promotions) != 1 {
		t.Fatalf("%v promotions counted", metricValue(c.m.promotions))
	}
}

// TestDiskReadErrors: sstable reads that fail are misses, counted; reads
// work again once the errors stop.
func TestDiskReadErrors(t *testing.T) {
	var failing atomic.Bool
	inj := errorfs.InjectorFunc(func(op errorfs.Op) error {
		if failing.Load() && op.Kind.ReadOrWrite() == errorfs.OpIsRead && strings.HasSuffix(op.Path, ".sst") {
			return errorfs.ErrInjected
		}
		return nil
	})
	c := testDisk(t, 8<<20, 8, cacheDiskFS(errorfs.Wrap(vfs.Default, inj)))
	k := key("user", "1")
	block := fp32Block(t, 50, 0.25, 1, 0, false)
	putDisk(c, k, 1, 1<<62, block)
	c.disk.sync()
	if err := c.disk.db.Flush(); err != nil { // into an sstable
		t.Fatal(err)
	}
	failing.Store(true)
	if h := getDisk(c, k, 1, 0); h.found {
		t.Fatal("found while every sstable read fails")
	}
	if metricValue(c.m.l2Errors) == 0 {
		t.Fatal("read error not counted")
	}
	failing.Store(false)
	if h := getDisk(c, k, 1, 0); !h.found || !bytes.Equal(h.block, block) {
		t.Fatal("not found once reads work again")
	}
}

// TestDiskFull: every write fails (a full disk) after the cache opened.
// Fills never block and never fail a lookup; the errors are counted; once
// the disk takes writes again the cache recovers and closes cleanly,
// unless Pebble met a fatal error, which marks the L2 failed (and Close
// says so).
func TestDiskFull(t *testing.T) {
	inj := &errorfs.Toggle{Injector: errorfs.ErrInjected.If(errorfs.Writes)}
	c, err := NewCache(CacheMemory(0), CacheDisk(t.TempDir(), 4<<20), cacheGenerations(4), CacheDiskQueue(64),
		cacheDiskFS(errorfs.Wrap(vfs.Default, inj)), CacheCloseTimeout(10*time.Second),
		CacheRegisterer(prometheus.NewRegistry()), CacheLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	k := key("user", "0")
	block := fp32Block(t, 8, 1, 1, 0, false)
	putDisk(c, k, 1, 1<<62, block)
	c.disk.sync()
	inj.On()
	rng := rand.New(rand.NewPCG(7, 8))
	filler := randomBlock(t, rng, 250)
	for i := range 20_000 { // 20 MiB into 4 MiB: generations flush and drop
		putDisk(c, key("user", strconv.Itoa(i)), 1, 1<<62, filler)
		getDisk(c, k, 1, 0) // never fails, found or not
	}
	deadline := time.Now().Add(10 * time.Second)
	for metricValue(c.m.l2Errors) == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if metricValue(c.m.l2Errors) == 0 {
		t.Fatal("no L2 error counted while every write fails")
	}
	if metricValue(c.m.l2QueueFull)+metricValue(c.m.l2Failed) == 0 {
		t.Fatal("no fill dropped while the disk is full")
	}
	failed := metricValue(c.m.diskFailed) == 1
	t.Logf("queue full %v, dropped as failed %v, l2 errors %v, failed %v",
		metricValue(c.m.l2QueueFull), metricValue(c.m.l2Failed), metricValue(c.m.l2Errors), failed)
	inj.Off()
	err = c.Close()
	t.Logf("Close: %v", err)
	if failed != (err != nil) {
		t.Fatalf("L2 failed %v, Close: %v", failed, err)
	}
}

// TestDiskFatal: a MANIFEST that cannot be written is fatal to Pebble; the
// L2 is marked failed and serves misses, fills are dropped as failed, and
// Close reports the failure without waiting for Pebble.
func TestDiskFatal(t *testing.T) {
	inj := &errorfs.Toggle{Injector: errorfs.InjectorFunc(func(op errorfs.Op) error {
		if op.Kind.ReadOrWrite() == errorfs.OpIsWrite && strings.Contains(op.Path, "MANIFEST") {
			return errorfs.ErrInjected
		}
		return nil
	})}
	c, err := NewCache(CacheMemory(0), CacheDisk(t.TempDir(), 4<<20), cacheGenerations(4),
		cacheDiskFS(errorfs.Wrap(vfs.Default, inj)), CacheCloseTimeout(10*time.Second),
		CacheRegisterer(prometheus.NewRegistry()), CacheLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	k := key("user", "0")
	putDisk(c, k, 1, 1<<62, fp32Block(t, 8, 1, 1, 0, false))
	c.disk.sync()
	if !getDisk(c, k, 1, 0).found {
		t.Fatal("not found before the failure")
	}
	inj.On()
	filler := randomBlock(t, rand.New(rand.NewPCG(9, 10)), 250)
	for i := 0; metricValue(c.m.diskFailed) == 0 && i < 100_000; i++ {
		putDisk(c, key("user", strconv.Itoa(i)), 1, 1<<62, filler)
		if i%500 == 0 {
			time.Sleep(time.Millisecond) // let the flush run
		}
	}
	select {
	case <-c.disk.failedCh:
	case <-time.After(10 * time.Second):
		t.Fatal("a MANIFEST write error did not fail the L2")
	}
	if getDisk(c, k, 1, 0).found {
		t.Fatal("a failed L2 still serves hits")
	}
	before := metricValue(c.m.l2Failed)
	putDisk(c, k, 2, 1<<62, nil)
	if metricValue(c.m.l2Failed) != before+1 {
		t.Fatal("a fill into a failed L2 not counted as dropped")
	}
	if err := c.Close(); !errors.Is(err, errDiskFailed) {
		t.Fatalf("Close: %v, want errDiskFailed", err)
	}
}

// TestDiskReopen: a cache opened on a directory that holds entries starts
// empty.
func TestDiskReopen(t *testing.T) {
	dir := t.TempDir()
	open := func() *Cache {
		c, err := NewCache(CacheMemory(0), CacheDisk(dir, 4<<20), CacheRegisterer(prometheus.NewRegistry()))
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	c := open()
	k := key("user", "1")
	putDisk(c, k, 1, 1<<62, fp32Block(t, 8, 1, 1, 0, false))
	c.disk.sync()
	if err := c.disk.db.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	c = open()
	defer c.Close()
	// Point the index at generation 1 as before: the data must be gone.
	hg := hashGroup(c.hashKey(k), 1)
	c.disk.point(hg, 1, c.seq.Load())
	if h := getDisk(c, k, 1, 0); h.found {
		t.Fatal("an entry from before the reopen is found")
	}
	if u := c.disk.diskUsage(); u > 64<<10 {
		t.Fatalf("%d bytes on disk after the reopen", u)
	}
}

// TestDiskOpenFails: a directory where no file can be written fails
// NewCache, without hanging it.
func TestDiskOpenFails(t *testing.T) {
	fs := errorfs.Wrap(vfs.Default, errorfs.InjectorFunc(func(op errorfs.Op) error {
		if op.Kind.ReadOrWrite() == errorfs.OpIsWrite && op.Kind != errorfs.OpMkdirAll && op.Kind != errorfs.OpLock {
			return errorfs.ErrInjected
		}
		return nil
	}))
	done := make(chan error, 1)
	go func() {
		c, err := NewCache(CacheDisk(t.TempDir(), 4<<20), cacheDiskFS(fs), CacheRegisterer(prometheus.NewRegistry()),
			CacheLogger(slog.New(slog.DiscardHandler)))
		if err == nil {
			c.Close()
		}
		done <- err
	}()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("NewCache on a directory that takes no writes: no error")
		}
		t.Logf("NewCache: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("NewCache hangs on a directory that takes no writes")
	}
}

func TestCacheOptions(t *testing.T) {
	bad := map[string][]CacheOption{
		"negative memory":   {CacheMemory(-1)},
		"disk too small":    {CacheDisk(t.TempDir(), 1000)},
		"disk without dir":  {CacheDisk("", 8<<20)},
		"zero queue":        {CacheDiskQueue(0)},
		"one generation":    {cacheGenerations(1)},
		"zero close wait":   {CacheCloseTimeout(0)},
		"nil clock":         {CacheClock(nil)},
		"registered twice":  {CacheRegisterer(registered(t))},
		"negative shards":   {cacheMemShards(-1)},
		"many generations":  {cacheGenerations(100)},
		"negative disk":     {CacheDisk(t.TempDir(), -1)},
		"disk in a file":    {CacheDisk("/dev/null/x", 8<<20)},
		"unwritable memory": {CacheMemory(-5)},
	}
	for name, opts := range bad {
		c, err := NewCache(opts...)
		if err == nil {
			c.Close()
			t.Errorf("%s: no error", name)
			continue
		}
		if name != "disk in a file" && !errors.Is(err, ErrInvalidOption) {
			t.Errorf("%s: %v, want ErrInvalidOption", name, err)
		}
	}
	c, err := NewCache()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if c.mem == nil || c.disk != nil {
		t.Fatal("defaults: want an L1 and no L2")
	}
	var limit int64
	for i := range c.mem.shards {
		limit += c.mem.shards[i].limit
	}
	if limit != DefaultCacheMemory {
		t.Fatalf("default L1 bound %d", limit)
	}
}

// registered returns a registry that already holds the cache's metrics.
func registered(t *testing.T) prometheus.Registerer {
	reg := prometheus.NewRegistry()
	if _, err := newCacheMetrics(reg); err != nil {
		t.Fatal(err)
	}
	return reg
}

// TestDiskKeyLayout checks the example of docs/formats.md, "Pebble cache".
func TestDiskKeyLayout(t *testing.T) {
	got := appendDiskKey(nil, 3, key("user", "42"), 7)
	want := []byte{0, 0, 0, 3, 4, 'u', 's', 'e', 'r', 1, 2, '4', '2', 0, 0, 0, 7}
	if !bytes.Equal(got, want) {
		t.Fatalf("key % x, want % x", got, want)
	}
	if n := diskKeySize(key("user", "42")); n < len(got) {
		t.Fatalf("diskKeySize %d < %d", n, len(got))
	}
}
