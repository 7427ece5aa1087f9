package sdk

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/IBM/sarama"
	"google.golang.org/protobuf/proto"

	featurev1 "github.com/ofstack/ofs/proto/ofs/feature/v1"
	"github.com/ofstack/ofs/topics"
)

// ErrClosed is returned by Publish after Close.
var ErrClosed = errors.New("sdk: publisher closed")

// Key is one key column's value of an event.
type Key struct {
	Column string
	// Value is an integer (or its decimal text) for an integer column, a
	// string for a string column.
	Value any
}

// Event is one row of a feature group for one entity key, as the ingest
// processor takes it from the features topic.
type Event struct {
	Entity string
	Group  string
	// Keys holds every key column of the entity, in the entity's key-column
	// order (Client.Entity tells it): the order makes the Kafka message key,
	// and the ingest processor sends an event whose message key does not
	// match its keys to the dead letters.
	Keys []Key
	// EventTime is when the values were true; zero means the Kafka
	// timestamp, the time of the produce.
	EventTime time.Time
	// Values holds feature values by name, as Row.Values.
	Values map[string]any
}

type publisherConfig struct {
	linger time.Duration
	tune   []func(*sarama.Config)
}

// PublisherOption configures NewPublisher.
type PublisherOption func(*publisherConfig)

// WithLinger sets how long the producer holds events to fill a batch; the
// default is 5 ms. 0 sends as soon as a request can go.
func WithLinger(d time.Duration) PublisherOption { return func(c *publisherConfig) { c.linger = d } }

// WithSaramaConfig changes the Kafka client configuration, for example its
// TLS or SASL settings, after the defaults are set.
func WithSaramaConfig(f func(*sarama.Config)) PublisherOption {
	return func(c *publisherConfig) { c.tune = append(c.tune, f) }
}

// Publisher produces feature events to the features topic asynchronously and
// in batches. It is safe for concurrent use.
type Publisher struct {
	producer sarama.AsyncProducer
	topic    string

	closeMu sync.RWMutex // held for reading by Publish, for writing by Close
	closed  bool

	mu     sync.Mutex
	cur    *batch   // events published since the last Flush
	sealed []*batch // batches of earlier Flushes still in flight
	err    error    // the first failure not yet returned

	sent, failed atomic.Int64
	acks         sync.WaitGroup // the acknowledgement readers
}

// batch counts the events in flight published between two Flushes.
type batch struct {
	pending int
	sealed  bool
	done    chan struct{} // closed once sealed with nothing pending
}

// NewPublisher connects to the Kafka brokers of the installation whose topics
// are named under prefix ("" is the default, "ofs").
func NewPublisher(brokers []string, prefix string, opts ...PublisherOption) (*Publisher, error) {
	pc := publisherConfig{linger: 5 * time.Millisecond}
	for _, o := range opts {
		o(&pc)
	}
	if pc.linger < 0 {
		return nil, fmt.Errorf("%w: negative linger %s", ErrInvalidOption, pc.linger)
	}
	names, err := topics.For(prefix)
	if err != nil {
		return nil, fmt.Errorf("sdk: publisher: %w", err)
	}
	cfg := topics.SaramaConfig("ofs-sdk")
	cfg.Producer.Return.Successes = true
	cfg.Producer.Return.Errors = true
	cfg.Producer.Flush.Frequency = pc.linger
	for _, f := range pc.tune {
		f(cfg)
	}
	producer, err := sarama.NewAsyncProducer(brokers, cfg)
	if err != nil {
		return nil, fmt.Errorf("sdk: publisher: %w", err)
	}
	p := &Publisher{producer: producer, topic: string(names.Features), cur: newBatch()}
	p.acks.Add(2)
	go func() {
		defer p.acks.Done()
		for m := range producer.Successes() {
			p.sent.Add(1)
			p.ack(m, nil)
		}
	}()
	go func() {
		defer p.acks.Done()
		for e := range producer.Errors() {
			p.failed.Add(1)
			p.ack(e.Msg, fmt.Errorf("sdk: publish %s key %v: %w", p.topic, e.Msg.Key, e.Err))
		}
	}()
	return p, nil
}

func newBatch() *batch { return &batch{done: make(chan struct{})} }

