package views

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"math/bits"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/bloom"
	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/ofstack/ofs/codec"
)

// diskCache is the L2: compressed blocks in a Pebble database on local
// disk, bounded in bytes. The layout is in docs/formats.md, "Pebble cache".
//
// Eviction without scanning: keys start with a generation number (uint32,
// big-endian), so each generation is one contiguous key range. Fills go to
// the current generation; a fill that would take it past its share of the
// bound (bound / generations) goes to the next one instead: the memtable is
// flushed (so that sstables hold one generation each), the next generation
// begins, and when that makes one generation too many, the
// oldest is dropped with one Pebble Excise of its key range, which removes
// the sstables that lie inside it from the LSM's metadata without reading
// them (one that straddles a boundary becomes a virtual sstable, read at
// most at the new bounds). The space is free once the files are deleted.
//
// Reads find a key through an in-memory index rather than by probing each
// generation: a table of 4-slot buckets addressed by the hash of (entity
// key, feature group), each slot a 24-bit fingerprint of the hash and an
// 8-bit tag of the generation the entry was last written to. A lookup with
// no matching slot, or one whose generation was dropped, is a miss without
// touching the disk; otherwise it is one Pebble Get. Two entries with the
// same bucket and fingerprint share a slot, so the older becomes
// unreachable: a miss, never a wrong block, because the Pebble key holds
// the whole entity key. The index takes 4 bytes per slot, one slot per 256
// bytes of bound (about 1.6% of it).
//
// An L2 hit in the older half of the generations is written again into the
// current generation (a promotion), so entries in use survive the drop of
// their generation; the others age out with it.
//
// Writes are asynchronous: a single writer goroutine takes fills from a
// bounded queue, compresses the blocks (codec.Compress), writes them in
// batches without a WAL and without sync (the cache is emptied when it
// opens, so nothing needs to survive a crash), then points the index at
// them. A fill that finds the queue full is dropped and counted. A fill
// whose (key, group) was invalidated after it began is not written, and
// the index is pointed under the bucket's lock after the same check, which
// Invalidate's clearing of the entry also takes (see Cache.Invalidate).
// Invalidations write nothing to Pebble: an entry out of the index cannot
// be read, and its bytes leave with its generation.
//
// Errors never reach a reader: a failed Get is a miss, logged (at most
// once a second) and counted. Pebble treats some write errors as fatal (a
// MANIFEST that cannot be written, as on a full disk) and calls its
// logger's Fatalf, which would exit the process; the cache's logger
// instead marks the L2 failed, from then on a tier of misses, and parks the
// calling goroutine for good (Pebble's state is not to be used again).
// Flushes that fail are retried by Pebble; the file system wrapper makes
// those retries back off (10 ms doubling to 1 s) instead of spinning.
type diskCache struct {
	db  *pebble.DB
	fs  *backoffFS
	dir string
	log *slog.Logger
	m   *cacheMetrics

	epochs   *epochs
	hints    []atomic.Uint32
	hintMask uint64
	locks    [256]sync.Mutex // guard the writes of hints, by bucket

	oldest  atomic.Uint32 // the live generations are oldest to current
	current atomic.Uint32

	gens       uint32 // the number of live generations at most
	genTarget  int64  // the bytes of one generation
	promoteAge uint32 // an entry this many generations old or more is promoted on a hit

	// The writer's state.
	queue    chan diskOp
	stop     chan struct{}
	done     chan struct{}
	genBytes map[uint32]int64
	excised  uint32 // the generations below it are removed from disk
	value    []byte // scratch value of the writer

	life   sync.RWMutex // Get under read lock; close under write lock
	closed bool

	// onDrop, set by tests before the first write, is called before
	// (false) and after (true) each generation drop.
	onDrop func(done bool)

	failOnce  sync.Once
	failedCh  chan struct{}
	failed    atomic.Bool
	failure   error
	lastLog   atomic.Int64 // UnixNano of the last error logged
	closeWait time.Duration
}

// diskOp is a job for the L2 writer.
type diskOp struct {
	kind  diskOpKind
	hg    uint64 // hashGroup of (entity key, group)
	start uint64 // the invalidation clock when the fill began
	// key is the Pebble key with 4 bytes for the generation first, which
	// the writer fills in.
	key     []byte
	expires int64
	// block is the uncompressed block of a fill (nil for a cached miss), or
	// the stored value of a promotion.
	block []byte
	done  chan struct{} // diskBarrier
	skip  bool          // the writer drops it
}

type diskOpKind uint8

const (
	diskFill diskOpKind = iota
	diskPromote
	diskBarrier // closes done once every op before it is written
)

