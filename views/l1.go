package views

import (
	"encoding/binary"
	mathbits "math/bits"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/ofstack/ofs/schema"
)

// memCache is the L1: uncompressed blocks in memory, bounded in bytes.
//
// An entry is one entity key (a row) holding a slot per cached feature
// group, so that a Retrieve of 100 keys × several groups costs one hash and
// one map lookup per key, not per block; yet each slot has its own expiry,
// is filled and invalidated alone, and only groups whose policy has L1 get
// one. (A CSDB per key, the format made for whole-key cache blocks, would
// have to be rebuilt, copying every group, whenever one group is filled or
// invalidated, and has no place for per-group expiry.)
//
// Eviction is CLOCK (second chance), per shard: rows sit in a ring in
// insertion order; a hit only sets the row's referenced flag, under the
// shard's read lock, so concurrent hits never queue behind each other; the
// hand clears the flag of a referenced row and evicts the first row that
// was not referenced since the hand last passed it (or whose slots all
// expired). That approximates LRU without LRU's exclusive lock and list
// move on every hit. Keys are spread over shards by hash; each shard holds
// an equal part of the byte bound. (S3-FIFO would resist scans better, at
// the cost of a ghost queue; feature reads follow the traffic's users and
// do not scan.)
//
// Blocks are immutable once cached: readers get sub-slices of them.
type memCache struct {
	shards []memShard
	mask   uint64
	epochs *epochs
	m      *cacheMetrics
}

type memShard struct {
	mu    sync.RWMutex
	rows  map[uint64]*memRow
	hand  *memRow // the next row the clock examines; nil when the shard is empty
	bytes int64
	limit int64
	_     [64]byte // keeps shards' locks off each other's cache lines
}

// memRow is the L1 entry of one entity key.
//
// A lookup of random keys is bound by the CPU's cache misses, one per
// separately allocated object it touches (BenchmarkCacheL1RandomKeys), so a
// row keeps what a lookup reads together: the key encoded (appendRowKey) in
// the row's first cache line when it is short, as nearly every entity key
// is, instead of an entity string and a slice of value strings elsewhere;
// its slots and the first of them in the second line. A row is 256 bytes
// (TestMemRowLayout), so the allocator puts it on a 256-byte boundary and
// those two lines are one aligned pair, which the CPU fetches together.
type memRow struct {
	// The first cache line.
	hash   uint64
	short  [shortKey]byte // the encoded key, when it fits
	keyLen uint8          // bytes of the key in short; 0: the key is long
	ref    atomic.Bool
	// The second: the row's slots, and the first of them.
	slots  []memSlot // inline[:n] until a row has more groups than inline holds
	inline [2]memSlot
	// What only inserts, evictions and long keys read.
	long string // the encoded key, when it does not fit in short
	size int64
	prev *memRow
	next *memRow
	_    [48]byte
}

// shortKey is the longest encoded key kept in the row itself: with the hash,
// its length and the referenced flag it fills one 64-byte cache line.
const shortKey = 51

// memSlot is one feature group of a row.
type memSlot struct {
	group   uint32
	expires int64  // µs since the epoch; the slot is served while now < expires
	block   []byte // nil: the key has no block in the group (a cached miss)
}

// memFill is a block to put in the L1.
type memFill struct {
	group   uint32
	hg      uint64 // hashGroup of the key's hash and group
	block   []byte
	expires int64
}

// Accounting of the memory a row takes besides its blocks and a long key:
// the row and its map entry (256 bytes with its two inline slots, and about
// 16 in the map) less the one slot every row has, which is counted as a
// slot; a slot; a key part's length prefix.
const (
	rowOverhead   = 232
	slotOverhead  = 40
	valueOverhead = 2
)

func newMemCache(bytes int64, shards int, e *epochs, m *cacheMetrics) *memCache {
	c := &memCache{shards: make([]memShard, shards), mask: uint64(shards - 1), epochs: e, m: m}
	for i := range c.shards {
		c.shards[i].rows = make(map[uint64]*memRow)
		c.shards[i].limit = bytes / int64(shards)
	}
	return c
}

