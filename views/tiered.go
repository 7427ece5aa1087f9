package views

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/ofstack/ofs/codec"
	"github.com/ofstack/ofs/schema"
)

// Tiered reads a Store through a Cache: the L1, then the L2, then the store
// for what is left, in one Store.Read (so Redis gets one pipeline of MGETs).
// Make one with Cache.Tiered; it is safe for concurrent use.
type Tiered struct {
	c     *Cache
	store Store
}

// Read returns, for each key and each group, the uncompressed block, or
// nil when the key has no block in the group: the block of keys[i] and
// groups[j] is at out[i*len(groups)+j], as in Store.Read. An expired block
// is returned as it is (codec.Reader.Open reports it ErrExpired), so that
// the caller can count a default as expired rather than missing. policies[j] is the cache policy of groups[j] (from the
// registry): which tiers hold its blocks and for how long.
//
// The blocks are shared with the cache and with other readers: callers must
// not modify them.
//
// Concurrent misses of the same (entity key, feature group) are fetched
// once: the first reader to miss fetches, in its one store read, every
// (key, group) it missed that nobody is fetching yet, and the others wait
// for it (or for their context). The store's blocks are put in the tiers
// that each group's policy names, the L2 in the background; misses are
// cached too. A store error (ErrUnavailable when it cannot be reached) is
// returned, never nil blocks; a failing L2 is only a tier of misses.
//
// A block that fails its checksum is returned as the store gave it, and
// not cached, so that the caller's codec.Reader reports it.
func (t *Tiered) Read(ctx context.Context, keys []Key, groups []uint32, policies []schema.CachePolicy) ([][]byte, error) {
	out, _, err := t.read(ctx, keys, groups, policies, nil)
	return out, err
}

// ReadVerified is Read that also says whether every block it returns has
// passed its checksum already: true when all came from the L1, which holds
// only blocks verified on their way in (from the L2 or the store). A caller
// may then open them without verifying them again (codec.Reader.OpenVerified);
// on false it verifies them, since a corrupt block from the store is
// returned as it is.
//
// The result is built in dst when it has the capacity (a caller that reads
// often reuses one), else in a new slice.
func (t *Tiered) ReadVerified(ctx context.Context, keys []Key, groups []uint32, policies []schema.CachePolicy, dst [][]byte) ([][]byte, bool, error) {
	return t.read(ctx, keys, groups, policies, dst)
}

func (t *Tiered) read(ctx context.Context, keys []Key, groups []uint32, policies []schema.CachePolicy, dst [][]byte) ([][]byte, bool, error) {
	if len(policies) != len(groups) {
		return nil, false, fmt.Errorf("%w: %d cache policies for %d groups", ErrInvalidOption, len(policies), len(groups))
	}
	out := dst[:0]
	if n := len(keys) * len(groups); cap(out) >= n {
		out = out[:n]
		clear(out)
	} else {
		out = make([][]byte, n)
	}
	if len(out) == 0 {
		return out, true, nil
	}
	if err := checkKeys(keys); err != nil {
		return nil, false, err
	}
	c := t.c
	now := c.now().UnixMicro()
	var hbuf [128]uint64 // the hashes, on the stack for a batch of up to 128 keys
	hashes := c.hashKeys(keys, hbuf[:0])
	var hits, absents int
	if c.mem != nil {
		l1 := 0
		for j := range policies {
			if policies[j].L1 {
				l1++
			}
		}
		if l1 > 0 {
			_, span := tierSpan(ctx, "ofs.l1", l1*len(keys))
			hits, absents = c.mem.lookupAll(keys, hashes, groups, policies, now, out)
			endTier(span, hits+absents, nil)
			c.m.count(c.m.l1Hit, hits)
			c.m.count(c.m.l1Absent, absents)
			c.m.count(c.m.l1Miss, l1*len(keys)-hits-absents)
		}
	}
	verified := true
	if hits+absents < len(out) {
		// The misses keep the hashes in a read on the heap: a copy, so that
		// hbuf stays on the stack of the reads that the L1 answers whole.
		if err := t.readMisses(ctx, keys, slices.Clone(hashes), groups, policies, out, now); err != nil {
			return nil, false, err
		}
		absents = -1 // some may have come from the L2 or the store
		verified = false
	}
	if absents != 0 {
		for i, b := range out {
			if len(b) == 0 {
				out[i] = nil
			}
		}
	}
	return out, verified, nil
}

