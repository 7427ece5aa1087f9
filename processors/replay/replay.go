// Package replay rebuilds online stores from the log and checks them
// against it. A replay is a fold of the features topic up to the high
// watermark of every partition taken at its start: each message goes
// through the ingest processor's rules (its Kafka key must be the event's
// key, the decoder validates it) against the registry as it was at the
// message's timestamp (the fold of the registry topic, see History), and
// the rows are written. Writes are last-writer-wins by event time, so a
// replay into a live store is idempotent and a replay into an empty one
// converges to what the live store holds. Verify folds the same way and
// compares with a store instead of writing.
//
// The blue/green steps (Plan, Prepare, Switch) move store connections to a
// new key prefix or keyspace once a replay has filled it.
package replay

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/IBM/sarama"

	"github.com/ofstack/ofs/internal/events"
	featurev1 "github.com/ofstack/ofs/proto/ofs/feature/v1"
	"github.com/ofstack/ofs/topics"
	"github.com/ofstack/ofs/views"
)

// Announce says when a replay announces the keys it wrote on the
// invalidations topic, so that servers drop cached blocks and misses.
type Announce int

// The announce modes.
const (
	// AnnounceNone announces nothing: the target is read by no server.
	AnnounceNone Announce = iota
	// AnnounceWrites announces each batch once the store acknowledged it.
	AnnounceWrites
	// AnnounceLater keeps the announcements in the Summary, for Announce
	// to send once servers read the target (after a blue/green switch).
	AnnounceLater
)

// Config is what a replay needs.
type Config struct {
	Source
	// Stores resolves the target of each feature group's store.
	Stores views.StoreResolver
	// BatchSize is the blocks per store write; default 1000.
	BatchSize int
	// Announce is when written keys are announced; default AnnounceNone.
	Announce Announce
	Log      *slog.Logger
	// Progress, if set, is called about once a second and at the end.
	Progress func(Progress)
}

// Progress is how far a replay is.
type Progress struct {
	Stats
	Written int64 // blocks written
}

// Summary is what a replay did.
type Summary struct {
	Progress
	Partitions int
	Elapsed    time.Duration
	// Watermarks are the end offsets the replay read to, per partition: a
	// catch-up starts there (Source.From).
	Watermarks map[int32]int64
	// Rejected counts events by rejection code: they are on the dead-letter
	// topic already, from when they were first ingested.
	Rejected map[events.Code]int64
	// Announced counts the invalidation messages sent.
	Announced int
	pending   [][]byte // AnnounceLater
}

// Run replays the features topic once, to the watermarks it found at
// start, and returns what it did.
func Run(ctx context.Context, cfg Config) (Summary, error) {
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = 1000
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	start := time.Now()
	f, err := openFold(ctx, cfg.Source)
	if err != nil {
		return Summary{}, err
	}
	defer f.Close()
	var ann *announcer
	if cfg.Announce != AnnounceNone {
		if ann, err = newAnnouncer(cfg.Source, f.cfg, cfg.Announce == AnnounceLater); err != nil {
			return Summary{}, err
		}
		defer ann.Close()
	}
	var written atomic.Int64
	progress := func() Progress { return Progress{Stats: f.stats(), Written: written.Load()} }
	stop := every(time.Second, func() {
		if cfg.Progress != nil {
			cfg.Progress(progress())
		}
	})
	err = f.run(ctx, func(int32) sink {
		return &writer{f: f, stores: cfg.Stores, size: cfg.BatchSize, written: &written, ann: ann,
			pending: map[views.Store][]views.Block{}}
	})
	stop()
	sum := Summary{Progress: progress(), Partitions: len(f.spans), Elapsed: time.Since(start),
		Watermarks: f.watermarks(), Rejected: f.rejections()}
	if ann != nil {
		sum.Announced, sum.pending = ann.sent(), ann.kept()
	}
	return sum, err
}

// every calls fn every d and once more when the returned stop is called.
func every(d time.Duration, fn func()) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(d)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				fn()
			}
		}
	})
	return func() {
		close(done)
		wg.Wait()
		fn()
	}
}

// writer batches the blocks of one partition per store.
type writer struct {
	f       *fold
	stores  views.StoreResolver
	size    int
	written *atomic.Int64
	ann     *announcer
	pending map[views.Store][]views.Block
	n       int
}