func (c *memCache) shard(h uint64) *memShard { return &c.shards[c.shardIndex(h)] }

// shardIndex is the index in shards of the shard of hash h.
func (c *memCache) shardIndex(h uint64) uint64 { return h >> 32 & c.mask }

// appendRowKey appends k encoded to b: the entity and each value as a
// uvarint length and the bytes, so that ("ab", "c") and ("a", "bc") differ.
func appendRowKey(b []byte, k Key) []byte {
	b = binary.AppendUvarint(b, uint64(len(k.Entity)))
	b = append(b, k.Entity...)
	for _, v := range k.Values {
		b = binary.AppendUvarint(b, uint64(len(v)))
		b = append(b, v...)
	}
	return b
}

// newMemRow returns the row of k, whose hash is h, without slots.
func newMemRow(h uint64, k Key) *memRow {
	r := &memRow{hash: h}
	if key := appendRowKey(r.short[:0], k); len(key) <= shortKey {
		r.keyLen = uint8(len(key))
	} else {
		r.long = string(key)
	}
	r.slots = r.inline[:0]
	return r
}

// key returns r's encoded key.
func (r *memRow) key() string {
	if r.keyLen > 0 {
		return string(r.short[:r.keyLen])
	}
	return r.long
}

// is reports whether r is the row of k: k's encoding (appendRowKey) is
// compared with r's part by part, without being written out.
func (r *memRow) is(k Key) bool {
	var enc []byte
	if r.keyLen > 0 {
		enc = r.short[:r.keyLen]
	} else {
		enc = unsafe.Slice(unsafe.StringData(r.long), len(r.long)) // only read
	}
	enc, ok := cutPart(enc, k.Entity)
	for _, v := range k.Values {
		if !ok {
			return false
		}
		enc, ok = cutPart(enc, v)
	}
	return ok && len(enc) == 0
}

// cutPart returns what follows part in enc when enc begins with part
// encoded (a uvarint length, the bytes), and whether it does.
func cutPart(enc []byte, part string) ([]byte, bool) {
	n := len(part)
	if n < 0x80 && len(enc) > n && enc[0] == byte(n) { // nearly every part: a one-byte length
		return enc[1+n:], string(enc[1:1+n]) == part
	}
	var buf [binary.MaxVarintLen64]byte
	l := binary.PutUvarint(buf[:], uint64(n))
	if len(enc) < l+n || string(enc[:l]) != string(buf[:l]) {
		return enc, false
	}
	return enc[l+n:], string(enc[l:l+n]) == part
}

// lookup puts into out[j] the cached block of k in groups[j], for each j
// whose policy has L1: the block as a sub-slice of the cache's memory, or
// absent for a cached miss. It leaves the other entries of out as they are
// and returns the number of blocks and of cached misses found.
func (c *memCache) lookup(h uint64, k Key, groups []uint32, policies []schema.CachePolicy, now int64, out [][]byte) (hits, absents int) {
	sh := c.shard(h)
	sh.mu.RLock()
	hits, absents = sh.rows[h].find(k, groups, policies, now, out)
	sh.mu.RUnlock()
	return hits, absents
}

// find is lookup in row r (nil if its shard has none of the hash), whose
// shard's lock the caller holds for reading.
func (r *memRow) find(k Key, groups []uint32, policies []schema.CachePolicy, now int64, out [][]byte) (hits, absents int) {
	if r == nil || !r.is(k) {
		return 0, 0
	}
	for j, g := range groups {
		if !policies[j].L1 {
			continue
		}
		for s := range r.slots {
			sl := &r.slots[s]
			if sl.group != g {
				continue
			}
			if sl.expires > now {
				if sl.block == nil {
					out[j] = absent
					absents++
				} else {
					out[j] = sl.block[:len(sl.block):len(sl.block)]
					hits++
				}
			}
			break
		}
	}
	if hits+absents > 0 && !r.ref.Load() {
		r.ref.Store(true)
	}
	return hits, absents
}