// Invalidate drops the entries of keys × groups from both tiers: see
// Cache.Invalidate.
func (t *Tiered) Invalidate(keys []Key, groups []uint32) { t.c.Invalidate(keys, groups) }

// PolicyFunc returns the cache policy of a feature group.
type PolicyFunc func(group uint32) schema.CachePolicy

// TieredReader is a Tiered that takes each group's policy from a
// PolicyFunc: it reads like a Store.
type TieredReader struct {
	t      *Tiered
	policy PolicyFunc
}

// Reader returns a reader of t with the policies of policy.
func (t *Tiered) Reader(policy PolicyFunc) *TieredReader { return &TieredReader{t: t, policy: policy} }

// Read is Tiered.Read with the groups' policies from the PolicyFunc.
func (r *TieredReader) Read(ctx context.Context, keys []Key, groups []uint32) ([][]byte, error) {
	var buf [8]schema.CachePolicy
	policies := buf[:0]
	for _, g := range groups {
		policies = append(policies, r.policy(g))
	}
	return r.t.Read(ctx, keys, groups, policies)
}

// ReadVerified is Tiered.ReadVerified with the groups' policies from the
// PolicyFunc.
func (r *TieredReader) ReadVerified(ctx context.Context, keys []Key, groups []uint32, dst [][]byte) ([][]byte, bool, error) {
	var buf [8]schema.CachePolicy
	policies := buf[:0]
	for _, g := range groups {
		policies = append(policies, r.policy(g))
	}
	return r.t.read(ctx, keys, groups, policies, dst)
}

// count adds n to c unless n is 0 (an atomic add saved).
func (m *cacheMetrics) count(c interface{ Add(float64) }, n int) {
	if n != 0 {
		c.Add(float64(n))
	}
}

// readMisses fills the entries of out that the L1 did not: from the L2,
// then from the store. hashes are the keys' (hashKey), the read's to keep.
func (t *Tiered) readMisses(ctx context.Context, keys []Key, hashes []uint64, groups []uint32, policies []schema.CachePolicy, out [][]byte, now int64) error {
	c := t.c
	todo := make([]int, 0, len(out))
	for idx, b := range out {
		if b == nil {
			todo = append(todo, idx)
		}
	}
	// The read's state lives on the heap: a copy of policies keeps Read's
	// caller's from escaping (TieredReader builds them on its stack).
	r := &read{t: t, keys: keys, groups: groups, policies: slices.Clone(policies), hashes: hashes, out: out, now: now}
	if c.disk != nil {
		_, span := tierSpan(ctx, "ofs.l2", len(todo))
		n := len(todo)
		todo = r.disk(todo)
		endTier(span, n-len(todo), nil)
	}
	if len(todo) == 0 {
		return nil
	}
	sctx, span := tierSpan(ctx, "ofs.store", len(todo))
	err := r.fetch(sctx, todo)
	if err != nil {
		endTier(span, 0, err)
	} else {
		endTier(span, len(todo), nil)
	}
	return err
}

// read is the state of one Read past the L1.
type read struct {
	t        *Tiered
	keys     []Key
	groups   []uint32
	policies []schema.CachePolicy
	hashes   []uint64
	out      [][]byte
	now      int64
	fills    []memFill   // of one key, for the L1
	keyBuf   []byte      // scratch for L2 keys
	batch    *fetchBatch // the flights this read leads, if any
}

// at returns the key and group indexes of entry idx of out.
func (r *read) at(idx int) (i, j int) { return idx / len(r.groups), idx % len(r.groups) }

