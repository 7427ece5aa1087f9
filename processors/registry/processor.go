// Package registry is the registry processor: a goka group that reads
// registration commands from the registry topic (one partition, so all
// changes are totally ordered), applies them to the registry state kept in
// its table, publishes every new state to etcd, and emits each command's
// outcome to the results topic, keyed by request id.
package registry

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/IBM/sarama"
	"github.com/lovoo/goka"
	gokacodec "github.com/lovoo/goka/codec"
	"github.com/lovoo/goka/storage"
	"google.golang.org/protobuf/proto"

	"github.com/ofstack/ofs/internal/backoff"
	registryv1 "github.com/ofstack/ofs/proto/ofs/registry/v1"
	"github.com/ofstack/ofs/schema"
	"github.com/ofstack/ofs/topics"
)

// Key is the message key of every command, and the one key of the table.
const Key = "registry"

// recentOutcomes is how many decided commands the table remembers to answer
// redeliveries: more than can be in flight between a table write and the
// offset commit that follows it.
const recentOutcomes = 64

// ErrWrongKey rejects a command published under another key than Key:
// under another key it would start a second, separate registry.
var ErrWrongKey = errors.New("registry: command not keyed " + Key)

// Publisher makes a registry state visible to readers (the registry's copy in etcd,
// views/registrycopy).
type Publisher interface {
	Publish(ctx context.Context, r *schema.Registry) error
}

// Processor is the registry processor.
type Processor struct {
	brokers []string
	names   topics.Names
	pub     Publisher
	log     *slog.Logger
	opts    []goka.ProcessorOption
	saramaC *sarama.Config

	mu    sync.Mutex // guards cache
	cache *schema.Registry

	ready     chan struct{}
	readyOnce sync.Once
}

// Option configures a Processor.
type Option func(*Processor)

// WithLogger sets the logger (default: discard).
func WithLogger(l *slog.Logger) Option { return func(p *Processor) { p.log = l } }

// WithSaramaConfig replaces the Kafka client configuration (default
// topics.SaramaConfig of the registry group), for example to add TLS and
// SASL.
func WithSaramaConfig(c *sarama.Config) Option { return func(p *Processor) { p.saramaC = c } }

// WithGokaOptions adds goka processor options (tests use goka's tester).
func WithGokaOptions(opts ...goka.ProcessorOption) Option {
	return func(p *Processor) { p.opts = append(p.opts, opts...) }
}

// New returns the processor of the registry topic of names, publishing to pub.
func New(brokers []string, names topics.Names, pub Publisher, opts ...Option) (*Processor, error) {
	if pub == nil {
		return nil, errors.New("registry: a publisher is required")
	}
	p := &Processor{
		brokers: brokers,
		names:   names,
		pub:     pub,
		log:     slog.New(slog.DiscardHandler),
		ready:   make(chan struct{}),
		saramaC: topics.SaramaConfig(string(names.RegistryGroup)),
	}
	for _, o := range opts {
		o(p)
	}
	if p.saramaC == nil {
		return nil, errors.New("registry: nil Kafka configuration")
	}
	// The table holds the whole registry in one message.
	c := *p.saramaC
	c.Producer.MaxMessageBytes = max(c.Producer.MaxMessageBytes, topics.MaxRegistryBytes)
	p.saramaC = &c
	return p, nil
}

// Group is the goka group graph of the processor.
func (p *Processor) Group() *goka.GroupGraph {
	return goka.DefineGroup(p.names.RegistryGroup,
		goka.Input(p.names.Registry, new(gokacodec.Bytes), p.process),
		goka.Persist(tableCodec{}),
		goka.Output(p.names.RegistryResults, new(gokacodec.Bytes)),
	)
}

// Ready is closed once the processor has recovered its table and published
// the recovered state.
func (p *Processor) Ready() <-chan struct{} { return p.ready }

// Run runs the processor until ctx is done. A goka processor that ends on
// its own (Kafka unreachable) is built again with backoff
// (topics.Restart): it recovers its table and resumes from the committed
// offset.
func (p *Processor) Run(ctx context.Context) error {
	return topics.Restart(ctx, p.log, string(p.names.RegistryGroup), p.runOnce)
}

