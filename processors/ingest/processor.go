// Package ingest is the ingest processor: a stateless goka group that reads
// feature events from the features topic, validates each against the
// registry snapshot that the registry's etcd copy (views/registrycopy)
// keeps current, encodes it as the PSDB block of its feature group's active
// version, and writes the blocks, batched per partition, into the group's
// online store.
//
// Offsets are committed only after the store acknowledged the blocks of
// every event up to them: each message's commit is deferred (goka's
// DeferCommit) and released in offset order once its batch is written. A
// store that cannot be reached (views.ErrUnavailable) is retried with
// backoff, and the partition waits: nothing is dropped and nothing is
// committed past it. An event that is not valid, or that a store refuses for
// good, goes to the dead-letter topic with the reason in its headers and is
// counted; it never holds up the partition. Each flush announces the keys it
// wrote on the invalidations topic.
package ingest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/IBM/sarama"
	"github.com/lovoo/goka"
	gokacodec "github.com/lovoo/goka/codec"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/ofstack/ofs/internal/blocks"
	"github.com/ofstack/ofs/internal/events"
	"github.com/ofstack/ofs/schema"
	"github.com/ofstack/ofs/topics"
	"github.com/ofstack/ofs/views"
)

// Defaults of the options.
const (
	DefaultBatchSize    = 1000
	DefaultLinger       = 5 * time.Millisecond
	DefaultBackoff      = 50 * time.Millisecond
	DefaultMaxBackoff   = 5 * time.Second
	DefaultDrainTimeout = 10 * time.Second
	// maxBatchBytes bounds the block bytes of one batch.
	maxBatchBytes = 8 << 20
)

// The rejection codes of the processor itself; the decoder's are in package
// events. Both label ofs_ingest_rejected_total and fill ofs-dlq-code.
const (
	// CodeNoStore: the event's feature group writes to a store that this
	// processor has no connection for.
	CodeNoStore events.Code = "no_store"
	// CodeStoreRejected: the store refused the block for good (not a
	// temporary failure), for example a Scylla table that does not match
	// its entity.
	CodeStoreRejected events.Code = "store_rejected"
)

// ErrAbandoned is given to the deferred commits of events that a stopping
// partition could not write in time: they are not committed, and the next
// owner of the partition processes them again.
var ErrAbandoned = errors.New("ingest: partition stopped before its events were stored; they will be processed again")

// ByConnection resolves registry stores by their connection name.
func ByConnection(stores map[string]views.Store) views.StoreResolver {
	return func(s *schema.Store) (views.Store, error) {
		st, ok := stores[s.Connection]
		if !ok {
			return nil, fmt.Errorf("%w: connection %q is not configured for store %q (%v)", ErrNoConnection, s.Connection, s.ID, s.Kind)
		}
		return st, nil
	}
}

// tableEnsurer is a store whose tables must exist before it is written: a
// views.Scylla.
type tableEnsurer interface {
	EnsureTables(ctx context.Context, tables ...views.Table) error
}

// Processor is the ingest processor.
type Processor struct {
	brokers []string
	names   topics.Names
	holder  *schema.Holder
	resolve views.StoreResolver
	saramaC *sarama.Config

	log          *slog.Logger
	gokaOpts     []goka.ProcessorOption
	producer     goka.ProducerBuilder
	batchSize    int
	linger       time.Duration
	backoff      time.Duration
	maxBackoff   time.Duration
	drainTimeout time.Duration
	decoderOpts  []events.Option
	sync         func(context.Context) (*schema.Snapshot, error)
	reg          prometheus.Registerer
	now          func() time.Time

	metrics *metrics
	lag     *lagCollector
	layouts blocks.Cache
	out     goka.Producer // dead letters and invalidations emitted by flushes

	mu      sync.Mutex
	lanes   map[int32]*lane
	stores  map[storeKey]*failure // the resolutions that failed for good, until retryAt
	ensured map[ensuredKey]bool

	syncMu    sync.Mutex // serializes registry syncs, and guards syncStart
	syncStart time.Time  // when the last successful sync began

	ready     chan struct{}
	readyOnce sync.Once
	wg        sync.WaitGroup // the lanes' goroutines
}

