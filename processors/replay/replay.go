// Package replay rebuilds online stores from the features topic: it reads
// every partition from its oldest offset up to the end it finds at start,
// decodes and validates each event against the registry exactly as the
// ingest processor does, and writes the blocks. Writes are last-writer-wins
// by event time, so a replay into a live store is idempotent and a replay
// into an empty one converges to what the live store holds.
package replay

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/IBM/sarama"
	"golang.org/x/sync/errgroup"

	"github.com/ofstack/ofs/codec"
	"github.com/ofstack/ofs/internal/blocks"
	"github.com/ofstack/ofs/internal/events"
	"github.com/ofstack/ofs/schema"
	"github.com/ofstack/ofs/topics"
	"github.com/ofstack/ofs/views"
)

// StoreResolver returns the store that a registry store's blocks are
// replayed into.
type StoreResolver func(s *schema.Store) (views.Store, error)

// Config is what a replay needs.
type Config struct {
	Brokers []string
	Names   topics.Names
	// Holder has the registry the events are validated against.
	Holder *schema.Holder
	// Sarama is the Kafka client configuration; nil: topics.SaramaConfig.
	Sarama *sarama.Config
	// Stores resolves the target of each feature group's store.
	Stores StoreResolver
	// Groups, if set, limits the replay to these feature groups (by name).
	Groups []string
	// BatchSize is the blocks per store write; default 1000.
	BatchSize int
	Log       *slog.Logger
	// Progress, if set, is called about once a second and at the end.
	Progress func(Progress)
}

// Progress is how far a replay is.
type Progress struct {
	Read, Total int64 // messages read, messages to read
	Written     int64 // blocks written
	Skipped     int64 // events rejected or of groups not replayed
}

// Summary is what a replay did.
type Summary struct {
	Progress
	Partitions int
	Elapsed    time.Duration
	// Rejected counts events by rejection code: they are on the dead-letter
	// topic already, from when they were first ingested.
	Rejected map[events.Code]int64
}

