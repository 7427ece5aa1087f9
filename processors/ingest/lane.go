package ingest

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lovoo/goka"

	"github.com/ofstack/ofs/internal/backoff"
	"github.com/ofstack/ofs/internal/events"
	"github.com/ofstack/ofs/schema"
	"github.com/ofstack/ofs/topics"
	"github.com/ofstack/ofs/views"
)

// A lane is the batching state of one partition assignment. goka calls the
// callback of a partition from one goroutine; the lane adds each message to
// the current batch, hands a full (or lingering) batch to its flusher, which
// writes the blocks, and the committer releases the messages' deferred
// commits in offset order once their batch is written and its dead letters
// and invalidations are acknowledged. A send that fails is sent again, with
// backoff, until Kafka takes it: the partition waits meanwhile, and no
// commit covers the message before it is acknowledged.
//
//	callback --batch--> flusher (store writes, retries) --flushed--> committer (commits)
//
// The channels between them are short, so a partition whose store is down
// stops taking messages after a few batches: it waits, holding everything
// uncommitted. The flusher, with its retries and the isolation of refused
// blocks, is in flush.go.
type lane struct {
	p         *Processor
	partition int32
	ctx       context.Context
	dec       *events.Decoder // callback goroutine only
	scratch   []byte          // callback goroutine only: the block being decoded

	// next is the offset after the last message committed; before the
	// first commit, the offset of the first message (-1 before that).
	next atomic.Int64

	mu     sync.Mutex // guards the fields below
	cur    *batch
	seq    uint64
	timer  *time.Timer
	closed bool
	giveUp bool // a message was given up: every later one is too

	flushes chan *batch
	commits chan *flushed
	free    chan *batch

	drainOnce   sync.Once // flusher goroutine only, as the two below
	drainCtx    context.Context
	drainCancel context.CancelFunc
}

// source is what a late dead letter needs of the original message.
type source struct {
	key       string
	value     []byte
	headers   goka.Headers
	partition int32
	offset    int64
	timestamp time.Time
}

// entry is one message of a batch.
type entry struct {
	src   source
	done  func(error)
	block int // index in batch.blocks; -1 for a message already dead-lettered
}

// dest is where one block of a batch goes.
type dest struct {
	store  views.Store
	entity *schema.Entity
	entry  int
}

type batch struct {
	seq     uint64
	entries []entry
	blocks  []views.Block
	dests   []dest // parallel to blocks
	arena   []byte // the blocks' bytes
	sends   []send // the dead letters of the callback
}

// send is a message the batch caused (a dead letter, an invalidation): its
// promise, and how to send it again.
type send struct {
	what  string
	pr    *goka.Promise
	again func() *goka.Promise
}

// flushed is a written batch on its way to the committer.
type flushed struct {
	b     *batch
	sends []send // the flush's dead letters and invalidations
	err   error  // ErrAbandoned: commit nothing
}

func newLane(ctx context.Context, p *Processor, partition int32) *lane {
	ln := &lane{
		p:         p,
		partition: partition,
		ctx:       ctx,
		dec:       events.NewDecoder(&p.layouts, p.decoderOpts...),
		flushes:   make(chan *batch, 2),
		commits:   make(chan *flushed, 4),
		free:      make(chan *batch, 8),
	}
	ln.next.Store(-1)
	p.wg.Add(3)
	go func() { defer p.wg.Done(); ln.flushLoop() }()
	go func() { defer p.wg.Done(); ln.commitLoop() }()
	go func() { defer p.wg.Done(); ln.watch() }()
	return ln
}

// watch hands over the last batch when the partition stops.
func (ln *lane) watch() {
	<-ln.ctx.Done()
	ln.mu.Lock()
	defer ln.mu.Unlock()
	if ln.cur != nil && len(ln.cur.entries) > 0 {
		ln.handOff()
	}
	ln.closed = true
	close(ln.flushes)
}