type storeKey struct {
	id, connection string
	kind           schema.StoreKind
}

// failure is a resolution that failed for good; it is asked again once
// retryAt passes, the wait doubling up to maxResolveBackoff.
type failure struct {
	err     error
	retryAt time.Time
	wait    time.Duration
}

// How long a store that could not be opened for good is not asked again.
const (
	firstResolveBackoff = time.Second
	maxResolveBackoff   = time.Minute
)

// ErrNoConnection is wrapped by a views.StoreResolver's error when the store has
// no connection at all (a configuration that lacks it): its events are
// dead-lettered as no_store. Any other resolver error but a bad option
// (views.ErrInvalidOption) is taken as passing, and the partition waits.
var ErrNoConnection = errors.New("ingest: no connection for the store")

type ensuredKey struct {
	store  views.Store
	entity string
}

// Option configures a Processor.
type Option func(*Processor)

// WithLogger sets the logger (default: discard).
func WithLogger(l *slog.Logger) Option { return func(p *Processor) { p.log = l } }

// WithGokaOptions adds goka processor options (tests use goka's tester).
func WithGokaOptions(opts ...goka.ProcessorOption) Option {
	return func(p *Processor) { p.gokaOpts = append(p.gokaOpts, opts...) }
}

// WithProducerBuilder sets how the producer of the dead letters and
// invalidations that flushes emit is built (tests pass the tester's
// EmitterProducerBuilder). The default uses the processor's Kafka config.
func WithProducerBuilder(b goka.ProducerBuilder) Option { return func(p *Processor) { p.producer = b } }

// WithBatchSize sets how many events a partition collects before it writes
// them (default DefaultBatchSize).
func WithBatchSize(n int) Option { return func(p *Processor) { p.batchSize = n } }

// WithLinger sets how long a partition waits for a batch to fill before it
// writes what it has (default DefaultLinger).
func WithLinger(d time.Duration) Option { return func(p *Processor) { p.linger = d } }

// WithBackoff sets the first and the largest wait between retries of a
// store write (defaults DefaultBackoff and DefaultMaxBackoff); the wait
// doubles after each failure.
func WithBackoff(first, largest time.Duration) Option {
	return func(p *Processor) { p.backoff, p.maxBackoff = first, largest }
}

// WithDrainTimeout bounds how long a stopping partition keeps trying to
// write the events it holds before it gives them up uncommitted (default
// DefaultDrainTimeout; goka waits at most a minute for a stopping partition).
func WithDrainTimeout(d time.Duration) Option { return func(p *Processor) { p.drainTimeout = d } }

// WithDecoderOptions passes options to the event decoders (limits, clock,
// compression).
func WithDecoderOptions(opts ...events.Option) Option {
	return func(p *Processor) { p.decoderOpts = append(p.decoderOpts, opts...) }
}

// WithRegistrySync sets a function that returns a snapshot at least as new
// as the registry's latest state. Before an event is rejected for naming an
// entity, group, feature or version that the held snapshot lacks, the
// processor calls it and decodes the event again if the registry moved on:
// an event produced right after the `ofs apply` that made its group is not
// lost to a watch that lags. The call is saved only for an event older (by
// its Kafka timestamp, less syncSkew for clocks that differ) than the start
// of the last sync, which therefore saw every group the event could name: a
// backlog of bad events costs no syncs, and no rate limit can reject a
// valid one.
func WithRegistrySync(f func(context.Context) (*schema.Snapshot, error)) Option {
	return func(p *Processor) { p.sync = f }
}

// WithRegisterer registers the processor's metrics with r (default: a
// registry of its own, that nobody scrapes).
func WithRegisterer(r prometheus.Registerer) Option { return func(p *Processor) { p.reg = r } }

