package replay

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/IBM/sarama"
	"golang.org/x/sync/errgroup"

	"github.com/ofstack/ofs/internal/blocks"
	"github.com/ofstack/ofs/internal/events"
	"github.com/ofstack/ofs/schema"
	"github.com/ofstack/ofs/topics"
)

// Source is the log a fold reads, and which of it.
type Source struct {
	Brokers []string
	Names   topics.Names
	// Sarama is the Kafka client configuration; nil: topics.SaramaConfig.
	Sarama *sarama.Config
	// History is the registry over time; nil: the fold of the registry
	// topic (LoadHistory).
	History *History
	// AsOf, if set, folds the store as it was at that time: only events
	// whose event time is at or before it, each decoded with the registry
	// as of the earlier of its own Kafka timestamp and AsOf.
	AsOf time.Time
	// Groups, if set, limits the fold to these feature groups (by name).
	Groups []string
	// From, if set, starts partitions at these offsets instead of their
	// oldest (a catch-up from an earlier fold's watermarks).
	From map[int32]int64
}

// Stats is how far a fold is.
type Stats struct {
	Read, Total int64 // messages read, messages to read (between the spans' ends)
	Skipped     int64 // events rejected, of groups not folded, deleted since, or after AsOf
}

// fold reads the features topic once, up to the watermarks it took at
// start, and gives each valid row to a sink of its partition: the rows the
// ingest processor would have written, in offset order per partition.
type fold struct {
	src    Source
	cfg    *sarama.Config
	client sarama.Client
	hist   *History
	final  *schema.Snapshot // the registry of the result: now, or as of AsOf
	spans  []Span
	total  int64
	only   map[string]bool
	asOf   int64 // µs; 0: none

	read, skipped atomic.Int64
	mu            sync.Mutex
	rejected      map[events.Code]int64
}

// sink takes the rows of one partition. row.Block is only valid during the
// call.
type sink interface {
	row(ctx context.Context, row *events.Row) error
	done(ctx context.Context) error
}

func openFold(ctx context.Context, src Source) (*fold, error) {
	cfg := src.Sarama
	if cfg == nil {
		cfg = topics.SaramaConfig("ofs-replay")
	}
	client, err := sarama.NewClient(src.Brokers, cfg)
	if err != nil {
		return nil, fmt.Errorf("replay: kafka: %w", err)
	}
	f := &fold{src: src, cfg: cfg, client: client, hist: src.History, rejected: map[events.Code]int64{}}
	// The watermarks of the features topic first: the registry, read next,
	// then holds every command an event below them can have been written for.
	if f.spans, err = spans(client, string(src.Names.Features), src.From); err != nil {
		client.Close()
		return nil, err
	}
	for _, s := range f.spans {
		f.total += max(s.To-s.From, 0)
	}
	if f.hist == nil {
		if f.hist, err = LoadHistory(ctx, client, cfg, string(src.Names.Registry)); err != nil {
			client.Close()
			return nil, err
		}
	}
	f.final = f.hist.Latest()
	if !src.AsOf.IsZero() {
		f.asOf = src.AsOf.UnixMicro()
		f.final = f.hist.At(src.AsOf)
	}
	if len(src.Groups) > 0 {
		f.only = map[string]bool{}
		for _, g := range src.Groups {
			if _, ok := f.final.FeatureGroup(g); !ok {
				client.Close()
				return nil, fmt.Errorf("%w: %q", ErrNoGroup, g)
			}
			f.only[g] = true
		}
	}
	return f, nil
}

// ErrNoGroup reports a feature group to fold that the registry lacks.
var ErrNoGroup = errors.New("replay: no such feature group")

func (f *fold) Close() error { return f.client.Close() }

// watermarks returns the end offset of every partition.
func (f *fold) watermarks() map[int32]int64 {
	out := make(map[int32]int64, len(f.spans))
	for _, s := range f.spans {
		out[s.Partition] = s.To
	}
	return out
}