const (
	diskValueHeader = 8 // the expiry, int64 little-endian µs
	diskGenSize     = 4
	diskBatchOps    = 256
	hintBucket      = 4
	hintFPShift     = 40 // the fingerprint is bits 40-63 of the hash
)

// errDiskFailed is the failure recorded when Pebble reported a fatal error.
var errDiskFailed = errors.New("views: l2: pebble failed")

func openDiskCache(cfg *cacheConfig, e *epochs, m *cacheMetrics) (*diskCache, error) {
	base := cfg.diskFS
	if base == nil {
		base = vfs.Default
	}
	gens := uint32(cfg.generations)
	d := &diskCache{
		fs:         &backoffFS{FS: base},
		dir:        cfg.diskDir,
		log:        cfg.log,
		m:          m,
		epochs:     e,
		gens:       gens,
		genTarget:  cfg.diskBytes / int64(gens),
		promoteAge: max(1, gens/2),
		queue:      make(chan diskOp, cfg.diskQueue),
		stop:       make(chan struct{}),
		done:       make(chan struct{}),
		genBytes:   make(map[uint32]int64),
		failedCh:   make(chan struct{}),
		closeWait:  cfg.closeTimeout,
	}
	slots := max(1024, 1<<bits.Len64(uint64(cfg.diskBytes/256)-1))
	d.hints = make([]atomic.Uint32, slots)
	d.hintMask = uint64(slots - 1)
	if err := d.fs.MkdirAll(d.dir, 0o755); err != nil {
		return nil, fmt.Errorf("views: l2: %w", err)
	}

	opts := &pebble.Options{
		FS:                          d.fs,
		DisableWAL:                  true,
		FormatMajorVersion:          pebble.FormatNewest, // Excise needs virtual sstables
		CacheSize:                   cfg.blockCache,
		MemTableSize:                uint64(min(max(d.genTarget/4, 1<<20), 32<<20)),
		MemTableStopWritesThreshold: 4,
		Logger:                      pebbleLogger{d},
		EventListener: &pebble.EventListener{
			BackgroundError: func(err error) {
				d.fs.failed()
				d.error("background", err)
			},
			FlushEnd: func(info pebble.FlushInfo) {
				if info.Err == nil {
					d.fs.recovered()
				}
			},
		},
	}
	for i := range opts.Levels {
		opts.Levels[i].FilterPolicy = bloom.FilterPolicy(10)
	}
	type opened struct {
		db  *pebble.DB
		err error
	}
	// Open in a goroutine of its own: a fatal error parks it for good (see
	// pebbleLogger.Fatalf) and must not hang the caller.
	ch := make(chan opened, 1)
	go func() {
		db, err := pebble.Open(d.dir, opts)
		if err != nil {
			ch <- opened{nil, fmt.Errorf("views: l2: open %s: %w", d.dir, err)}
			return
		}
		// Empty the cache: it may hold blocks that were invalidated while
		// the server was down. Excise drops whole sstables without reading
		// them.
		all := pebble.KeyRange{Start: []byte{0}, End: []byte{0xff, 0xff, 0xff, 0xff, 0xff}}
		if err := db.Excise(context.Background(), all); err != nil {
			ch <- opened{nil, errors.Join(fmt.Errorf("views: l2: empty %s: %w", d.dir, err), db.Close())}
			return
		}
		ch <- opened{db, nil}
	}()
	select {
	case o := <-ch:
		if o.err != nil {
			return nil, o.err
		}
		d.db = o.db
	case <-d.failedCh:
		return nil, fmt.Errorf("views: l2: open %s: %w", d.dir, d.failure)
	}
	d.oldest.Store(1)
	d.current.Store(1)
	d.excised = 1
	go d.run()
	return d, nil
}

// tag is the 8-bit tag of generation g in the index: 1 to 255 (0 is an
// empty slot). The live generations are fewer than 255, so a tag names at
// most one of them.
func tag(g uint32) uint32 { return g%255 + 1 }

// generation returns the live generation of tag t, if any.
func (d *diskCache) generation(t uint32) (uint32, bool) {
	c, o := d.current.Load(), d.oldest.Load()
	back := (tag(c) + 255 - t) % 255
	if back > c-o {
		return 0, false
	}
	return c - back, true
}

func (d *diskCache) bucket(hg uint64) uint64 { return hg & d.hintMask &^ (hintBucket - 1) }

func fingerprint(hg uint64) uint32 { return uint32(hg>>hintFPShift) << 8 }

// find returns the generation that the index gives for hg.
func (d *diskCache) find(hg uint64) (uint32, bool) {
	b, fp := d.bucket(hg), fingerprint(hg)
	for i := range uint64(hintBucket) {
		if v := d.hints[b+i].Load(); v != 0 && v&^0xff == fp {
			return d.generation(v & 0xff)
		}
	}
	return 0, false
}

