package views

import (
	"errors"
	"fmt"
	"hash/maphash"
	"log/slog"
	"math/bits"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/prometheus/client_golang/prometheus"
)

// Cache holds the two cache tiers of a feature server, shared by every store
// it reads through (feature group ids are unique across stores):
//
//   - L1, in memory: uncompressed blocks, bounded in bytes, evicted by a
//     sharded CLOCK (see memCache).
//   - L2, on local disk in Pebble: compressed blocks, bounded in bytes,
//     evicted a whole generation at a time without reading it (see
//     diskCache and docs/formats.md, "Pebble cache").
//
// Both tiers cache misses too (a key without a block in a group), so that a
// hot missing key does not reach the store on every read. An entry expires
// at the earlier of the group's cache TTL and the block's own expiry.
//
// Reads go through a Tiered, which pairs the Cache with one Store.
// Invalidate drops entries when the store is written; it wins over fills
// that were in flight when it was called (see Invalidate).
//
// A Cache is safe for concurrent use. Close it when done.
type Cache struct {
	mem  *memCache  // nil: no L1
	disk *diskCache // nil: no L2

	seq     atomic.Uint64 // the invalidation clock, see epochs
	epochs  epochs
	flights flights

	seed        maphash.Seed
	now         func() time.Time
	log         *slog.Logger
	m           *cacheMetrics
	lastCorrupt atomic.Int64 // UnixNano of the last corrupt block logged

	closeOnce sync.Once
	closeErr  error
}

// Defaults of a Cache.
const (
	// DefaultCacheMemory is the L1 bound without the CacheMemory option.
	DefaultCacheMemory = 256 << 20
	// DefaultCacheDiskQueue is the number of L2 fills waiting to be written
	// without the CacheDiskQueue option; more are dropped.
	DefaultCacheDiskQueue = 4096
	// DefaultCacheCloseTimeout bounds how long Close waits for the L2.
	DefaultCacheCloseTimeout = 10 * time.Second

	// minDiskBytes is the smallest L2 bound: below it a generation would
	// hold a few blocks.
	minDiskBytes = 1 << 20
	// defaultGenerations is the number of L2 generations: dropping the
	// oldest frees an eighth of the cache.
	defaultGenerations = 8
)

type cacheConfig struct {
	memBytes     int64
	diskDir      string
	diskBytes    int64
	diskQueue    int
	diskFS       vfs.FS
	generations  int
	blockCache   int64
	memShards    int
	closeTimeout time.Duration
	reg          prometheus.Registerer
	log          *slog.Logger
	now          func() time.Time
}

// CacheOption configures a Cache.
type CacheOption func(*cacheConfig)

// CacheMemory bounds the L1, in bytes of blocks and bookkeeping (default
// DefaultCacheMemory); 0 turns the L1 off.
func CacheMemory(bytes int64) CacheOption { return func(c *cacheConfig) { c.memBytes = bytes } }

// CacheDisk turns the L2 on: a Pebble database in dir, which the cache owns
// and empties when it opens (entries in it may have missed invalidations
// while the server was down), bounded to about bytes of data.
func CacheDisk(dir string, bytes int64) CacheOption {
	return func(c *cacheConfig) { c.diskDir, c.diskBytes = dir, bytes }
}

// CacheDiskQueue sets how many L2 fills may wait for the disk (default
// DefaultCacheDiskQueue). A fill that finds the queue full is dropped and
// counted: a read never waits for the disk.
func CacheDiskQueue(n int) CacheOption { return func(c *cacheConfig) { c.diskQueue = n } }

// CacheCloseTimeout bounds how long Close waits for the L2 to stop
// (default DefaultCacheCloseTimeout): a disk that fails every write can
// leave Pebble retrying for ever.
func CacheCloseTimeout(d time.Duration) CacheOption {
	return func(c *cacheConfig) { c.closeTimeout = d }
}

// CacheRegisterer registers the cache's metrics with r (default: none).
func CacheRegisterer(r prometheus.Registerer) CacheOption {
	return func(c *cacheConfig) { c.reg = r }
}

// CacheLogger sets the logger (default slog.Default()).
func CacheLogger(l *slog.Logger) CacheOption { return func(c *cacheConfig) { c.log = l } }

// CacheClock sets the clock that entries expire by (default time.Now).
func CacheClock(now func() time.Time) CacheOption { return func(c *cacheConfig) { c.now = now } }