// lookupAll is lookup for every key of keys, whose hashes are hs, out
// holding len(groups) entries per key. It read-locks each shard the keys fall in once, in shard
// order (so that two batches never wait on each other's locks), and then
// looks every key up without an atomic instruction between two lookups: a
// lookup of a random key is a few cache misses (the map's group, the row),
// and a locked instruction per key would make each wait for the last, where
// without one the CPU overlaps the misses of several keys.
func (c *memCache) lookupAll(keys []Key, hs []uint64, groups []uint32, policies []schema.CachePolicy, now int64, out [][]byte) (hits, absents int) {
	var sbuf [4]uint64 // a bit per shard: up to 256 shards on the stack
	locked := sbuf[:]
	if n := (len(c.shards) + 63) / 64; n > len(sbuf) {
		locked = make([]uint64, n)
	}
	for _, h := range hs {
		i := c.shardIndex(h)
		locked[i/64] |= 1 << (i % 64)
	}
	var rbuf [128]*memRow
	rows := rbuf[:0]
	if len(keys) > len(rbuf) {
		rows = make([]*memRow, 0, len(keys))
	}
	c.eachShard(locked, func(sh *memShard) { sh.mu.RLock() })
	for _, h := range hs {
		rows = append(rows, c.shard(h).rows[h])
	}
	touchRows(rows)
	n := len(groups)
	for i, r := range rows {
		hit, a := r.find(keys[i], groups, policies, now, out[i*n:(i+1)*n])
		hits += hit
		absents += a
	}
	c.eachShard(locked, func(sh *memShard) { sh.mu.RUnlock() })
	return hits, absents
}

// touchRows reads the first word of both lines a lookup reads of every
// row: loads that depend on nothing but the slice, so that the CPU has the
// cache misses of many rows in flight at once, where find, row after row,
// would wait for each.
//
//go:noinline
func touchRows(rows []*memRow) uint64 {
	var sum uint64
	for _, r := range rows {
		if r != nil {
			sum += r.hash + uint64(len(r.slots))
		}
	}
	return sum
}

// eachShard calls f on the shards whose bit is set, in shard order.
func (c *memCache) eachShard(bits []uint64, f func(*memShard)) {
	for w, word := range bits {
		for word != 0 {
			b := mathbits.TrailingZeros64(word)
			word &= word - 1
			f(&c.shards[w*64+b])
		}
	}
}

// insert puts the blocks of fills, all of key k (hash h), unless an
// invalidation of their (key, group) came after start, then evicts rows
// until the shard is within its bound.
func (c *memCache) insert(h uint64, k Key, fills []memFill, start uint64, now int64) {
	sh := c.shard(h)
	var raced, tooLarge int
	sh.mu.Lock()
	before, rowsBefore := sh.bytes, len(sh.rows)
	r := sh.rows[h]
	if r != nil && !r.is(k) {
		sh.removeRow(r) // another key with the same hash: the newer one stays
		r = nil
	}
	if r == nil {
		r = newMemRow(h, k)
		r.size = rowOverhead + int64(len(r.long)) + int64(len(k.Values)+1)*valueOverhead
		sh.rows[h] = r
		sh.link(r)
		sh.bytes += r.size
	}
	r.dropExpired(sh, now)
	for i := range fills {
		f := &fills[i]
		switch {
		case !c.epochs.valid(f.hg, start):
			raced++
		case r.size+slotOverhead+int64(len(f.block)) > sh.limit:
			tooLarge++
		default:
			r.set(sh, f)
		}
	}
	if len(r.slots) == 0 {
		sh.removeRow(r)
	}
	evicted, evictedBytes := sh.evict(r, now)
	delta, rowsDelta := sh.bytes-before, len(sh.rows)-rowsBefore
	sh.mu.Unlock()

	if raced > 0 {
		c.m.l1Raced.Add(float64(raced))
	}
	if tooLarge > 0 {
		c.m.l1TooLarge.Add(float64(tooLarge))
	}
	if evicted > 0 {
		c.m.l1Evictions.Add(float64(evicted))
		c.m.l1EvictedBytes.Add(float64(evictedBytes))
	}
	c.m.l1Bytes.Add(float64(delta))
	c.m.entries.Add(float64(rowsDelta))
}