// disk looks the entries of todo whose policy has L2 up in the L2, puts the
// blocks found in out (and in the L1 if their policy says so) and returns
// the entries still missing.
func (r *read) disk(todo []int) []int {
	c := r.t.c
	// The clock before any lookup: an invalidation after it keeps what the
	// lookups find out of the L1 (see Cache.Invalidate).
	start := c.seq.Load()
	rest := todo[:0]
	var hits, absents, misses int
	fillKey := -1
	for _, idx := range todo {
		i, j := r.at(idx)
		p := r.policies[j]
		if !p.L2 {
			rest = append(rest, idx)
			continue
		}
		hg := hashGroup(r.hashes[i], r.groups[j])
		h := c.disk.get(hg, r.keys[i], r.groups[j], r.now, &r.keyBuf)
		if !h.found {
			misses++
			rest = append(rest, idx)
			continue
		}
		r.out[idx] = h.block
		if len(h.block) == 0 {
			absents++
		} else {
			hits++
		}
		if h.promoteKey != nil {
			c.disk.promote(hg, start, h.promoteKey, h.promoteValue)
		}
		if p.L1 && c.mem != nil {
			if i != fillKey {
				r.flushFills(fillKey, start)
				fillKey = i
			}
			r.fills = append(r.fills, memFill{group: r.groups[j], hg: hg, block: nilIfAbsent(h.block), expires: h.expires})
		}
	}
	r.flushFills(fillKey, start)
	c.m.count(c.m.l2Hit, hits)
	c.m.count(c.m.l2Absent, absents)
	c.m.count(c.m.l2Miss, misses)
	return rest
}

// flushFills puts the pending L1 fills of key i.
func (r *read) flushFills(i int, start uint64) {
	if len(r.fills) == 0 {
		return
	}
	r.t.c.mem.insert(r.hashes[i], r.keys[i], r.fills, start, r.now)
	r.fills = r.fills[:0]
}

func nilIfAbsent(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return b
}

// fetchItem is an entry of out to fetch, or to wait for.
type fetchItem struct {
	idx int
	hg  uint64
	f   *flight // nil: fetched without sharing (another key holds the slot)
}

// fetch gets the entries of todo from the store, sharing the fetches in
// flight with concurrent reads.
func (r *read) fetch(ctx context.Context, todo []int) error {
	c := r.t.c
	items := make([]fetchItem, len(todo))
	for n, idx := range todo {
		i, j := r.at(idx)
		items[n] = fetchItem{idx: idx, hg: hashGroup(r.hashes[i], r.groups[j])}
	}
	own, waits, aliases := c.flights.join(items, r)
	defer func() {
		// Whatever happened (a panic included), no flight of ours is left
		// for others to wait on.
		if r.batch != nil && !r.batch.ended {
			c.flights.end(r.batch, own, errFetchAbandoned)
		}
	}()
	if len(own) > 0 {
		if err := r.fetchOwn(ctx, own); err != nil {
			if r.batch != nil {
				c.flights.end(r.batch, own, err) // the waiters get the store's error
			}
			return err
		}
	}
	for _, a := range aliases {
		r.out[a.idx] = a.f.block
	}
	var retry []fetchItem
	for _, w := range waits {
		select {
		case <-w.f.batch.done:
		case <-ctx.Done():
			return ctx.Err()
		}
		if err := w.f.batch.err; err != nil {
			// The leader's context ended, not ours: fetch it ourselves.
			if ctx.Err() == nil && (errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, errFetchAbandoned)) {
				retry = append(retry, fetchItem{idx: w.idx, hg: w.hg})
				continue
			}
			return err
		}
		r.out[w.idx] = w.f.block
	}
	c.m.count(c.m.flightWaits, len(waits)-len(retry))
	if len(retry) > 0 {
		return r.fetchOwn(ctx, retry)
	}
	return nil
}

