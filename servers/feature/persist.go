package feature

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/IBM/sarama"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/ofstack/ofs/codec"
	"github.com/ofstack/ofs/internal/events"
	featurev1 "github.com/ofstack/ofs/proto/ofs/feature/v1"
	"github.com/ofstack/ofs/servers"
	"github.com/ofstack/ofs/topics"
	"github.com/ofstack/ofs/views"
)

// MaxPersistRows bounds the rows of one Persist.
const MaxPersistRows = 10000

// Writers resolves a registry store id to the store Persist writes to.
type Writers func(storeID string) (views.Store, error)

// persister is what Persist needs; nil when the server takes no writes.
type persister struct {
	producer sarama.SyncProducer
	names    topics.Names
	writers  Writers
	cache    Invalidator
	decoders sync.Pool
}

// WithPersist enables Persist: rows are produced to the features topic of
// names with producer, written to the store writers resolves, dropped from
// cache (may be nil) and announced on the invalidations topic.
func WithPersist(producer sarama.SyncProducer, names topics.Names, writers Writers, cache Invalidator) Option {
	return func(s *Server) {
		s.persist = &persister{producer: producer, names: names, writers: writers, cache: cache}
		s.persist.decoders.New = func() any { return events.NewDecoder(&s.layouts) }
	}
}

// Persist writes rows of one feature group synchronously: they are in the
// features topic (so replay stays complete), in the store, and out of every
// server's caches when it returns.
func (s *Server) Persist(ctx context.Context, req *featurev1.PersistRequest) (*featurev1.PersistResponse, error) {
	resp, err := s.doPersist(ctx, req)
	return resp, servers.Status(err)
}

func (s *Server) doPersist(ctx context.Context, req *featurev1.PersistRequest) (*featurev1.PersistResponse, error) {
	p := s.persist
	if p == nil {
		return nil, servers.Errorf(codes.Unimplemented, "this server takes no writes (no Kafka producer configured)")
	}
	n := len(req.GetRows())
	if n == 0 || n > MaxPersistRows {
		return nil, invalid("a persist takes 1 to %d rows, got %d", MaxPersistRows, n)
	}
	snap := s.holder.Load()
	g, ok := snap.FeatureGroup(req.GetFeatureGroup())
	if !ok {
		return nil, invalid("unknown feature group %q", req.GetFeatureGroup())
	}
	if req.GetEntity() != "" && req.GetEntity() != g.Entity {
		return nil, invalid("feature group %q describes entity %q, not %q", g.Name, g.Entity, req.GetEntity())
	}
	dec := p.decoders.Get().(*events.Decoder)
	defer p.decoders.Put(dec)

	now := timestamppb.New(s.now())
	msgs := make([]*sarama.ProducerMessage, n)
	blocks := make([]views.Block, n)
	inv := &featurev1.Invalidation{Keys: make([]*featurev1.InvalidatedKey, n)}
	var arena []byte       // every row's block, back to back
	ends := make([]int, n) // where each row's block ends in arena
	for i, row := range req.GetRows() {
		ev := proto.CloneOf(row)
		switch {
		case ev.GetEntity() == "":
			ev.Entity = g.Entity
		case ev.GetEntity() != g.Entity:
			return nil, invalid("row %d: entity %q, the request's group describes %q", i, ev.GetEntity(), g.Entity)
		}
		switch {
		case ev.GetFeatureGroup() == "":
			ev.FeatureGroup = g.Name
		case ev.GetFeatureGroup() != g.Name:
			return nil, invalid("row %d: feature group %q, the request's is %q", i, ev.GetFeatureGroup(), g.Name)
		}
		if ev.GetEventTime() == nil {
			ev.EventTime = now
		}
		value, err := proto.Marshal(ev)
		if err != nil {
			return nil, fmt.Errorf("row %d: %w", i, err)
		}
		r, out, err := dec.Decode(snap, events.Message{Value: value, ContentType: topics.ContentTypeProtobuf}, arena)
		if err != nil {
			return nil, invalid("row %d: %v", i, err)
		}
		arena, ends[i] = out, len(out)
		msgs[i] = &sarama.ProducerMessage{Topic: string(p.names.Features), Key: sarama.StringEncoder(r.KafkaKey()),
			Value: sarama.ByteEncoder(value), Timestamp: ev.GetEventTime().AsTime(),
			Headers: []sarama.RecordHeader{{Key: []byte(topics.HeaderContentType), Value: []byte(topics.ContentTypeProtobuf)}}}
		ttl := time.Duration(0)
		if r.Expiry != codec.NeverExpires {
			ttl = max(time.Duration(r.Expiry-s.now().UnixMicro())*time.Microsecond, time.Millisecond)
		}
		blocks[i] = views.Block{Key: r.Key, Group: g.ID, EventTime: r.EventTime, TTL: ttl}
		inv.Keys[i] = &featurev1.InvalidatedKey{Entity: g.Entity, KeyValues: r.Key.Values, FeatureGroupIds: []uint32{g.ID}}
	}
	// The arena may have moved while it grew: the blocks point into its
	// final memory.
	start := 0
	for i, end := range ends {
		blocks[i].Data = arena[start:end:end]
		start = end
	}

	// 1. The log: replay and the ingest processors see the rows.
	if err := p.producer.SendMessages(msgs); err != nil {
		return nil, servers.Code(codes.Unavailable, fmt.Errorf("persist to %s: %w", p.names.Features, err))
	}
	// 2. The store, now, instead of when the ingest processor gets there.
	store, err := p.writers(g.Store)
	if err != nil {
		return nil, servers.Errorf(codes.Internal, "store %q: %w", g.Store, err)
	}
	if err := store.Write(ctx, blocks); err != nil {
		return nil, servers.Code(codes.Unavailable, fmt.Errorf(
			"the rows are in Kafka and the ingest processors will store them, but writing store %q now failed: %w", g.Store, err))
	}
	// 3. The caches: this server's at once, the others' through the topic.
	keys := make([]views.Key, n)
	for i := range blocks {
		keys[i] = blocks[i].Key
	}
	if p.cache != nil {
		p.cache.Invalidate(keys, []uint32{g.ID})
	}
	// Split so that no message outgrows the topic, whatever the row count.
	invs, err := topics.Invalidations(inv.GetKeys())
	if err != nil {
		return nil, err
	}
	ims := make([]*sarama.ProducerMessage, len(invs))
	for i, v := range invs {
		ims[i] = &sarama.ProducerMessage{Topic: string(p.names.Invalidations), Value: sarama.ByteEncoder(v)}
	}
	if err := p.producer.SendMessages(ims); err != nil {
		return nil, servers.Code(codes.Unavailable, fmt.Errorf("the rows are stored, but announcing them to the other servers failed: %w", err))
	}
	return &featurev1.PersistResponse{Rows: uint32(n)}, nil
}
