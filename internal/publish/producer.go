package publish

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync/atomic"
	"time"

	"github.com/IBM/sarama"

	"github.com/ofstack/ofs/internal/blocks"
	"github.com/ofstack/ofs/internal/events"
	"github.com/ofstack/ofs/schema"
	"github.com/ofstack/ofs/topics"
)

// NewFeatureProducer returns an idempotent, batching async producer that
// reports every success and error, after checking that topic exists.
func NewFeatureProducer(brokers []string, topic string, cfg *sarama.Config) (sarama.AsyncProducer, error) {
	cfg.Producer.Return.Successes = true
	cfg.Producer.Return.Errors = true
	cfg.Producer.MaxMessageBytes = topics.MaxMessageBytes
	cfg.Producer.Flush.Frequency = 20 * time.Millisecond
	cfg.Producer.Flush.Bytes = 1 << 20
	client, err := sarama.NewClient(brokers, cfg)
	if err != nil {
		return nil, fmt.Errorf("kafka %v: %w", brokers, err)
	}
	if _, err := client.Partitions(topic); err != nil {
		_ = client.Close() // the error that matters is the topic's
		return nil, fmt.Errorf("topic %s: %w (run ofs topics ensure, or start ofs process)", topic, err)
	}
	producer, err := sarama.NewAsyncProducerFromClient(client)
	if err != nil {
		_ = client.Close() // the error that matters is the producer's
		return nil, fmt.Errorf("kafka producer: %w", err)
	}
	return clientClosing{producer, client}, nil
}

// clientClosing closes the client after its producer.
type clientClosing struct {
	sarama.AsyncProducer
	client sarama.Client
}

func (c clientClosing) Close() error {
	return errors.Join(c.AsyncProducer.Close(), c.client.Close())
}

// Progress is told how publishing goes: Start when it begins (the
// returned function is called at the end), Read as the input is consumed
// up to an offset, Printf for each failed event.
type Progress interface {
	Start(sent, failed *atomic.Int64) (stop func())
	Read(offset int64)
	Printf(format string, args ...any)
}

// Publisher checks items against the registry (unless validation is off)
// and hands them to the producer, counting what was sent and what failed.
type Publisher struct {
	topic    string
	snap     *schema.Snapshot
	validate bool
	dec      *events.Decoder
	buf      []byte
	producer sarama.AsyncProducer
	prog     Progress

	sent, failed atomic.Int64
	lastLine     int
}

// NewPublisher returns a publisher of feature events to topic, checked
// against snap when validate is set, through producer (whose successes
// and errors it reads), reporting to prog. Run it once.
func NewPublisher(topic string, snap *schema.Snapshot, validate bool, producer sarama.AsyncProducer, prog Progress) *Publisher {
	return &Publisher{topic: topic, snap: snap, validate: validate, producer: producer, prog: prog,
		dec: events.NewDecoder(&blocks.Cache{}, events.Compress(false))}
}

// Sent is the count of events the producer acknowledged.
func (p *Publisher) Sent() int64 { return p.sent.Load() }

// Failed is the count of events that were not sent.
func (p *Publisher) Failed() int64 { return p.failed.Load() }

// LastLine is the line of the last item read.
func (p *Publisher) LastLine() int { return p.lastLine }

// Run publishes every item of src until its end or ctx, then flushes the
// producer. It reports whether ctx stopped it.
func (p *Publisher) Run(ctx context.Context, src Reader) (interrupted bool) {
	items := make(chan Item, 256)
	readCtx, stopReading := context.WithCancel(ctx)
	defer stopReading()
	go func() {
		defer close(items)
		for {
			it, err := src.Next()
			if errors.Is(err, io.EOF) {
				return
			}
			if err != nil {
				it = Item{Line: it.Line, Err: err}
			}
			select {
			case items <- it:
			case <-readCtx.Done():
				return
			}
			if err != nil {
				return // a read error ends the input
			}
		}
	}()

	results := make(chan struct{})
	go p.collect(results)
	stopCounts := p.prog.Start(&p.sent, &p.failed)

loop:
	for {
		select {
		case <-ctx.Done():
			interrupted = true
			break loop
		case it, ok := <-items:
			if !ok {
				break loop
			}
			p.lastLine = it.Line
			p.prog.Read(it.Offset)
			if it.Err != nil {
				p.fail(it.Line, it.Err)
				continue
			}
			msg, err := p.message(it)
			if err != nil {
				p.fail(it.Line, err)
				continue
			}
			p.producer.Input() <- msg
		}
	}
	stopReading()
	p.producer.AsyncClose()
	<-results
	stopCounts()
	return interrupted
}

// message checks an item against the registry and makes its Kafka message.
func (p *Publisher) message(it Item) (*sarama.ProducerMessage, error) {
	now := time.Now()
	key := it.Key
	row, buf, err := p.dec.Decode(p.snap, events.Message{Value: it.Value, ContentType: it.ContentType, Timestamp: now}, p.buf[:0])
	p.buf = buf[:0]
	switch {
	case err == nil:
		key = row.KafkaKey()
	case p.validate:
		return nil, err
	case key == "":
		key = GuessJSONKey(p.snap, it.Value)
	}
	msg := &sarama.ProducerMessage{
		Topic:     p.topic,
		Value:     sarama.ByteEncoder(it.Value),
		Headers:   []sarama.RecordHeader{{Key: []byte(topics.HeaderContentType), Value: []byte(it.ContentType)}},
		Timestamp: now,
		Metadata:  it.Line,
	}
	if key != "" {
		msg.Key = sarama.StringEncoder(key)
	}
	return msg, nil
}

// collect counts the producer's outcomes until both its channels close.
func (p *Publisher) collect(done chan<- struct{}) {
	defer close(done)
	succ, errs := p.producer.Successes(), p.producer.Errors()
	for succ != nil || errs != nil {
		select {
		case _, ok := <-succ:
			if !ok {
				succ = nil
				continue
			}
			p.sent.Add(1)
		case e, ok := <-errs:
			if !ok {
				errs = nil
				continue
			}
			line, _ := e.Msg.Metadata.(int)
			p.fail(line, fmt.Errorf("kafka: %w", e.Err))
		}
	}
}

func (p *Publisher) fail(line int, err error) {
	p.failed.Add(1)
	var ee *events.Error
	if errors.As(err, &ee) {
		p.prog.Printf("line %d: %s: %s\n", line, ee.Code, ee.Reason)
		return
	}
	p.prog.Printf("line %d: %v\n", line, err)
}