// add decodes one message and adds it to the current batch. A message that
// is not a valid event is sent to the dead letters from the callback, and
// commits in its turn, once the dead letter is acknowledged.
func (ln *lane) add(src source, done func(error)) {
	if ln.next.Load() < 0 {
		ln.next.Store(src.offset) // only this goroutine stores before the first commit
	}
	row, st, rej := ln.decode(src)
	if rej == errStopped {
		ln.mu.Lock()
		ln.giveUp = true // nothing after this message may commit
		ln.mu.Unlock()
		done(ErrAbandoned)
		return
	}
	var dl send
	if rej != nil {
		dl = ln.p.deadLetter(src, rej)
	}
	var ttl time.Duration
	if rej == nil {
		ttl = views.StoreTTL(row.Expiry, ln.p.now())
	}

	ln.mu.Lock()
	defer ln.mu.Unlock()
	if ln.closed || ln.giveUp {
		done(ErrAbandoned)
		return
	}
	b := ln.current()
	e := entry{src: src, done: done, block: -1}
	if rej == nil {
		start := len(b.arena)
		b.arena = append(b.arena, row.Block...)
		e.block = len(b.blocks)
		b.blocks = append(b.blocks, views.Block{Key: row.Key, Group: row.Group.ID, Data: b.arena[start:len(b.arena):len(b.arena)],
			EventTime: row.EventTime, TTL: ttl})
		b.dests = append(b.dests, dest{store: st, entity: row.Entity, entry: len(b.entries)})
	}
	b.entries = append(b.entries, e)
	if rej != nil {
		b.sends = append(b.sends, dl)
	}
	switch {
	case len(b.entries) >= ln.p.batchSize || len(b.arena) >= maxBatchBytes:
		ln.handOff()
	case len(b.entries) == 1:
		seq := b.seq
		ln.timer = time.AfterFunc(ln.p.linger, func() { ln.lingered(seq) })
	}
}

// decode decodes src against the held registry, syncing the registry first
// when the event names something the held snapshot lacks.
func (ln *lane) decode(src source) (events.Row, views.Store, *events.Error) {
	m := events.Message{Value: src.value, ContentType: header(src.headers, topics.HeaderContentType),
		Timestamp: src.timestamp, Key: src.key, CheckKey: true}
	snap := ln.p.holder.Load()
	row, out, err := ln.dec.Decode(snap, m, ln.scratch[:0])
	if err != nil && ln.p.schemaMiss(err, src.timestamp) {
		newer, stopped := ln.syncRegistry(snap, src.timestamp)
		if stopped {
			return events.Row{}, nil, errStopped
		}
		if newer != nil {
			snap = newer
			row, out, err = ln.dec.Decode(snap, m, ln.scratch[:0])
		}
	}
	if err != nil {
		var rej *events.Error
		if !errors.As(err, &rej) {
			rej = &events.Error{Code: events.CodeBadValue, Reason: err.Error()}
		}
		return events.Row{}, nil, rej
	}
	ln.scratch = out
	waits := ln.waits()
	for {
		st, rej, err := ln.p.storeOf(snap, row.Group)
		switch {
		case rej != nil:
			return events.Row{}, nil, rej
		case err == nil:
			return row, st, nil
		}
		// The store cannot be reached to be opened: the partition waits, as
		// it does for a write.
		ln.p.metrics.retries.Inc()
		wait := waits.Next()
		ln.p.log.Warn("store cannot be opened; retrying", "partition", ln.partition, "err", err, "backoff", wait)
		if !backoff.Sleep(ln.ctx, wait) {
			return events.Row{}, nil, errStopped
		}
	}
}

// syncRegistry syncs the registry for an event produced at t, waiting with
// backoff while the registry cannot be read: an event is not rejected for a
// group it may name validly. stopped when the partition stopped first.
func (ln *lane) syncRegistry(snap *schema.Snapshot, t time.Time) (newer *schema.Snapshot, stopped bool) {
	waits := ln.waits()
	for {
		newer, err := ln.p.syncRegistry(ln.ctx, snap, t)
		if err == nil {
			return newer, false
		}
		ln.p.metrics.retries.Inc()
		wait := waits.Next()
		ln.p.log.Warn("registry cannot be read to decide an event; retrying", "partition", ln.partition, "err", err,
			"backoff", wait)
		if !backoff.Sleep(ln.ctx, wait) {
			return nil, true
		}
	}
}