func (f *fold) stats() Stats {
	return Stats{Read: f.read.Load(), Total: f.total, Skipped: f.skipped.Load()}
}

func (f *fold) rejections() map[events.Code]int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make(map[events.Code]int64, len(f.rejected))
	for k, v := range f.rejected {
		out[k] = v
	}
	return out
}

// run folds every span, up to 8 partitions at a time.
func (f *fold) run(ctx context.Context, newSink func(partition int32) sink) error {
	topic := string(f.src.Names.Features)
	var layouts blocks.Cache
	grp, gctx := errgroup.WithContext(ctx)
	grp.SetLimit(8)
	for _, s := range f.spans {
		if s.To <= s.From {
			continue
		}
		grp.Go(func() error {
			var clock time.Time
			// An event time is checked against the message's timestamp, the
			// moment ingest first saw it (near enough), not against today.
			dec := events.NewDecoder(&layouts, events.Clock(func() time.Time { return clock }))
			out := newSink(s.Partition)
			var buf []byte
			err := readSpan(gctx, f.client, f.cfg, topic, s, func(r *record) error {
				f.read.Add(1)
				clock = r.timestamp
				if clock.IsZero() || clock.Unix() <= 0 {
					clock = time.Now()
				}
				at := clock
				if f.asOf != 0 && at.UnixMicro() > f.asOf {
					at = f.src.AsOf
				}
				m := events.Message{Value: r.value, ContentType: contentType(r.headers), Timestamp: r.timestamp,
					Key: string(r.key), CheckKey: true}
				row, b, err := dec.Decode(f.hist.At(at), m, buf[:0])
				var rej *events.Error
				if errors.As(err, &rej) && schemaCode(rej.Code) {
					// Ingest read the event at or after its timestamp, with
					// the registry of then: a producer that stamps messages
					// in the past (a backfill) may name what was registered
					// after the stamp. The registry of the fold's end tells.
					row, b, err = dec.Decode(f.final, m, buf[:0])
				}
				switch {
				case errors.As(err, &rej):
					f.skipped.Add(1)
					f.mu.Lock()
					f.rejected[rej.Code]++
					f.mu.Unlock()
					return nil
				case err != nil:
					return fmt.Errorf("replay: %s/%d at %d: %w", topic, s.Partition, r.offset, err)
				}
				buf = b
				if !f.keeps(&row) {
					f.skipped.Add(1)
					return nil
				}
				return out.row(gctx, &row)
			})
			if err != nil {
				return err
			}
			return out.done(gctx)
		})
	}
	return grp.Wait()
}

// keeps reports whether a decoded row belongs in the result: its group is
// live in the result's registry (not deleted since), folded, and its event
// time is not after AsOf.
func (f *fold) keeps(row *events.Row) bool {
	if f.asOf != 0 && row.EventTime > f.asOf {
		return false
	}
	if g, ok := f.final.FeatureGroupByID(row.Group.ID); !ok || (f.only != nil && !f.only[g.Name]) {
		return false
	}
	return true
}

// store returns the registry store of a row's group, as the result's
// registry has it.
func (f *fold) store(row *events.Row) (*schema.Store, error) {
	if st, ok := f.final.Store(row.Group.Store); ok {
		return st, nil
	}
	return nil, fmt.Errorf("replay: the registry has no store %q (feature group %q)", row.Group.Store, row.Group.Name)
}

// schemaCode reports a rejection that a later registry may not give.
func schemaCode(c events.Code) bool {
	switch c {
	case events.CodeUnknownEntity, events.CodeUnknownGroup, events.CodeWrongEntity, events.CodeUnknownFeature, events.CodeUnknownVersion:
		return true
	}
	return false
}

func contentType(headers []*sarama.RecordHeader) string {
	for _, h := range headers {
		if strings.EqualFold(string(h.Key), topics.HeaderContentType) {
			return string(h.Value)
		}
	}
	return ""
}