// runOnce runs one goka processor until ctx is done or it ends.
func (p *Processor) runOnce(ctx context.Context) error {
	opts := append([]goka.ProcessorOption{
		goka.WithTopicManagerBuilder(topics.TopicManager(p.saramaC)),
		goka.WithConsumerGroupBuilder(goka.ConsumerGroupBuilderWithConfig(p.saramaC)),
		goka.WithConsumerSaramaBuilder(goka.SaramaConsumerBuilderWithConfig(p.saramaC)),
		goka.WithProducerBuilder(topics.ProducerBuilder(p.saramaC)),
		// The table is one small key; it is recovered from its compacted topic.
		goka.WithStorageBuilder(storage.MemoryBuilder()),
		goka.WithLogger(topics.GokaLogger(p.log)),
	}, p.opts...)
	proc, err := goka.NewProcessor(p.brokers, p.Group(), opts...)
	if err != nil {
		return fmt.Errorf("registry: processor: %w", err)
	}
	errc := make(chan error, 1)
	go func() { errc <- proc.Run(ctx) }()

	if err := proc.WaitForReadyContext(ctx); err != nil {
		return errors.Join(err, <-errc)
	}
	// A new etcd (or one behind the table) gets the recovered state now, not
	// only with the next command.
	if err := p.publishRecovered(ctx, proc); err != nil {
		return errors.Join(err, <-errc)
	}
	p.readyOnce.Do(func() { close(p.ready) })
	return <-errc
}

func (p *Processor) publishRecovered(ctx context.Context, proc *goka.Processor) error {
	v, err := proc.Get(Key)
	if err != nil {
		return fmt.Errorf("registry: read table: %w", err)
	}
	t, _ := v.(*registryv1.RegistryTable)
	if t == nil {
		return nil
	}
	r, err := p.state(t)
	if err != nil {
		return err
	}
	return p.publish(ctx, r)
}

// state returns the registry of a table value, decoding it only when it is
// not the one decoded last.
func (p *Processor) state(t *registryv1.RegistryTable) (*schema.Registry, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if t == nil || t.GetRegistry() == nil {
		return schema.NewRegistry(), nil
	}
	if p.cache != nil && p.cache.Revision() == t.GetRegistry().GetRevision() {
		return p.cache, nil
	}
	r, err := schema.RegistryFromProto(t.GetRegistry())
	if err != nil {
		return nil, fmt.Errorf("registry: table state: %w", err)
	}
	p.cache = r
	return r, nil
}

// publish retries until the state is published or ctx is done: a command
// is committed only once readers can see its effect.
func (p *Processor) publish(ctx context.Context, r *schema.Registry) error {
	waits := backoff.Doubling{First: 100 * time.Millisecond, Max: 5 * time.Second}
	for {
		err := p.pub.Publish(ctx, r)
		if err == nil {
			return nil
		}
		p.log.Warn("publishing the registry failed; retrying", "revision", r.Revision(), "err", err)
		if !backoff.Sleep(ctx, waits.Next()) {
			return fmt.Errorf("registry: publish revision %d: %w", r.Revision(), errors.Join(err, ctx.Err()))
		}
	}
}