// fetchOwn reads items from the store in one Store.Read, fills the tiers
// and ends the read's flights. On an error it leaves the flights to fetch.
func (r *read) fetchOwn(ctx context.Context, items []fetchItem) error {
	c := r.t.c
	led := items
	// The clock before the store is read: an invalidation after it keeps
	// what the store returns out of the tiers.
	start := c.seq.Load()

	// A fetch that ended between our L1 lookup and our joining filled the
	// L1 before it left the flight table: look again.
	if c.mem != nil {
		rest := make([]fetchItem, 0, len(items))
		var one [1][]byte
		for _, it := range items {
			i, j := r.at(it.idx)
			if it.f != nil && r.policies[j].L1 {
				one[0] = nil
				c.mem.lookup(r.hashes[i], r.keys[i], r.groups[j:j+1], r.policies[j:j+1], r.now, one[:])
				if one[0] != nil {
					r.out[it.idx] = one[0]
					continue
				}
			}
			rest = append(rest, it)
		}
		items = rest
	}

	if len(items) > 0 {
		if err := r.fetchStore(ctx, items, start); err != nil {
			return err
		}
	}
	if r.batch != nil && !r.batch.ended {
		for _, it := range led {
			if it.f != nil {
				it.f.block = r.out[it.idx]
			}
		}
		c.flights.end(r.batch, led, nil)
	}
	return nil
}

// fetchStore reads items in one Store.Read, puts the blocks in out and in
// the tiers that their policies name.
func (r *read) fetchStore(ctx context.Context, items []fetchItem, start uint64) error {
	c := r.t.c
	// One read: the keys and groups of the items.
	keyPos := make([]int, len(r.keys))
	var keys []Key
	var groups []uint32
	for _, it := range items {
		i, j := r.at(it.idx)
		if keyPos[i] == 0 {
			keys = append(keys, r.keys[i])
			keyPos[i] = len(keys) // 1-based: 0 is unset
		}
		if !slices.Contains(groups, r.groups[j]) {
			groups = append(groups, r.groups[j])
		}
	}
	res, err := r.t.store.Read(ctx, keys, groups)
	c.m.storeReads.Inc()
	if err != nil {
		if ctx.Err() == nil {
			c.m.storeErrors.Inc()
		}
		return err
	}
	fillKey := -1
	for _, it := range items {
		i, j := r.at(it.idx)
		p := r.policies[j]
		raw := res[(keyPos[i]-1)*len(groups)+slices.Index(groups, r.groups[j])]
		block, expires, cache := r.t.prepare(raw, p, r.now)
		if block == nil {
			r.out[it.idx] = absent
		} else {
			r.out[it.idx] = block
		}
		if !cache {
			continue
		}
		if p.L1 && c.mem != nil {
			if i != fillKey {
				r.flushFills(fillKey, start)
				fillKey = i
			}
			r.fills = append(r.fills, memFill{group: r.groups[j], hg: it.hg, block: block, expires: expires})
		}
		if p.L2 && c.disk != nil {
			c.disk.fill(it.hg, r.keys[i], r.groups[j], start, expires, block)
		}
	}
	// The L1 holds the blocks before the flights end, so that a reader
	// who finds no flight finds the L1 filled.
	r.flushFills(fillKey, start)
	return nil
}

// prepare turns a block from the store into what the cache holds and Read
// returns: the block uncompressed (nil for none; one expired at now stays
// as it is and is cached until the policy's TTL), its cache expiry (the earlier of now + the policy's TTL and the block's
// own), and whether to cache it. A block that fails its checksum is
// returned as it is and not cached.
func (t *Tiered) prepare(raw []byte, p schema.CachePolicy, now int64) (block []byte, expires int64, cache bool) {
	expires = now + p.TTL.Microseconds()
	cache = (p.L1 || p.L2) && p.TTL > 0
	if raw == nil {
		return nil, expires, cache
	}
	h, err := codec.Verify(raw)
	block = raw
	if err == nil && h.Compressed {
		block, err = codec.Decompress(nil, raw)
	}
	if err != nil {
		t.c.m.storeErrors.Inc()
		t.c.logCorrupt(err)
		return raw, 0, false
	}
	if h.Expired(now) {
		// It stays expired: cached as it is until the policy's TTL, so
		// that the reader tells an expired value from a missing one.
		return block, expires, cache
	}
	if h.Expiry != codec.NeverExpires && h.Expiry < expires {
		expires = h.Expiry
	}
	return block, expires, cache
}

