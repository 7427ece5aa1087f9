package feature

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/IBM/sarama"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

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

// Defaults of the Persist options.
const (
	DefaultPersistTimeout  = 5 * time.Second
	DefaultStoreTimeout    = 2 * time.Second
	DefaultIdempotencyKeys = 100000
	DefaultIdempotencyTTL  = time.Hour
)

// persister is what Persist needs; producer is nil when the server takes no
// writes.
type persister struct {
	producer sarama.SyncProducer
	names    topics.Names
	writers  Writers
	cache    Invalidator
	decoders sync.Pool

	bound        time.Duration // Persist answers within it
	storeTimeout time.Duration // one store write's bound
	keys         *keyCache
	peers        *Peers  // nil: the other servers learn from the topic only
	direct       Readers // the stores without the caches, while peers does not trust this server
}

// persistConfig returns the server's persister, made with defaults on first use.
func (s *Server) persistConfig() *persister {
	if s.persist == nil {
		s.persist = &persister{bound: DefaultPersistTimeout, storeTimeout: DefaultStoreTimeout,
			keys: newKeyCache(DefaultIdempotencyKeys, DefaultIdempotencyTTL)}
		s.persist.decoders.New = func() any { return events.NewDecoder(&s.layouts) }
	}
	return s.persist
}

// WithPersist enables Persist: rows are produced to the features topic of
// names with producer, written to the store writers resolves, dropped from
// cache (may be nil) and announced on the invalidations topic.
func WithPersist(producer sarama.SyncProducer, names topics.Names, writers Writers, cache Invalidator) Option {
	return func(s *Server) {
		p := s.persistConfig()
		p.producer, p.names, p.writers, p.cache = producer, names, writers, cache
	}
}

// WithPersistTimeouts bounds a whole Persist (default 5s) and each store
// write within it (default 2s); a non-positive value keeps the default.
func WithPersistTimeouts(persist, store time.Duration) Option {
	return func(s *Server) {
		p := s.persistConfig()
		if persist > 0 {
			p.bound = persist
		}
		if store > 0 {
			p.storeTimeout = store
		}
	}
}

// WithIdempotencyKeys sets how many idempotency keys the server remembers
// (default 100,000) and for how long at most (default an hour).
func WithIdempotencyKeys(n int, ttl time.Duration) Option {
	return func(s *Server) {
		if n > 0 && ttl > 0 {
			s.persistConfig().keys = newKeyCache(n, ttl)
		}
	}
}

// WithPeers makes Persist wait until every live server of peers has dropped
// the written keys, and makes Retrieve read direct (the stores without the
// caches) while peers does not count this server as live.
func WithPeers(peers *Peers, direct Readers) Option {
	return func(s *Server) {
		p := s.persistConfig()
		p.peers, p.direct = peers, direct
	}
}

// readerOf is the reader of a store for Retrieve: the cache tiers while this
// server is a live member (or has no peers), else the store itself, since
// the other servers' Persists no longer wait for this one.
func (s *Server) readerOf(storeID string) (Reader, error) {
	if p := s.persist; p != nil && p.peers != nil && !p.peers.Trusted() {
		return p.direct(storeID)
	}
	return s.readers(storeID)
}

// Persist writes rows of one feature group synchronously: when it returns
// OK they are in the features topic (so replay stays complete), in the
// store, and out of the caches of every live server. Every error says what
// became of the write (see persist_outcome.go).
func (s *Server) Persist(ctx context.Context, req *featurev1.PersistRequest) (*featurev1.PersistResponse, error) {
	resp, err := s.doPersist(ctx, req)
	return resp, persistStatus(err, req.GetIdempotencyKey())
}

// answerBy is the deadline a Persist works to: the server's bound, and a
// little before the caller's deadline, so that the caller hears the outcome.
func (p *persister) answerBy(ctx context.Context) (context.Context, context.CancelFunc) {
	by := time.Now().Add(p.bound)
	if d, ok := ctx.Deadline(); ok {
		margin := min(time.Until(d)/10, 50*time.Millisecond)
		if d.Add(-margin).Before(by) {
			by = d.Add(-margin)
		}
	}
	return context.WithDeadline(ctx, by)
}