// point makes the index give generation g for hg, unless an invalidation
// of hg came after start. It holds the bucket's lock, which forget takes
// too, so that the check and the write are one step for an invalidation.
func (d *diskCache) point(hg uint64, g uint32, start uint64) bool {
	b, fp := d.bucket(hg), fingerprint(hg)
	l := &d.locks[(b/hintBucket)%uint64(len(d.locks))]
	l.Lock()
	defer l.Unlock()
	if !d.epochs.valid(hg, start) {
		return false
	}
	// The slot of the same fingerprint, else an empty one or one of a
	// dropped generation, else the one of the oldest generation.
	victim, age := -1, uint32(0)
	for i := range hintBucket {
		if v := d.hints[b+uint64(i)].Load(); v != 0 && v&^0xff == fp {
			victim = i
			break
		}
	}
	if victim < 0 {
		for i := range hintBucket {
			v := d.hints[b+uint64(i)].Load()
			vg, live := d.generation(v & 0xff)
			if v == 0 || !live {
				victim = i
				break
			}
			if a := g - vg; victim < 0 || a > age {
				victim, age = i, a
			}
		}
	}
	d.hints[b+uint64(victim)].Store(fp | tag(g))
	return true
}

// forget removes hg from the index: its entry can no longer be read. The
// data stays on disk until its generation is dropped.
func (d *diskCache) forget(hg uint64) {
	b, fp := d.bucket(hg), fingerprint(hg)
	l := &d.locks[(b/hintBucket)%uint64(len(d.locks))]
	l.Lock()
	for i := range uint64(hintBucket) {
		if v := d.hints[b+i].Load(); v != 0 && v&^0xff == fp {
			d.hints[b+i].Store(0)
		}
	}
	l.Unlock()
}

// appendDiskKey appends the Pebble key of (k, group) in generation gen:
// gen (uint32 big-endian), the entity and each key value as uvarint length
// and bytes (after the count of values, uvarint), then group (uint32
// big-endian).
func appendDiskKey(dst []byte, gen uint32, k Key, group uint32) []byte {
	dst = binary.BigEndian.AppendUint32(dst, gen)
	dst = binary.AppendUvarint(dst, uint64(len(k.Entity)))
	dst = append(dst, k.Entity...)
	dst = binary.AppendUvarint(dst, uint64(len(k.Values)))
	for _, v := range k.Values {
		dst = binary.AppendUvarint(dst, uint64(len(v)))
		dst = append(dst, v...)
	}
	return binary.BigEndian.AppendUint32(dst, group)
}

func diskKeySize(k Key) int {
	n := diskGenSize + 2*binary.MaxVarintLen32 + len(k.Entity) + 4
	for _, v := range k.Values {
		n += binary.MaxVarintLen32 + len(v)
	}
	return n
}

// diskHit is the outcome of a lookup.
type diskHit struct {
	found   bool
	block   []byte // uncompressed, or absent for a cached miss
	expires int64
	// promote holds the Pebble key and value to write again into the
	// current generation, when the entry was found in an old one.
	promoteKey, promoteValue []byte
}

// get looks (k, group) up, building the Pebble key in buf (scratch space,
// which may be nil). Every failure is a miss.
func (d *diskCache) get(hg uint64, k Key, group uint32, now int64, buf *[]byte) diskHit {
	if d.failed.Load() {
		return diskHit{}
	}
	gen, ok := d.find(hg)
	if !ok {
		return diskHit{}
	}
	key := appendDiskKey((*buf)[:0], gen, k, group)
	*buf = key
	d.life.RLock()
	defer d.life.RUnlock()
	if d.closed {
		return diskHit{}
	}
	v, closer, err := d.db.Get(key)
	if err != nil {
		if !errors.Is(err, pebble.ErrNotFound) {
			d.error("read", err)
		}
		return diskHit{}
	}
	defer closer.Close()
	if len(v) < diskValueHeader {
		d.error("read", fmt.Errorf("%w: value of %d bytes", codec.ErrTruncated, len(v)))
		return diskHit{}
	}
	expires := int64(binary.LittleEndian.Uint64(v))
	if expires <= now {
		return diskHit{}
	}
	h := diskHit{found: true, block: absent, expires: expires}
	if len(v) > diskValueHeader {
		if h.block, err = codec.Decompress(nil, v[diskValueHeader:]); err != nil {
			d.error("read", err)
			return diskHit{}
		}
	}
	if d.current.Load()-gen >= d.promoteAge {
		h.promoteKey, h.promoteValue = bytes.Clone(key), bytes.Clone(v)
	}
	return h
}