// waits returns the waits between the retries of one operation of the
// lane: from the processor's first backoff, doubling up to its largest.
func (ln *lane) waits() *backoff.Doubling {
	return &backoff.Doubling{First: ln.p.backoff, Max: ln.p.maxBackoff}
}

// errStopped marks a message whose partition stopped while it waited for
// its store to open; it is given up uncommitted.
var errStopped = &events.Error{Code: "stopped"}

// current returns the batch being filled (locked).
func (ln *lane) current() *batch {
	if ln.cur == nil {
		var b *batch
		select {
		case b = <-ln.free:
		default:
			b = &batch{}
		}
		ln.seq++
		b.seq = ln.seq
		ln.cur = b
	}
	return ln.cur
}

// lingered hands over batch seq if it is still being filled.
func (ln *lane) lingered(seq uint64) {
	ln.mu.Lock()
	defer ln.mu.Unlock()
	if !ln.closed && ln.cur != nil && ln.cur.seq == seq && len(ln.cur.entries) > 0 {
		ln.handOff()
	}
}

// handOff sends the current batch to the flusher (locked). It blocks while
// the flusher is behind: that is how a partition waits for its store.
func (ln *lane) handOff() {
	b := ln.cur
	ln.cur = nil
	if ln.timer != nil {
		ln.timer.Stop()
		ln.timer = nil
	}
	ln.flushes <- b
}

// commitLoop releases the commits of each batch, in order, once its emits
// are acknowledged. After a batch that could not be stored or emitted,
// nothing later is committed either: a commit marks every offset before it.
func (ln *lane) commitLoop() {
	var failed error
	for f := range ln.commits {
		err := f.err
		for _, sends := range [][]send{f.b.sends, f.sends} {
			for _, s := range sends {
				if err != nil {
					break
				}
				err = ln.settle(s)
			}
		}
		if err == nil && failed != nil {
			err = ErrAbandoned
		}
		if err != nil && failed == nil {
			failed = err
			if !errors.Is(err, ErrAbandoned) {
				ln.p.log.Error("ingest partition failed; nothing after it is committed", "partition", ln.partition, "err", err)
			}
		}
		now := ln.p.now()
		for _, e := range f.b.entries {
			e.done(err)
			if err == nil {
				ln.p.metrics.eventAge.Observe(max(now.Sub(e.src.timestamp).Seconds(), 0))
			}
		}
		if n := len(f.b.entries); err == nil && n > 0 {
			ln.next.Store(f.b.entries[n-1].src.offset + 1)
		}
		ln.recycle(f.b)
	}
}

// settle waits until Kafka acknowledged s, sending it again with backoff
// while it fails; ErrAbandoned when the partition stopped and the drain
// timeout passed first.
func (ln *lane) settle(s send) error {
	err := wait(ln.ctx, s.pr)
	if err == nil {
		return nil
	}
	first := err
	return ln.retry("send "+s.what, func(ctx context.Context) error {
		if first != nil {
			err, first = first, nil
			return err
		}
		return wait(ctx, s.again())
	})
}

// wait waits for pr; once ctx is done, only as long as pr takes to answer
// on its own (the producer's retries are bounded).
func wait(ctx context.Context, pr *goka.Promise) error {
	ch := make(chan error, 1)
	pr.Then(func(err error) { ch <- err })
	select {
	case err := <-ch:
		return err
	case <-ctx.Done():
	}
	return <-ch
}

func (ln *lane) recycle(b *batch) {
	clear(b.entries) // drop the references to messages and closures
	clear(b.blocks)
	clear(b.dests)
	clear(b.sends)
	b.entries, b.blocks, b.dests, b.arena, b.sends = b.entries[:0], b.blocks[:0], b.dests[:0], b.arena[:0], b.sends[:0]
	if cap(b.arena) > 2*maxBatchBytes {
		b.arena = nil
	}
	select {
	case ln.free <- b:
	default:
	}
}

// header returns the value of header name (matched case-insensitively).
func header(h goka.Headers, name string) string {
	if v, ok := h[name]; ok {
		return string(v)
	}
	for k, v := range h {
		if strings.EqualFold(k, name) {
			return string(v)
		}
	}
	return ""
}