// Publish queues an event. It returns at once unless the producer's buffer
// is full; the outcome is known at the next Flush or Close.
func (p *Publisher) Publish(ev Event) error {
	msg, err := p.message(ev)
	if err != nil {
		return err
	}
	p.closeMu.RLock()
	defer p.closeMu.RUnlock()
	if p.closed {
		return ErrClosed
	}
	p.mu.Lock()
	b := p.cur
	b.pending++
	p.mu.Unlock()
	msg.Metadata = b
	p.producer.Input() <- msg
	return nil
}

func (p *Publisher) message(ev Event) (*sarama.ProducerMessage, error) {
	keys := make(map[string]any, len(ev.Keys))
	text := make([]string, len(ev.Keys))
	for i, k := range ev.Keys {
		keys[k.Column] = k.Value
		var err error
		if text[i], err = keyText(k.Value); err != nil {
			return nil, fmt.Errorf("sdk: publish %s/%s key %q: %w", ev.Entity, ev.Group, k.Column, err)
		}
	}
	pe, err := event(ev.Entity, ev.Group, keys, ev.EventTime, ev.Values)
	if err != nil {
		return nil, fmt.Errorf("sdk: publish %s/%s: %w", ev.Entity, ev.Group, err)
	}
	b, err := proto.Marshal(pe)
	if err != nil {
		return nil, fmt.Errorf("sdk: publish %s/%s: %w", ev.Entity, ev.Group, err)
	}
	return &sarama.ProducerMessage{
		Topic:   p.topic,
		Key:     sarama.StringEncoder(topics.FeatureKey(ev.Entity, ev.Group, text...)),
		Value:   sarama.ByteEncoder(b),
		Headers: []sarama.RecordHeader{{Key: []byte(topics.HeaderContentType), Value: []byte(topics.ContentTypeProtobuf)}},
	}, nil
}

// keyText is a key value in canonical text: integers in decimal.
func keyText(v any) (string, error) {
	pv, err := value(v)
	if err != nil {
		return "", err
	}
	switch k := pv.GetKind().(type) {
	case *featurev1.Value_Int64Value:
		return strconv.FormatInt(k.Int64Value, 10), nil
	case *featurev1.Value_Uint64Value:
		return strconv.FormatUint(k.Uint64Value, 10), nil
	case *featurev1.Value_StringValue:
		return k.StringValue, nil
	}
	return "", fmt.Errorf("%w: %T is no key type", ErrValue, v)
}

func (p *Publisher) ack(m *sarama.ProducerMessage, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err != nil && p.err == nil {
		p.err = err
	}
	if b, ok := m.Metadata.(*batch); ok {
		b.pending--
		if b.sealed && b.pending == 0 {
			close(b.done)
		}
	}
}

// Flush waits until every event published before the call is acknowledged
// by Kafka or has failed, and returns the first failure since the previous
// Flush (each failure is returned once). Events published during the call
// are not waited for. It returns ctx's error if ctx ends first; the events
// stay in flight.
func (p *Publisher) Flush(ctx context.Context) error {
	p.mu.Lock()
	b := p.cur
	b.sealed = true
	if b.pending == 0 {
		close(b.done)
	}
	p.cur = newBatch()
	p.sealed = append(p.sealed, b)
	wait := append([]*batch(nil), p.sealed...)
	p.mu.Unlock()
	for _, b := range wait {
		select {
		case <-b.done:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	open := p.sealed[:0]
	for _, b := range p.sealed {
		if b.pending > 0 {
			open = append(open, b)
		}
	}
	clear(p.sealed[len(open):])
	p.sealed = open
	err := p.err
	p.err = nil
	return err
}

// Close sends what is queued, waits for its acknowledgements, and closes
// the connections. It returns the first failure not yet returned by Flush.
func (p *Publisher) Close() error {
	p.closeMu.Lock()
	if p.closed {
		p.closeMu.Unlock()
		return ErrClosed
	}
	p.closed = true
	p.closeMu.Unlock()
	p.producer.AsyncClose()
	p.acks.Wait()
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}

// Stats returns how many events Kafka has acknowledged and how many failed.
func (p *Publisher) Stats() (sent, failed int64) { return p.sent.Load(), p.failed.Load() }