// WithSaramaConfig replaces the Kafka client configuration (default
// topics.SaramaConfig of the group's name).
func WithSaramaConfig(c *sarama.Config) Option { return func(p *Processor) { p.saramaC = c } }

// New returns the ingest processor of the features topic of names. holder
// holds the registry (a registrycopy.Watcher keeps it current); stores resolves
// each registry store to its online store, called once per store and
// connection.
func New(brokers []string, names topics.Names, holder *schema.Holder, stores views.StoreResolver, opts ...Option) (*Processor, error) {
	if holder == nil || stores == nil {
		return nil, errors.New("ingest: a registry holder and a store resolver are required")
	}
	p := &Processor{
		brokers:      brokers,
		names:        names,
		holder:       holder,
		resolve:      stores,
		log:          slog.New(slog.DiscardHandler),
		batchSize:    DefaultBatchSize,
		linger:       DefaultLinger,
		backoff:      DefaultBackoff,
		maxBackoff:   DefaultMaxBackoff,
		drainTimeout: DefaultDrainTimeout,
		reg:          prometheus.NewRegistry(),
		now:          time.Now,
		lanes:        map[int32]*lane{},
		stores:       map[storeKey]*failure{},
		ensured:      map[ensuredKey]bool{},
		ready:        make(chan struct{}),
	}
	for _, o := range opts {
		o(p)
	}
	switch {
	case p.batchSize < 1:
		return nil, fmt.Errorf("ingest: batch size %d, want at least 1", p.batchSize)
	case p.linger <= 0:
		return nil, fmt.Errorf("ingest: linger %v, want more than 0", p.linger)
	case p.backoff <= 0 || p.maxBackoff < p.backoff:
		return nil, fmt.Errorf("ingest: backoff %v up to %v, want 0 < first <= largest", p.backoff, p.maxBackoff)
	case p.drainTimeout <= 0:
		return nil, fmt.Errorf("ingest: drain timeout %v, want more than 0", p.drainTimeout)
	case p.log == nil || p.reg == nil:
		return nil, errors.New("ingest: nil logger or registerer")
	}
	if p.saramaC == nil {
		p.saramaC = topics.SaramaConfig(string(names.IngestGroup))
	}
	if p.producer == nil {
		p.producer = topics.ProducerBuilder(topics.OutputConfig(p.saramaC))
	}
	m, err := newMetrics(p.reg)
	if err != nil {
		return nil, err
	}
	p.metrics = m
	p.lag = newLagCollector(p)
	if err := p.reg.Register(p.lag); err != nil {
		return nil, fmt.Errorf("ingest: register metrics: %w", err)
	}
	return p, nil
}

// Group is the goka group graph of the processor.
func (p *Processor) Group() *goka.GroupGraph {
	return goka.DefineGroup(p.names.IngestGroup,
		goka.Input(p.names.Features, new(gokacodec.Bytes), p.process),
		goka.Output(p.names.DeadLetters, new(gokacodec.Bytes)),
		goka.Output(p.names.Invalidations, new(gokacodec.Bytes)),
	)
}

// Ready is closed once the processor consumes its partitions.
func (p *Processor) Ready() <-chan struct{} { return p.ready }

// Run runs the processor until ctx is done. When it stops, each partition
// writes what it holds (within the drain timeout) before its offsets are
// committed. A goka processor that ends on its own (Kafka unreachable) is
// built again with backoff (topics.Restart): the partitions resume from
// their committed offsets, and the events after them are processed again.
func (p *Processor) Run(ctx context.Context) error {
	out, err := p.producer(p.brokers, string(p.names.IngestGroup)+"-out", goka.DefaultHasher())
	if err != nil {
		return fmt.Errorf("ingest: producer: %w", err)
	}
	p.out = out
	defer p.lag.close()
	defer func() {
		if err := out.Close(); err != nil {
			p.log.Warn("closing the ingest producer", "err", err)
		}
	}()
	err = topics.Restart(ctx, p.log, string(p.names.IngestGroup), p.runOnce)
	p.wg.Wait() // the lanes of every run: the producer is closed after them
	return err
}