func (w *writer) row(ctx context.Context, row *events.Row) error {
	st, err := w.f.store(row)
	if err != nil {
		return err
	}
	store, err := w.stores(st)
	if err != nil {
		return err
	}
	w.pending[store] = append(w.pending[store], views.Block{
		// The decoder gives every row key values of its own; only the block
		// lives in a buffer that the next event reuses.
		Key: row.Key, Group: row.Group.ID, Data: append([]byte(nil), row.Block...), EventTime: row.EventTime,
		TTL: views.StoreTTL(row.Expiry, time.Now()),
	})
	w.n++
	if w.n >= w.size {
		return w.flush(ctx)
	}
	return nil
}

func (w *writer) done(ctx context.Context) error { return w.flush(ctx) }

// flush writes the pending blocks, then announces them: an announcement
// never precedes the write it is about.
func (w *writer) flush(ctx context.Context) error {
	for st, blocks := range w.pending {
		if len(blocks) == 0 {
			continue
		}
		if err := st.Write(ctx, blocks); err != nil {
			return fmt.Errorf("replay: write %d blocks: %w", len(blocks), err)
		}
		w.written.Add(int64(len(blocks)))
		if w.ann != nil {
			if err := w.ann.announce(blocks); err != nil {
				return err
			}
		}
		w.pending[st] = blocks[:0]
	}
	w.n = 0
	return nil
}

// announcer sends invalidations for written blocks.
type announcer struct {
	producer sarama.SyncProducer
	topic    string
	keep     bool

	mu      sync.Mutex
	n       int
	pending [][]byte
}

func newAnnouncer(src Source, cfg *sarama.Config, keep bool) (*announcer, error) {
	c := *cfg
	c.Producer.Return.Successes = true
	c.Producer.Return.Errors = true
	p, err := sarama.NewSyncProducer(src.Brokers, &c)
	if err != nil {
		return nil, fmt.Errorf("replay: invalidations producer: %w", err)
	}
	return &announcer{producer: p, topic: string(src.Names.Invalidations), keep: keep}, nil
}

func (a *announcer) Close() error { return a.producer.Close() }

func (a *announcer) announce(blocks []views.Block) error {
	keys := make([]*featurev1.InvalidatedKey, len(blocks))
	for i := range blocks {
		keys[i] = &featurev1.InvalidatedKey{Entity: blocks[i].Key.Entity, KeyValues: blocks[i].Key.Values,
			FeatureGroupIds: []uint32{blocks[i].Group}}
	}
	// Split as ingest and Persist split theirs: no message over 1 MiB.
	msgs, err := topics.Invalidations(keys)
	if err != nil {
		return fmt.Errorf("replay: invalidation: %w", err)
	}
	return a.send(msgs)
}

// send sends (or keeps) invalidation messages, in one request.
func (a *announcer) send(vs [][]byte) error {
	a.mu.Lock()
	if a.keep {
		a.pending = append(a.pending, vs...)
		a.mu.Unlock()
		return nil
	}
	a.mu.Unlock()
	msgs := make([]*sarama.ProducerMessage, len(vs))
	for i, v := range vs {
		msgs[i] = &sarama.ProducerMessage{Topic: a.topic, Key: sarama.StringEncoder("replay"), Value: sarama.ByteEncoder(v)}
	}
	if err := a.producer.SendMessages(msgs); err != nil {
		return fmt.Errorf("replay: announce on %s: %w", a.topic, err)
	}
	a.mu.Lock()
	a.n += len(vs)
	a.mu.Unlock()
	return nil
}

func (a *announcer) sent() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.n
}

func (a *announcer) kept() [][]byte {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.pending
}

// AnnounceKept sends the invalidations a replay with AnnounceLater kept,
// and returns how many messages it sent.
func AnnounceKept(ctx context.Context, src Source, cfg *sarama.Config, sum *Summary) (int, error) {
	if len(sum.pending) == 0 {
		return 0, nil
	}
	a, err := newAnnouncer(src, cfg, false)
	if err != nil {
		return 0, err
	}
	defer a.Close()
	for i := 0; i < len(sum.pending); i += 50 {
		if err := ctx.Err(); err != nil {
			return i, err
		}
		if err := a.send(sum.pending[i:min(i+50, len(sum.pending))]); err != nil {
			return i, err
		}
	}
	n := len(sum.pending)
	sum.Announced += n
	sum.pending = nil
	return n, nil
}
