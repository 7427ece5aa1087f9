package views

import (
	"encoding/binary"
	"fmt"
	"hash/maphash"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unsafe"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/ofstack/ofs/codec"
	"github.com/ofstack/ofs/schema"
)

// fp32Layouts caches the layouts of rows of n fp32 features.
var fp32Layouts sync.Map

// fp32Block returns a valid PSDB block of n fp32 features, all v, with the
// given event time and expiry, compressed when compress is set and zstd
// makes it smaller (constant values do).
func fp32Block(tb testing.TB, n int, v float32, eventTime, expiry int64, compress bool) []byte {
	tb.Helper()
	l, ok := fp32Layouts.Load(n)
	if !ok {
		cols := make([]codec.Column, n)
		for i := range cols {
			cols[i] = codec.Column{Name: "f" + strconv.Itoa(i), Type: schema.FP32}
		}
		nl, err := codec.NewLayout(1, cols)
		if err != nil {
			tb.Fatal(err)
		}
		l, _ = fp32Layouts.LoadOrStore(n, nl)
	}
	b := codec.NewBuilder(l.(*codec.Layout))
	for i := range n {
		b.SetFloat32(i, v)
	}
	var block []byte
	var err error
	if compress {
		block, err = b.AppendCompressed(nil, eventTime, expiry)
	} else {
		block, err = b.Append(nil, eventTime, expiry)
	}
	if err != nil {
		tb.Fatal(err)
	}
	return block
}

// metricValue returns the value of a counter or gauge.
func metricValue(m prometheus.Metric) float64 {
	var d dto.Metric
	if err := m.Write(&d); err != nil {
		panic(err)
	}
	if d.Counter != nil {
		return d.Counter.GetValue()
	}
	return d.Gauge.GetValue()
}

// l1Policy caches in the L1 only, for an hour.
var l1Policy = []schema.CachePolicy{{L1: true, TTL: time.Hour}}

// testMem returns an L1 of limit bytes in shards shards, with its metrics.
func testMem(limit int64, shards int) (*memCache, *cacheMetrics) {
	m, err := newCacheMetrics(prometheus.NewRegistry())
	if err != nil {
		panic(err)
	}
	var e epochs
	e.init(epochSlots)
	return newMemCache(limit, shards, &e, m), m
}

// memPut puts block (nil: a cached miss) for (k, g) with a clock of 0.
func memPut(c *memCache, k Key, g uint32, block []byte, expires int64) {
	h := testHash(k)
	c.insert(h, k, []memFill{{group: g, hg: hashGroup(h, g), block: block, expires: expires}}, 0, 0)
}

// memGet looks (k, g) up at now: the block, absent, or nil.
func memGet(c *memCache, k Key, g uint32, now int64) []byte {
	out := make([][]byte, 1)
	c.lookup(testHash(k), k, []uint32{g}, l1Policy, now, out)
	return out[0]
}

// hasher hashes keys for the tests of the tiers alone.
var hasher = &Cache{seed: maphash.MakeSeed()}

func testHash(k Key) uint64 { return hasher.hashKey(k) }

// checkMemAccounting recomputes every shard's bytes from its rows and
// compares them with the accounted bytes, the bound and the gauges.
func checkMemAccounting(t *testing.T, c *memCache, m *cacheMetrics) {
	t.Helper()
	var total, rows int64
	for i := range c.shards {
		sh := &c.shards[i]
		sh.mu.Lock()
		var sum int64
		ring := 0
		if sh.hand != nil {
			for r := sh.hand; ; r = r.next {
				ring++
				if r.next.prev != r {
					t.Fatalf("shard %d: broken ring", i)
				}
				if r.next == sh.hand {
					break
				}
			}
		}
		for _, r := range sh.rows {
			size := int64(rowOverhead+len(r.long)) + int64(len(keyParts(t, r.key())))*valueOverhead
			for _, sl := range r.slots {
				size += slotOverhead + int64(len(sl.block))
			}
			if size != r.size {
				t.Fatalf("shard %d row %q: size %d, accounted %d", i, keyParts(t, r.key()), size, r.size)
			}
			sum += size
		}
		if ring != len(sh.rows) {
			t.Fatalf("shard %d: %d rows in the ring, %d in the map", i, ring, len(sh.rows))
		}
		if sum != sh.bytes {
			t.Fatalf("shard %d: rows hold %d bytes, accounted %d", i, sum, sh.bytes)
		}
		if sh.bytes > sh.limit {
			t.Fatalf("shard %d: %d bytes over its bound of %d", i, sh.bytes, sh.limit)
		}
		total += sum
		rows += int64(len(sh.rows))
		sh.mu.Unlock()
	}
	if g := metricValue(m.l1Bytes); g != float64(total) {
		t.Fatalf("bytes gauge %v, held %d", g, total)
	}
	if g := metricValue(m.entries); g != float64(rows) {
		t.Fatalf("entries gauge %v, held %d", g, rows)
	}
}