// runOnce runs one goka processor until ctx is done or it ends.
func (p *Processor) runOnce(ctx context.Context) error {
	opts := append([]goka.ProcessorOption{
		goka.WithTopicManagerBuilder(topics.TopicManager(p.saramaC)),
		goka.WithConsumerGroupBuilder(goka.ConsumerGroupBuilderWithConfig(p.saramaC)),
		goka.WithConsumerSaramaBuilder(goka.SaramaConsumerBuilderWithConfig(p.saramaC)),
		goka.WithProducerBuilder(topics.ProducerBuilder(p.saramaC)),
		goka.WithLogger(topics.GokaLogger(p.log)),
		// A tombstone reaches the callback, which sends it to the dead
		// letters in offset order; goka would otherwise commit it at once,
		// past events that are not stored yet.
		goka.WithNilHandling(goka.NilProcess),
	}, p.gokaOpts...)
	proc, err := goka.NewProcessor(p.brokers, p.Group(), opts...)
	if err != nil {
		return fmt.Errorf("ingest: processor: %w", err)
	}
	errc := make(chan error, 1)
	go func() { errc <- proc.Run(ctx) }()
	if err := proc.WaitForReadyContext(ctx); err != nil {
		return errors.Join(err, <-errc)
	}
	p.readyOnce.Do(func() { close(p.ready) })
	return <-errc
}

// process handles one message: decode and validate it, and add it to its
// partition's batch, or send it to the dead letters.
func (p *Processor) process(ctx goka.Context, msg any) {
	ln := p.lane(ctx)
	done := ctx.DeferCommit()
	value, _ := msg.([]byte)
	src := source{key: ctx.Key(), value: value, headers: ctx.Headers(), partition: ctx.Partition(),
		offset: ctx.Offset(), timestamp: ctx.Timestamp()}
	ln.add(src, done)
}

// lane returns the batching state of ctx's partition, made anew for each
// assignment of the partition (goka gives each its own context).
func (p *Processor) lane(ctx goka.Context) *lane {
	part, c := ctx.Partition(), ctx.Context()
	p.mu.Lock()
	defer p.mu.Unlock()
	ln := p.lanes[part]
	if ln == nil || ln.ctx != c {
		ln = newLane(c, p, part)
		p.lanes[part] = ln
	}
	return ln
}

// storeOf returns the online store of group g. A store that cannot be
// opened for a reason that may pass gives a plain error, for the caller to
// retry: the partition waits. A store without a connection
// (ErrNoConnection, views.ErrInvalidOption) rejects the event as no_store;
// that failure is remembered for a while (a second, doubling up to a
// minute), then the resolver is asked again.
func (p *Processor) storeOf(snap *schema.Snapshot, g *schema.FeatureGroup) (views.Store, *events.Error, error) {
	s, ok := snap.Store(g.Store)
	if !ok {
		return nil, &events.Error{Code: CodeNoStore, Reason: fmt.Sprintf("feature group %q writes to store %q, which is not in the registry", g.Name, g.Store)}, nil
	}
	// The resolver is asked every time it has not just failed, so that a
	// connection switched to another target (a blue/green replay) is
	// followed at once.
	k := storeKey{s.ID, s.Connection, s.Kind}
	now := p.now()
	p.mu.Lock()
	f := p.stores[k]
	p.mu.Unlock()
	if f != nil && now.Before(f.retryAt) {
		return nil, noStore(g, f.err), nil
	}
	st, err := p.resolve(s)
	if err == nil && st == nil {
		err = errors.New("the resolver gave no store")
	}
	switch {
	case err == nil:
		if f != nil {
			p.mu.Lock()
			delete(p.stores, k)
			p.mu.Unlock()
			p.log.Info("online store opened", "store", s.ID, "connection", s.Connection)
		}
		return st, nil, nil
	case !errors.Is(err, ErrNoConnection) && !errors.Is(err, views.ErrInvalidOption):
		return nil, nil, fmt.Errorf("store %q (connection %q): %w", s.ID, s.Connection, err)
	}
	wait := firstResolveBackoff
	if f != nil {
		wait = min(2*f.wait, maxResolveBackoff)
	}
	p.mu.Lock()
	p.stores[k] = &failure{err: err, retryAt: now.Add(wait), wait: wait}
	p.mu.Unlock()
	p.log.Error("no online store for a registry store; its events go to the dead letters", "store", s.ID,
		"connection", s.Connection, "err", err, "asked_again_in", wait)
	return nil, noStore(g, err), nil
}