// cacheDiskFS makes the L2 use fs instead of the operating system's files
// (tests inject errors through it).
func cacheDiskFS(fs vfs.FS) CacheOption { return func(c *cacheConfig) { c.diskFS = fs } }

// cacheGenerations sets the number of L2 generations.
func cacheGenerations(n int) CacheOption { return func(c *cacheConfig) { c.generations = n } }

// cacheMemShards sets the number of L1 shards (tests use one, to see the
// eviction order).
func cacheMemShards(n int) CacheOption { return func(c *cacheConfig) { c.memShards = n } }

// NewCache returns a cache configured by opts. With CacheDisk it opens the
// Pebble database, and fails if it cannot.
func NewCache(opts ...CacheOption) (*Cache, error) {
	cfg := cacheConfig{
		memBytes:     DefaultCacheMemory,
		diskQueue:    DefaultCacheDiskQueue,
		generations:  defaultGenerations,
		blockCache:   8 << 20,
		closeTimeout: DefaultCacheCloseTimeout,
		now:          time.Now,
	}
	for _, o := range opts {
		o(&cfg)
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if cfg.log == nil {
		cfg.log = slog.Default()
	}
	m, err := newCacheMetrics(cfg.reg)
	if err != nil {
		return nil, err
	}
	c := &Cache{seed: maphash.MakeSeed(), now: cfg.now, log: cfg.log, m: m}
	c.epochs.init(epochSlots)
	c.flights.init()
	if cfg.memBytes > 0 {
		shards := cfg.memShards
		if shards == 0 {
			shards = memShardCount(cfg.memBytes)
		}
		c.mem = newMemCache(cfg.memBytes, shards, &c.epochs, m)
	}
	if cfg.diskBytes > 0 {
		if c.disk, err = openDiskCache(&cfg, &c.epochs, m); err != nil {
			return nil, err
		}
	}
	return c, nil
}

func (c *cacheConfig) validate() error {
	switch {
	case c.memBytes < 0:
		return fmt.Errorf("%w: cache memory of %d bytes", ErrInvalidOption, c.memBytes)
	case c.diskBytes < 0, c.diskBytes > 0 && c.diskBytes < minDiskBytes:
		return fmt.Errorf("%w: cache disk of %d bytes, want 0 (off) or at least %d", ErrInvalidOption, c.diskBytes, minDiskBytes)
	case c.diskBytes > 0 && c.diskDir == "":
		return fmt.Errorf("%w: cache disk without a directory", ErrInvalidOption)
	case c.diskQueue < 1:
		return fmt.Errorf("%w: cache disk queue of %d", ErrInvalidOption, c.diskQueue)
	case c.generations < 2 || c.generations > 64:
		return fmt.Errorf("%w: %d cache disk generations, want 2 to 64", ErrInvalidOption, c.generations)
	case c.memShards < 0:
		return fmt.Errorf("%w: %d cache memory shards", ErrInvalidOption, c.memShards)
	case c.closeTimeout <= 0:
		return fmt.Errorf("%w: cache close timeout %v", ErrInvalidOption, c.closeTimeout)
	case c.now == nil:
		return fmt.Errorf("%w: nil cache clock", ErrInvalidOption)
	}
	return nil
}

// memShardCount is the number of L1 shards: enough that cores rarely meet
// on one lock (16 per core, up to 256), few enough that each holds at least
// 1 MiB, so that one shard's eviction order stays close to the whole
// cache's.
func memShardCount(bytes int64) int {
	n := 16 * runtime.GOMAXPROCS(0)
	n = min(n, 256, int(bytes>>20))
	if n < 1 {
		return 1
	}
	return 1 << (bits.Len(uint(n)) - 1)
}

// Tiered returns the reader of store through the cache.
func (c *Cache) Tiered(store Store) *Tiered { return &Tiered{c: c, store: store} }

// Invalidate drops the entries of keys × groups from both tiers, and keeps
// fills that were in flight when it was called from putting the blocks they
// read back: the invalidation consumer calls it after a write to the store,
// and from the moment it returns no read is served a block older than that
// write.
//
// How: every (key, group) hashes to an epoch slot. Each fill notes the
// invalidation clock before it reads (the store, or the L2), and stores
// only if the slot's epoch is not newer (for the L1 under the shard lock,
// for the L2 under the hint lock, see diskCache.put). Invalidate advances
// the slot's epoch, removes the in-flight fetch so that new readers do not
// join it, clears the L2 index entry, advances the epoch again and deletes
// the L1 entry. The second advance covers a reader that noted the clock
// after the first one but found the L2 entry before it was cleared: its L1
// fill sees the second epoch and is dropped. A hash collision only drops a
// fill that would have been valid (counted as raced).
func (c *Cache) Invalidate(keys []Key, groups []uint32) {
	if len(keys) == 0 || len(groups) == 0 {
		return
	}
	for _, k := range keys {
		h := c.hashKey(k)
		for _, g := range groups {
			hg := hashGroup(h, g)
			c.epochs.advance(hg, c.seq.Add(1))
			c.flights.forget(hg, k, g)
			if c.disk != nil {
				c.disk.forget(hg)
			}
			c.epochs.advance(hg, c.seq.Add(1))
			if c.mem != nil {
				c.mem.remove(h, k, g)
			}
		}
	}
	c.m.invalidations.Add(float64(len(keys) * len(groups)))
}

// Close stops the L2 writer and closes the Pebble database. It waits at
// most the CacheCloseTimeout; a database that failed or does not stop in
// time is left open (its goroutines are blocked in Pebble) and reported.
func (c *Cache) Close() error {
	c.closeOnce.Do(func() {
		if c.disk != nil {
			c.closeErr = c.disk.close()
		}
	})
	return c.closeErr
}

// hashKey hashes an entity key: the entity and each value, so that
// ("ab", "c") and ("a", "bc") differ. Equal keys hash equally; lookups
// compare the keys themselves, so a collision costs a miss, never a wrong
// block.
func (c *Cache) hashKey(k Key) uint64 {
	return c.hashValues(maphash.String(c.seed, k.Entity), k.Values)
}

// hashValues is hashKey of a key of values whose entity hashes to h.
func (c *Cache) hashValues(h uint64, values []string) uint64 {
	for _, v := range values {
		h = mix64(h ^ maphash.String(c.seed, v))
	}
	return h
}

// hashKeys appends the hashKey of each of keys to dst, hashing the entity
// once for a run of keys of the same one (a batch is nearly always one).
func (c *Cache) hashKeys(keys []Key, dst []uint64) []uint64 {
	dst = slices.Grow(dst, len(keys))
	var entity string
	var he uint64
	for i, k := range keys {
		if i == 0 || k.Entity != entity {
			entity, he = k.Entity, maphash.String(c.seed, k.Entity)
		}
		dst = append(dst, c.hashValues(he, k.Values))
	}
	return dst
}

// hashGroup combines a key's hash with a group id.
func hashGroup(h uint64, g uint32) uint64 { return mix64(h + uint64(g)*0x9e3779b97f4a7c15) }

// mix64 is the finalizer of SplitMix64: every input bit affects every
// output bit.
func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	return x ^ x>>31
}