// TestMemBound: under churn of blocks of random sizes, random groups and
// invalidations, no shard ever holds more than its share of the bound, and
// the accounting matches what is held.
func TestMemBound(t *testing.T) {
	const limit = 64 << 10
	c, m := testMem(limit, 4)
	rng := rand.New(rand.NewPCG(1, 2))
	blocks := make([][]byte, 8)
	for i := range blocks {
		blocks[i] = make([]byte, 32+rng.IntN(3000))
	}
	for n := range 20000 {
		k := key("user", strconv.Itoa(rng.IntN(2000)))
		g := uint32(rng.IntN(4))
		switch rng.IntN(10) {
		case 0:
			c.remove(testHash(k), k, g)
		case 1:
			memPut(c, k, g, nil, 100)
		default:
			memPut(c, k, g, blocks[rng.IntN(len(blocks))], 100)
		}
		if n%1000 == 0 {
			checkMemAccounting(t, c, m)
		}
	}
	checkMemAccounting(t, c, m)
	if metricValue(m.l1Evictions) == 0 || metricValue(m.l1EvictedBytes) == 0 {
		t.Fatal("no eviction counted under churn")
	}
	if held := metricValue(m.l1Bytes); held < limit/2 {
		t.Fatalf("holds %v bytes of %d: evicts too much", held, limit)
	}
}

// TestMemTooLarge: a block larger than a shard's bound is not cached.
func TestMemTooLarge(t *testing.T) {
	c, m := testMem(4096, 1)
	k := key("user", "1")
	memPut(c, k, 1, make([]byte, 5000), 100)
	if got := memGet(c, k, 1, 0); got != nil {
		t.Fatalf("a block over the bound was cached (%d bytes)", len(got))
	}
	if metricValue(m.l1TooLarge) != 1 {
		t.Fatal("too large not counted")
	}
	checkMemAccounting(t, c, m)
}

// TestMemEvictionOrder: without hits the clock is FIFO (a new entry is
// examined last); an entry used since the hand passed survives it.
func TestMemEvictionOrder(t *testing.T) {
	block := make([]byte, 500)
	rowSize := int64(rowOverhead + 2*valueOverhead + slotOverhead + len(block)) // a short key: in the row
	c, m := testMem(3*rowSize, 1)                                               // room for three keys
	held := func() string {
		var s string
		for _, n := range []string{"a", "b", "c", "d", "e", "f"} {
			if c.shards[0].rows[testHash(key("user", n))] != nil {
				s += n
			}
		}
		return s
	}
	steps := []struct {
		put, hit, want string
	}{
		{put: "a", want: "a"},
		{put: "b", want: "ab"},
		{put: "c", want: "abc"},
		{put: "d", want: "bcd"},           // a, the oldest, goes
		{hit: "b", put: "e", want: "bde"}, // b was used: c goes
		{hit: "e", put: "f", want: "bef"}, // b's flag was cleared by the last pass: d goes before b
	}
	for _, st := range steps {
		if st.hit != "" && memGet(c, key("user", st.hit), 1, 0) == nil {
			t.Fatalf("%s not held", st.hit)
		}
		memPut(c, key("user", st.put), 1, block, 100)
		if got := held(); got != st.want {
			t.Fatalf("after hit %q and put %q: holds %q, want %q", st.hit, st.put, got, st.want)
		}
	}
	checkMemAccounting(t, c, m)
}

// TestMemLRU: with every flag clear, use two of three keys; the unused one
// is evicted by the next insertion, whichever position it has.
func TestMemLRU(t *testing.T) {
	block := make([]byte, 500)
	rowSize := int64(rowOverhead + 2*valueOverhead + slotOverhead + len(block)) // a short key: in the row
	names := []string{"a", "b", "c"}
	for unused := range names {
		t.Run(names[unused], func(t *testing.T) {
			c, _ := testMem(3*rowSize, 1)
			for _, s := range names {
				memPut(c, key("user", s), 1, block, 100)
			}
			for i, s := range names {
				if i != unused {
					memGet(c, key("user", s), 1, 0)
				}
			}
			memPut(c, key("user", "d"), 1, block, 100)
			for i, s := range names {
				if got := c.shards[0].rows[testHash(key("user", s))] != nil; got != (i != unused) {
					t.Errorf("%s held: %v", s, got)
				}
			}
		})
	}
}