// fill queues the block of (k, group) for writing, with its cache expiry;
// block nil is a cached miss. The fill noted the invalidation clock at
// start. The block must not change afterwards.
func (d *diskCache) fill(hg uint64, k Key, group uint32, start uint64, expires int64, block []byte) {
	d.enqueue(diskOp{kind: diskFill, hg: hg, start: start, key: appendDiskKey(make([]byte, 0, diskKeySize(k)), 0, k, group),
		expires: expires, block: block})
}

// promote queues an entry found in an old generation for writing into the
// current one.
func (d *diskCache) promote(hg uint64, start uint64, key, value []byte) {
	d.enqueue(diskOp{kind: diskPromote, hg: hg, start: start, key: key, block: value})
}

// error counts an L2 error and logs it, at most once a second.
func (d *diskCache) error(op string, err error) {
	d.m.l2Errors.Inc()
	now := time.Now().UnixNano()
	if last := d.lastLog.Load(); now-last >= int64(time.Second) && d.lastLog.CompareAndSwap(last, now) {
		d.log.Warn("views: l2 cache error, served as a miss", "op", op, "dir", d.dir, "err", err.Error())
	}
}

// fail marks the L2 failed for good.
func (d *diskCache) fail(err error) {
	d.failOnce.Do(func() {
		d.failure = err
		d.failed.Store(true)
		close(d.failedCh)
		d.m.diskFailed.Set(1)
		d.m.l2Errors.Inc()
		d.log.Error("views: l2 cache failed; it serves only misses from now on", "dir", d.dir, "err", err.Error())
	})
}

// close stops the writer and closes the database, waiting at most
// closeWait.
func (d *diskCache) close() error {
	d.life.Lock()
	d.closed = true
	d.life.Unlock()
	close(d.stop)
	timeout := time.NewTimer(d.closeWait)
	defer timeout.Stop()
	select {
	case <-d.done:
	case <-d.failedCh:
		return fmt.Errorf("views: l2: %s left open: %w", d.dir, d.failure)
	case <-timeout.C:
		return fmt.Errorf("views: l2: %s left open: the writer did not stop within %v", d.dir, d.closeWait)
	}
	closed := make(chan error, 1)
	go func() { closed <- d.db.Close() }()
	select {
	case err := <-closed:
		if err != nil {
			return fmt.Errorf("views: l2: close %s: %w", d.dir, err)
		}
		return nil
	case <-d.failedCh:
		return fmt.Errorf("views: l2: %s left open: %w", d.dir, d.failure)
	case <-timeout.C:
		return fmt.Errorf("views: l2: %s left open: Pebble did not close within %v", d.dir, d.closeWait)
	}
}

// pebbleLogger sends Pebble's messages to the cache's logger, and turns its
// fatal errors into a failed L2 instead of an exit.
type pebbleLogger struct{ d *diskCache }

func (l pebbleLogger) Infof(format string, args ...any) {
	if l.d.log.Enabled(context.Background(), slog.LevelDebug) {
		l.d.log.Debug("pebble: "+fmt.Sprintf(format, args...), "dir", l.d.dir)
	}
}

func (l pebbleLogger) Errorf(format string, args ...any) {
	l.d.log.Warn("pebble: "+fmt.Sprintf(format, args...), "dir", l.d.dir)
}

// Fatalf marks the L2 failed and never returns: Pebble calls it where it
// cannot go on (for example when a MANIFEST write fails), expecting the
// process to exit, so the goroutine it runs on must not return into
// Pebble's broken state.
func (l pebbleLogger) Fatalf(format string, args ...any) {
	l.d.fail(fmt.Errorf("%w: %s", errDiskFailed, fmt.Sprintf(format, args...)))
	select {}
}

// backoffFS delays the creation of files after a background error, so
// that Pebble's retries of a failing flush back off instead of spinning.
type backoffFS struct {
	vfs.FS
	until atomic.Int64 // UnixNano before which Create waits
	delay atomic.Int64 // the delay after the next failure
}

// Create waits out the backoff, then creates the file.
func (fs *backoffFS) Create(name string, category vfs.DiskWriteCategory) (vfs.File, error) {
	if wait := time.Until(time.Unix(0, fs.until.Load())); wait > 0 {
		time.Sleep(wait)
	}
	return fs.FS.Create(name, category)
}

// Unwrap returns the wrapped file system.
func (fs *backoffFS) Unwrap() vfs.FS { return fs.FS }

func (fs *backoffFS) failed() {
	d := min(max(2*time.Duration(fs.delay.Load()), 10*time.Millisecond), time.Second)
	fs.delay.Store(int64(d))
	fs.until.Store(time.Now().Add(d).UnixNano())
}

func (fs *backoffFS) recovered() {
	fs.delay.Store(0)
	fs.until.Store(0)
}