func noStore(g *schema.FeatureGroup, err error) *events.Error {
	return &events.Error{Code: CodeNoStore, Reason: fmt.Sprintf("feature group %q writes to store %q: %v", g.Name, g.Store, err)}
}

// syncSkew is how far the clock of an event's producer may be behind this
// processor's without an event being judged against a registry sync that
// began before the event was produced.
const syncSkew = 30 * time.Second

// schemaMiss reports whether err may be the held registry lagging behind
// an event produced at t.
func (p *Processor) schemaMiss(err error, t time.Time) bool {
	var rej *events.Error
	if p.sync == nil || !errors.As(err, &rej) {
		return false
	}
	switch rej.Code {
	case events.CodeUnknownEntity, events.CodeUnknownGroup, events.CodeWrongEntity, events.CodeUnknownFeature,
		events.CodeUnknownVersion, events.CodeWrongValueCount:
	default:
		return false
	}
	return p.needsSync(t)
}

// needsSync reports whether the last registry sync began before an event
// produced at t (give or take syncSkew): only then may a sync know more.
func (p *Processor) needsSync(t time.Time) bool {
	p.syncMu.Lock()
	defer p.syncMu.Unlock()
	return t.IsZero() || p.syncStart.IsZero() || !t.Add(syncSkew).Before(p.syncStart)
}

// syncRegistry syncs the registry for an event produced at t, and returns
// the newer snapshot, or nil when there is none; an error when the registry
// could not be read (the caller waits and tries again: the event may be
// valid). Syncs are one at a time: partitions that miss at once share one.
func (p *Processor) syncRegistry(ctx context.Context, snap *schema.Snapshot, t time.Time) (*schema.Snapshot, error) {
	p.syncMu.Lock()
	defer p.syncMu.Unlock()
	if !t.IsZero() && !p.syncStart.IsZero() && t.Add(syncSkew).Before(p.syncStart) {
		// Another partition synced meanwhile.
		if held := p.holder.Load(); held.Revision() > snap.Revision() {
			return held, nil
		}
		return nil, nil
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	start := p.now()
	newer, err := p.sync(ctx)
	if err != nil {
		return nil, fmt.Errorf("ingest: registry sync: %w", err)
	}
	p.syncStart = start
	if newer.Revision() <= snap.Revision() {
		return nil, nil
	}
	return newer, nil
}

// ensure creates the tables of entity e in store st once per process, for
// stores that need them.
func (p *Processor) ensure(ctx context.Context, st views.Store, e *schema.Entity) error {
	te, ok := st.(tableEnsurer)
	if !ok {
		return nil
	}
	k := ensuredKey{st, e.Name}
	p.mu.Lock()
	done := p.ensured[k]
	p.mu.Unlock()
	if done {
		return nil
	}
	t := views.Table{Entity: e.Name, Keys: make([]views.KeyColumn, len(e.Keys))}
	for i, c := range e.Keys {
		t.Keys[i] = views.KeyColumn{Name: c.Name, Type: c.Type}
	}
	if err := te.EnsureTables(ctx, t); err != nil {
		return err
	}
	p.mu.Lock()
	p.ensured[k] = true
	p.mu.Unlock()
	return nil
}