// Run replays the features topic once, to the end offsets it found at
// start, and returns what it did.
func Run(ctx context.Context, cfg Config) (Summary, error) {
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = 1000
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	start := time.Now()
	scfg := cfg.Sarama
	if scfg == nil {
		scfg = topics.SaramaConfig("ofs-replay")
	}
	client, err := sarama.NewClient(cfg.Brokers, scfg)
	if err != nil {
		return Summary{}, fmt.Errorf("replay: kafka: %w", err)
	}
	defer client.Close()
	topic := string(cfg.Names.Features)
	parts, err := client.Partitions(topic)
	if err != nil {
		return Summary{}, fmt.Errorf("replay: partitions of %s: %w", topic, err)
	}
	type bounds struct{ from, to int64 }
	ranges := make([]bounds, len(parts))
	var total int64
	for i, p := range parts {
		from, err1 := client.GetOffset(topic, p, sarama.OffsetOldest)
		to, err2 := client.GetOffset(topic, p, sarama.OffsetNewest)
		if err := errors.Join(err1, err2); err != nil {
			return Summary{}, fmt.Errorf("replay: offsets of %s/%d: %w", topic, p, err)
		}
		ranges[i] = bounds{from, to}
		total += to - from
	}
	consumer, err := sarama.NewConsumerFromClient(client)
	if err != nil {
		return Summary{}, fmt.Errorf("replay: %w", err)
	}
	defer consumer.Close()

	var only map[string]bool
	if len(cfg.Groups) > 0 {
		only = map[string]bool{}
		for _, g := range cfg.Groups {
			only[g] = true
		}
	}
	var (
		read, written, skipped atomic.Int64
		mu                     sync.Mutex
		rejected               = map[events.Code]int64{}
		layouts                blocks.Cache
	)
	report := func() {
		if cfg.Progress != nil {
			cfg.Progress(Progress{Read: read.Load(), Total: total, Written: written.Load(), Skipped: skipped.Load()})
		}
	}
	stop := make(chan struct{})
	go func() {
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				report()
			}
		}
	}()

	storeFor := func(id string) (views.Store, error) {
		st, ok := cfg.Holder.Load().Store(id)
		if !ok {
			return nil, fmt.Errorf("replay: the registry has no store %q", id)
		}
		return cfg.Stores(st)
	}
	grp, gctx := errgroup.WithContext(ctx)
	grp.SetLimit(8)
	for i, p := range parts {
		r := ranges[i]
		if r.to <= r.from {
			continue
		}
		grp.Go(func() error {
			pc, err := consumer.ConsumePartition(topic, p, r.from)
			if err != nil {
				return fmt.Errorf("replay: consume %s/%d: %w", topic, p, err)
			}
			defer pc.Close()
			dec := events.NewDecoder(&layouts)
			w := &writer{storeFor: storeFor, size: cfg.BatchSize, written: &written, pending: map[views.Store][]views.Block{}}
			var buf []byte
			for {
				select {
				case <-gctx.Done():
					return gctx.Err()
				case cerr := <-pc.Errors():
					return fmt.Errorf("replay: %s/%d: %w", topic, p, cerr)
				case m := <-pc.Messages():
					read.Add(1)
					ct := ""
					for _, h := range m.Headers {
						if strings.EqualFold(string(h.Key), topics.HeaderContentType) {
							ct = string(h.Value)
						}
					}
					row, out, err := dec.Decode(cfg.Holder.Load(), events.Message{Value: m.Value, ContentType: ct, Timestamp: m.Timestamp}, buf[:0])
					var rej *events.Error
					switch {
					case errors.As(err, &rej):
						skipped.Add(1)
						mu.Lock()
						rejected[rej.Code]++
						mu.Unlock()
					case err != nil:
						return err
					case only != nil && !only[row.Group.Name]:
						skipped.Add(1)
					default:
						// The decoder reuses buf: the writer keeps a copy.
						if err := w.add(gctx, row); err != nil {
							return err
						}
						buf = out
					}
					if m.Offset >= r.to-1 {
						return w.flush(gctx)
					}
				}
			}
		})
	}
	err = grp.Wait()
	close(stop)
	report()
	sum := Summary{
		Progress:   Progress{Read: read.Load(), Total: total, Written: written.Load(), Skipped: skipped.Load()},
		Partitions: len(parts), Elapsed: time.Since(start), Rejected: rejected,
	}
	return sum, err
}

// writer batches blocks per store.
type writer struct {
	storeFor func(id string) (views.Store, error)
	size     int
	written  *atomic.Int64
	pending  map[views.Store][]views.Block
	n        int
}

func (w *writer) add(ctx context.Context, row events.Row) error {
	store, err := w.storeFor(row.Group.Store)
	if err != nil {
		return err
	}
	ttl := time.Duration(0)
	if row.Expiry != codec.NeverExpires {
		// As the ingest processor does: an expired block is still written
		// (for a moment), so that it replaces an older block of the key.
		ttl = max(time.Duration(row.Expiry-time.Now().UnixMicro())*time.Microsecond, time.Millisecond)
	}
	w.pending[store] = append(w.pending[store], views.Block{
		// The decoder gives every row key values of its own; only the block
		// lives in a buffer that the next event reuses.
		Key: row.Key, Group: row.Group.ID, Data: append([]byte(nil), row.Block...), EventTime: row.EventTime, TTL: ttl,
	})
	w.n++
	if w.n >= w.size {
		return w.flush(ctx)
	}
	return nil
}

func (w *writer) flush(ctx context.Context) error {
	for st, blocks := range w.pending {
		if len(blocks) == 0 {
			continue
		}
		if err := st.Write(ctx, blocks); err != nil {
			return fmt.Errorf("replay: write %d blocks: %w", len(blocks), err)
		}
		w.written.Add(int64(len(blocks)))
		w.pending[st] = blocks[:0]
	}
	w.n = 0
	return nil
}