// set puts f in r, replacing the slot of its group.
func (r *memRow) set(sh *memShard, f *memFill) {
	size := slotOverhead + int64(len(f.block))
	for s := range r.slots {
		sl := &r.slots[s]
		if sl.group == f.group {
			delta := size - slotOverhead - int64(len(sl.block))
			sl.block, sl.expires = f.block, f.expires
			r.size += delta
			sh.bytes += delta
			return
		}
	}
	r.slots = append(r.slots, memSlot{group: f.group, expires: f.expires, block: f.block})
	r.size += size
	sh.bytes += size
}

// dropExpired removes the slots of r that expired.
func (r *memRow) dropExpired(sh *memShard, now int64) {
	kept := r.slots[:0]
	for _, sl := range r.slots {
		if sl.expires > now {
			kept = append(kept, sl)
			continue
		}
		size := slotOverhead + int64(len(sl.block))
		r.size -= size
		sh.bytes -= size
	}
	clear(r.slots[len(kept):]) // drop the references to removed blocks
	r.slots = kept
}

// expired reports whether every slot of r expired.
func (r *memRow) expired(now int64) bool {
	for _, sl := range r.slots {
		if sl.expires > now {
			return false
		}
	}
	return true
}

// remove drops the slot of group g from the row of k.
func (c *memCache) remove(h uint64, k Key, g uint32) {
	sh := c.shard(h)
	sh.mu.Lock()
	r := sh.rows[h]
	if r == nil || !r.is(k) {
		sh.mu.Unlock()
		return
	}
	before := sh.bytes
	removedRow := false
	for s := range r.slots {
		if r.slots[s].group != g {
			continue
		}
		size := slotOverhead + int64(len(r.slots[s].block))
		last := len(r.slots) - 1
		copy(r.slots[s:], r.slots[s+1:])
		r.slots[last] = memSlot{}
		r.slots = r.slots[:last]
		r.size -= size
		sh.bytes -= size
		if len(r.slots) == 0 {
			sh.removeRow(r)
			removedRow = true
		}
		break
	}
	delta := sh.bytes - before
	sh.mu.Unlock()
	if delta != 0 {
		c.m.l1Bytes.Add(float64(delta))
	}
	if removedRow {
		c.m.entries.Dec()
	}
}

// evict runs the clock until the shard is within its bound, never evicting
// keep (the row just filled). It returns the rows and bytes evicted.
func (sh *memShard) evict(keep *memRow, now int64) (n int, bytes int64) {
	// Each pass of the hand clears every flag it meets, so two passes over
	// the ring always find a victim; the bound only guards against a bug.
	for steps := 2*len(sh.rows) + 2; sh.bytes > sh.limit && sh.hand != nil && steps > 0; steps-- {
		r := sh.hand
		if r == keep {
			if r.next == r {
				break
			}
			sh.hand = r.next
			continue
		}
		if r.ref.Load() && !r.expired(now) {
			r.ref.Store(false)
			sh.hand = r.next
			continue
		}
		n++
		bytes += r.size
		sh.removeRow(r)
	}
	return n, bytes
}

// link puts r in the ring just behind the hand: the hand reaches it last.
func (sh *memShard) link(r *memRow) {
	if sh.hand == nil {
		r.prev, r.next = r, r
		sh.hand = r
		return
	}
	p := sh.hand.prev
	p.next, r.prev = r, p
	r.next, sh.hand.prev = sh.hand, r
}

// removeRow takes r out of the shard.
func (sh *memShard) removeRow(r *memRow) {
	if r.next == r {
		sh.hand = nil
	} else {
		r.prev.next, r.next.prev = r.next, r.prev
		if sh.hand == r {
			sh.hand = r.next
		}
	}
	r.prev, r.next = nil, nil
	delete(sh.rows, r.hash)
	sh.bytes -= r.size
}

// absent marks a cached miss in a Read's result until the result is
// returned, where it becomes nil: a non-nil empty slice, which no block is.
var absent = make([]byte, 0)