// process decides one command. Its offset is committed only once the new
// state is published to etcd, written to the table and its outcome
// acknowledged: while etcd is down the partition waits, and if the
// partition stops first, the command stays uncommitted and the next owner
// applies it (a command redelivered after its table write is answered from
// the table's memory of recent outcomes).
func (p *Processor) process(ctx goka.Context, msg any) {
	// A deferred commit given an error fails the message: goka then marks
	// nothing, whether or not the partition is still running (ctx.Fail on a
	// partition that stopped would only record the error, and goka would
	// mark the offset).
	done := ctx.DeferCommit()
	var failed error
	defer func() { done(failed) }()
	raw, _ := msg.([]byte)
	cmd, err := Command(ctx.Key(), raw)
	switch {
	case errors.Is(err, ErrWrongKey):
		p.answer(ctx, cmd.GetRequestId(), p.marshalOutcome(ctx,
			rejected(cmd.GetRequestId(), registryv1.RejectCode_REJECT_CODE_INVALID_ARGUMENT, err.Error())))
		return
	case err != nil:
		// Nothing to apply and no request id to answer: the outcome goes
		// out under the message key so that the author can still find it.
		p.log.Warn("undecodable registry command", "offset", ctx.Offset(), "err", err)
		p.answer(ctx, ctx.Key(), p.marshalOutcome(ctx,
			rejected("", registryv1.RejectCode_REJECT_CODE_INVALID_ARGUMENT, err.Error())))
		return
	}

	table, _ := ctx.Value().(*registryv1.RegistryTable)
	if out := redelivered(table, ctx.Offset()); out != nil {
		p.log.Info("command delivered again; answering as before", "offset", ctx.Offset(), "request", cmd.GetRequestId())
		p.answer(ctx, cmd.GetRequestId(), p.marshalOutcome(ctx, out))
		return
	}
	cur, err := p.state(table)
	if err != nil {
		ctx.Fail(err) // a table that does not decode: stop rather than guess
		return
	}
	next, out := cur.ApplyProto(cmd, ctx.Timestamp())
	if next != cur {
		if err := p.publish(ctx.Context(), next); err != nil {
			p.log.Warn("partition stopped before the registry was published; the command stays uncommitted",
				"offset", ctx.Offset(), "request", cmd.GetRequestId(), "err", err)
			failed = err
			return
		}
		p.mu.Lock()
		p.cache = next
		p.mu.Unlock()
	}
	ctx.SetValue(&registryv1.RegistryTable{
		Registry: next.ToProto(),
		Recent:   remember(table.GetRecent(), &registryv1.AppliedCommand{Offset: ctx.Offset(), Outcome: out}),
	})
	p.answer(ctx, cmd.GetRequestId(), p.marshalOutcome(ctx, out))
	p.log.Info("registry command decided", "request", cmd.GetRequestId(), "revision", next.Revision(),
		"applied", out.GetApplied() != nil)
}

// answer emits the outcome of the command of ctx under key, with the
// command's offset in a header.
func (p *Processor) answer(ctx goka.Context, key string, outcome []byte) {
	ctx.Emit(p.names.RegistryResults, key, outcome, goka.WithCtxEmitHeaders(goka.Headers{
		topics.HeaderCommandOffset: []byte(strconv.FormatInt(ctx.Offset(), 10))}))
}

func (p *Processor) marshalOutcome(ctx goka.Context, out *registryv1.Outcome) []byte {
	b, err := proto.Marshal(out)
	if err != nil {
		ctx.Fail(fmt.Errorf("registry: marshal outcome: %w", err))
	}
	return b
}

func rejected(id string, code registryv1.RejectCode, msg string) *registryv1.Outcome {
	return &registryv1.Outcome{RequestId: id, Result: &registryv1.Outcome_Rejected_{
		Rejected: &registryv1.Outcome_Rejected{Code: code, Message: msg},
	}}
}

// redelivered returns the outcome already decided for the command at offset,
// or nil when the command is new.
func redelivered(t *registryv1.RegistryTable, offset int64) *registryv1.Outcome {
	for _, a := range t.GetRecent() {
		if a.GetOffset() == offset {
			return a.GetOutcome()
		}
	}
	return nil
}

func remember(recent []*registryv1.AppliedCommand, a *registryv1.AppliedCommand) []*registryv1.AppliedCommand {
	if len(recent) >= recentOutcomes {
		recent = recent[len(recent)-recentOutcomes+1:]
	}
	return append(append([]*registryv1.AppliedCommand(nil), recent...), a)
}

// tableCodec encodes the table value deterministically.
type tableCodec struct{}

func (tableCodec) Encode(v any) ([]byte, error) {
	t, ok := v.(*registryv1.RegistryTable)
	if !ok {
		return nil, fmt.Errorf("registry: table value is %T", v)
	}
	return proto.MarshalOptions{Deterministic: true}.Marshal(t)
}

func (tableCodec) Decode(b []byte) (any, error) {
	t := new(registryv1.RegistryTable)
	if err := proto.Unmarshal(b, t); err != nil {
		return nil, fmt.Errorf("registry: table value: %w", err)
	}
	return t, nil
}