// logCorrupt logs a corrupt block from the store, at most once a second.
func (c *Cache) logCorrupt(err error) {
	now := time.Now().UnixNano()
	if last := c.lastCorrupt.Load(); now-last >= int64(time.Second) && c.lastCorrupt.CompareAndSwap(last, now) {
		c.log.Warn("views: corrupt block from the store, not cached", "err", err)
	}
}

// flights are the store fetches in progress, by (entity key, group). One
// lock guards them: a read joins or starts the flights of all its misses
// in one step, so that concurrent reads of the same keys do not split the
// leadership between them (and the store reads with it); the lock is taken
// on misses only, and held for map operations.
//
// golang.org/x/sync/singleflight runs one function per key: per (key,
// group) it would turn a read of 100 cold keys into 100 store reads, and
// keyed by the whole batch it would share nothing between batches that
// overlap. Here a read leads one store read for all its misses that nobody
// fetches yet and waits for the others' flights; Invalidate can also take
// a flight out of the table, which singleflight's Forget does only per key
// string.
type flights struct {
	mu sync.Mutex
	m  map[uint64]*flight
}

// flight is one (entity key, group) being fetched, by the batch of one
// read.
type flight struct {
	key     Key // the leader's; valid while the flight is in the table
	group   uint32
	batch   *fetchBatch
	waiters int    // readers that joined it; under the lock
	block   []byte // absent for none; set before batch.done is closed
}

// fetchBatch is the store fetch of one read: its flights end together.
type fetchBatch struct {
	done  chan struct{}
	err   error // set before done is closed
	ended bool  // set by the leading read only
}

func (fl *flights) init() { fl.m = make(map[uint64]*flight) }

// join sets the flight of each item, starting the ones nobody leads (in
// r's batch), and splits the items by r's role: own (r fetches them; a nil
// flight when another key holds the slot), waits (another read fetches
// them) and aliases (r already leads the flight: a key or group asked for
// twice).
func (fl *flights) join(items []fetchItem, r *read) (own, waits, aliases []fetchItem) {
	var led []flight // one allocation for the read's flights; never grown
	fl.mu.Lock()
	defer fl.mu.Unlock()
	for _, it := range items {
		i, j := r.at(it.idx)
		k, g := r.keys[i], r.groups[j]
		f := fl.m[it.hg]
		switch {
		case f == nil:
			if led == nil {
				led = make([]flight, 0, len(items))
				r.batch = &fetchBatch{done: make(chan struct{})}
			}
			led = append(led, flight{key: k, group: g, batch: r.batch})
			f = &led[len(led)-1]
			fl.m[it.hg] = f
			it.f = f
			own = append(own, it)
		case f.group != g || !sameKey(f.key, k):
			own = append(own, it) // unshared
		case f.batch == r.batch:
			it.f = f
			aliases = append(aliases, it)
		default:
			f.waiters++
			it.f = f
			waits = append(waits, it)
		}
	}
	return own, waits, aliases
}

// end records the outcome of batch, takes the flights of items (those with
// one) out of the table and wakes their waiters, who read each flight's
// block unless err is set.
func (fl *flights) end(batch *fetchBatch, items []fetchItem, err error) {
	fl.mu.Lock()
	for _, it := range items {
		if it.f == nil {
			continue
		}
		if fl.m[it.hg] == it.f {
			delete(fl.m, it.hg)
		}
	}
	fl.mu.Unlock()
	batch.err, batch.ended = err, true
	close(batch.done)
}

// forget takes the flight of (k, g) out of the table, so that reads from
// now on do not join a fetch that began before an invalidation.
func (fl *flights) forget(hg uint64, k Key, g uint32) {
	fl.mu.Lock()
	if f := fl.m[hg]; f != nil && f.group == g && sameKey(f.key, k) {
		delete(fl.m, hg)
	}
	fl.mu.Unlock()
}