// sameKey reports whether a and b are the same entity key.
func sameKey(a, b Key) bool {
	if a.Entity != b.Entity || len(a.Values) != len(b.Values) {
		return false
	}
	for i := range a.Values {
		if a.Values[i] != b.Values[i] {
			return false
		}
	}
	return true
}

// epochSlots is the size of the epoch table: 512 KiB. A fill is dropped
// when another key of its slot is invalidated during the fill's flight (a
// store round trip); at 100,000 invalidations a second and a 1 ms flight,
// one fill in 650.
const epochSlots = 1 << 16

// epochs holds, per slot of (key, group) hashes, the invalidation clock of
// the latest invalidation of any (key, group) in the slot.
type epochs struct {
	slots []atomic.Uint64
	mask  uint64
}

func (e *epochs) init(n int) {
	e.slots = make([]atomic.Uint64, n)
	e.mask = uint64(n - 1)
}

// advance raises the epoch of hg's slot to at least t.
func (e *epochs) advance(hg, t uint64) {
	s := &e.slots[hg&e.mask]
	for {
		old := s.Load()
		if old >= t || s.CompareAndSwap(old, t) {
			return
		}
	}
}

// valid reports whether a fill that noted the clock at start may store the
// block of hg: no invalidation of its slot came later.
func (e *epochs) valid(hg, start uint64) bool { return e.slots[hg&e.mask].Load() <= start }

// errFetchAbandoned is the error of a fetch that its reader gave up (it
// panicked), seen by the readers waiting for it, who fetch again.
var errFetchAbandoned = errors.New("views: cache: fetch abandoned")