// TestMemTTL: an entry is served until its expiry (exclusive), with an
// injected time.
func TestMemTTL(t *testing.T) {
	c, m := testMem(1<<20, 1)
	k := key("user", "1")
	block := make([]byte, 64)
	memPut(c, k, 1, block, 1000)
	memPut(c, k, 2, nil, 2000)
	tests := []struct {
		now    int64
		g      uint32
		block  bool
		absent bool
	}{
		{999, 1, true, false},
		{1000, 1, false, false},
		{1999, 2, false, true},
		{2000, 2, false, false},
	}
	for _, tc := range tests {
		got := memGet(c, k, tc.g, tc.now)
		if (len(got) > 0) != tc.block || (got != nil && len(got) == 0) != tc.absent {
			t.Errorf("group %d at %d: %v (%d bytes), want block %v absent %v", tc.g, tc.now, got != nil, len(got), tc.block, tc.absent)
		}
	}
	// Expired slots are dropped on the next fill of the key.
	memPut(c, k, 3, block, 5000)
	c.insert(testHash(k), k, nil, 0, 2500)
	if n := len(c.shards[0].rows[testHash(k)].slots); n != 1 {
		t.Fatalf("%d slots after the others expired, want 1", n)
	}
	checkMemAccounting(t, c, m)
}

// TestMemNegative: a cached miss reads as absent, distinct from no entry,
// and a later block replaces it.
func TestMemNegative(t *testing.T) {
	c, _ := testMem(1<<20, 1)
	k := key("user", "1")
	if got := memGet(c, k, 1, 0); got != nil {
		t.Fatal("a hit in an empty cache")
	}
	memPut(c, k, 1, nil, 100)
	if got := memGet(c, k, 1, 0); got == nil || len(got) != 0 {
		t.Fatalf("cached miss read as %v", got)
	}
	memPut(c, k, 1, []byte("block"), 100)
	if got := memGet(c, k, 1, 0); string(got) != "block" {
		t.Fatalf("read %q after the block replaced the miss", got)
	}
	out := make([][]byte, 1)
	if h, a := c.lookup(testHash(k), k, []uint32{1}, []schema.CachePolicy{{L2: true, TTL: time.Hour}}, 0, out); h+a != 0 || out[0] != nil {
		t.Fatal("a group whose policy has no L1 was read from the L1")
	}
}

// TestMemKeys: keys that differ only in how their values split, and a key
// under another key's hash, are told apart.
func TestMemKeys(t *testing.T) {
	c, _ := testMem(1<<20, 1)
	a, b := key("pair", "ab", "c"), key("pair", "a", "bc")
	memPut(c, a, 1, []byte("a"), 100)
	memPut(c, b, 1, []byte("b"), 100)
	if string(memGet(c, a, 1, 0)) != "a" || string(memGet(c, b, 1, 0)) != "b" {
		t.Fatal("keys with the same bytes mixed up")
	}
	// b under a's hash: a lookup of a must not return b's block.
	h := testHash(a)
	c.insert(h, b, []memFill{{group: 1, hg: hashGroup(h, 1), block: []byte("b"), expires: 100}}, 0, 0)
	out := make([][]byte, 1)
	c.lookup(h, a, []uint32{1}, l1Policy, 0, out)
	if out[0] != nil {
		t.Fatalf("a read %q, a block of the other key of its hash", out[0])
	}
}

// TestMemRaced: a fill that began before an invalidation of its (key,
// group) is dropped.
func TestMemRaced(t *testing.T) {
	c, m := testMem(1<<20, 1)
	k := key("user", "1")
	h := testHash(k)
	c.epochs.advance(hashGroup(h, 1), 5)
	fills := []memFill{{group: 1, hg: hashGroup(h, 1), block: []byte("old"), expires: 100},
		{group: 2, hg: hashGroup(h, 2), block: []byte("other"), expires: 100}}
	c.insert(h, k, fills, 4, 0)
	if got := memGet(c, k, 1, 0); got != nil {
		t.Fatalf("a fill older than the invalidation was cached: %q", got)
	}
	if got := memGet(c, k, 2, 0); string(got) != "other" {
		t.Fatalf("the fill of another group was dropped: %q", got)
	}
	if metricValue(m.l1Raced) != 1 {
		t.Fatal("raced fill not counted")
	}
	c.insert(h, k, fills[:1], 5, 0)
	if got := memGet(c, k, 1, 0); string(got) != "old" {
		t.Fatalf("a fill begun after the invalidation was dropped: %q", got)
	}
}