// within runs f, and returns its error or, when ctx ends first, ctx's: f
// may still complete after (which is what makes the outcome unknown).
func within(ctx context.Context, f func() error) error {
	done := make(chan error, 1)
	go func() { done <- f() }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s *Server) doPersist(ctx context.Context, req *featurev1.PersistRequest) (*featurev1.PersistResponse, error) {
	p := s.persist
	if p == nil || p.producer == nil {
		return nil, servers.Errorf(codes.Unimplemented, "this server takes no writes (no Kafka producer configured)")
	}
	key := req.GetIdempotencyKey()
	if !validKey(key) {
		return nil, invalid("an idempotency key is up to %d printable ASCII characters", MaxIdempotencyKey)
	}
	ctx, cancel := p.answerBy(ctx)
	defer cancel()
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
	if p.peers != nil && !p.peers.Trusted() {
		return nil, notApplied(true, servers.Errorf(codes.Unavailable,
			"this server is not a live member of the fleet (its registration in etcd lapsed): nothing was written"))
	}
	stamp := s.now()
	if key != "" {
		b, err := proto.MarshalOptions{Deterministic: true}.Marshal(req)
		if err != nil {
			return nil, err
		}
		if stamp, ok = p.keys.stamp(key, p.keys.fingerprint(b), stamp); !ok {
			return nil, invalid("idempotency key %q was already used for another request", key)
		}
	}
	dec := p.decoders.Get().(*events.Decoder)
	defer p.decoders.Put(dec)

	now := timestamppb.New(stamp)
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
		blocks[i] = views.Block{Key: r.Key, Group: g.ID, EventTime: r.EventTime, TTL: views.StoreTTL(r.Expiry, s.now())}
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
	if err := ctx.Err(); err != nil {
		return nil, notApplied(true, err)
	}
	if err := within(ctx, func() error { return p.producer.SendMessages(msgs) }); err != nil {
		return nil, unknown("producing to "+string(p.names.Features), kafkaErr(err))
	}
	// 2. The store, now, instead of when the ingest processor gets there.
	store, err := p.writers(g.Store)
	if err != nil {
		return nil, unknown("the rows are in Kafka and the ingest processors will store them", servers.Errorf(codes.Internal, "store %q: %w", g.Store, err))
	}
	sctx, scancel := context.WithTimeout(ctx, p.storeTimeout)
	err = within(sctx, func() error { return store.Write(sctx, blocks) })
	scancel()
	if err != nil {
		return nil, unknown("the rows are in Kafka and the ingest processors will store them, but writing store "+
			g.Store+" now did not complete", storeErr(ctx, err))
	}
	// 3. The caches: this server's at once, the others' directly (when
	// there are peers) and through the topic (for late joiners and for
	// servers without peers).
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
		return nil, unknown("encoding the invalidation", err)
	}
	ims := make([]*sarama.ProducerMessage, len(invs))
	for i, v := range invs {
		ims[i] = &sarama.ProducerMessage{Topic: string(p.names.Invalidations), Value: sarama.ByteEncoder(v)}
	}
	if err := within(ctx, func() error { return p.producer.SendMessages(ims) }); err != nil {
		return nil, unknown("the rows are stored, but announcing them to the other servers", kafkaErr(err))
	}
	resp := &featurev1.PersistResponse{Rows: uint32(n)}
	if p.peers != nil {
		acked, fenced, err := p.peers.invalidate(ctx, inv)
		if err != nil {
			return nil, unknown("the rows are stored, but telling every live server", err)
		}
		resp.PeersAcknowledged, resp.PeersFenced = acked, fenced
	}
	return resp, nil
}

// kafkaErr marks a producer error UNAVAILABLE; a context error stays one.
func kafkaErr(err error) error {
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return err
	}
	return servers.Code(codes.Unavailable, err)
}

// storeErr marks a store write error: the Persist's own deadline stays a
// deadline, a store that did not answer within its timeout is UNAVAILABLE.
func storeErr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return servers.Code(codes.Unavailable, err)
}