// TestMemConcurrent: lookups, fills and removals from many goroutines
// (run with -race); the bound and the accounting hold afterwards, and no
// lookup ever returns another key's block.
func TestMemConcurrent(t *testing.T) {
	c, m := testMem(256<<10, 8)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for w := range 8 {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 7))
			out := make([][]byte, 2)
			for range 5000 {
				n := rng.IntN(500)
				k := key("user", strconv.Itoa(n))
				h := testHash(k)
				switch rng.IntN(8) {
				case 0:
					c.remove(h, k, uint32(rng.IntN(2)))
				case 1, 2:
					block := fmt.Appendf(make([]byte, 0, 600), "%d:", n)
					block = block[:cap(block)]
					c.insert(h, k, []memFill{{group: 0, hg: hashGroup(h, 0), block: block, expires: 100},
						{group: 1, hg: hashGroup(h, 1), block: nil, expires: 100}}, 0, 0)
				default:
					clear(out)
					c.lookup(h, k, []uint32{0, 1}, []schema.CachePolicy{l1Policy[0], l1Policy[0]}, 0, out)
					if b := out[0]; b != nil {
						if want := strconv.Itoa(n) + ":"; string(b[:len(want)]) != want {
							errs <- fmt.Errorf("key %d read the block of %q", n, b[:8])
							return
						}
					}
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	checkMemAccounting(t, c, m)
}

// keyParts decodes a rowKey.
func keyParts(t *testing.T, key string) []string {
	t.Helper()
	var parts []string
	for key != "" {
		n, w := binary.Uvarint([]byte(key))
		if w <= 0 || uint64(len(key)-w) < n {
			t.Fatalf("bad row key %q", key)
		}
		parts = append(parts, key[w:w+int(n)])
		key = key[w+int(n):]
	}
	return parts
}

func TestRowKey(t *testing.T) {
	long := strings.Repeat("x", 300)
	keys := []Key{
		{Entity: "user", Values: []string{"42"}},
		{Entity: "user", Values: []string{"4", "2"}},
		{Entity: "use", Values: []string{"r42"}},
		{Entity: "user_item", Values: []string{"42", "ab"}},
		{Entity: "user_item", Values: []string{"42a", "b"}},
		{Entity: "user_item", Values: []string{"42", ""}},
		{Entity: "user_item", Values: []string{"", "42"}},
		{Entity: "user", Values: nil},
		{Entity: "user", Values: []string{long}},
		{Entity: "user", Values: []string{long + "y"}},
		{Entity: "user", Values: []string{"\x00\x01", "\xff"}},
	}
	for i, a := range keys {
		r := newMemRow(0, a)
		if got := keyParts(t, r.key()); fmt.Sprint(got) != fmt.Sprint(append([]string{a.Entity}, a.Values...)) {
			t.Errorf("rowKey(%v) decodes to %q", a, got)
		}
		for j, b := range keys {
			if r.is(b) != (i == j) {
				t.Errorf("row of %v is(%v) = %v", a, b, r.is(b))
			}
		}
	}
}

// TestMemRowLayout holds memRow to the layout its comment promises: 256
// bytes, the key and the referenced flag in the first cache line, the slots
// and the first slot in the second.
func TestMemRowLayout(t *testing.T) {
	var r memRow
	if got := unsafe.Sizeof(r); got != 256 {
		t.Errorf("a row is %d bytes, want 256 (one size class of the allocator, 256-byte aligned)", got)
	}
	if end := unsafe.Offsetof(r.ref) + unsafe.Sizeof(r.ref); end > 64 {
		t.Errorf("the referenced flag ends at byte %d, past the first line", end)
	}
	if off := unsafe.Offsetof(r.slots); off != 64 {
		t.Errorf("the slots start at byte %d, want 64", off)
	}
	if end := unsafe.Offsetof(r.inline) + unsafe.Sizeof(r.inline[0]); end > 128 {
		t.Errorf("the first inline slot ends at byte %d, past the second line", end)
	}
}
