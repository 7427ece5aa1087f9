package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync/atomic"
	"time"

	"github.com/IBM/sarama"
	"github.com/spf13/cobra"

	"github.com/ofstack/ofs/internal/blocks"
	"github.com/ofstack/ofs/internal/config"
	"github.com/ofstack/ofs/internal/events"
	"github.com/ofstack/ofs/internal/node"
	"github.com/ofstack/ofs/internal/publish"
	"github.com/ofstack/ofs/schema"
	"github.com/ofstack/ofs/topics"
	"github.com/ofstack/ofs/views/registrycopy"
)

// errPublishFailed is returned when some events were not sent.
var errPublishFailed = errors.New("some events were not sent")

// countEvery is how often counts are printed when the progress bar is off.
const countEvery = 5 * time.Second

type publishOptions struct {
	format     string
	entity     string
	group      string
	timeUnit   string
	noValidate bool
	quiet      bool
}

func newPublish(g *globals) *cobra.Command {
	var (
		cf   configFlags
		opts publishOptions
	)
	cmd := &cobra.Command{
		Use:   "publish FILE|-",
		Short: "Produce feature events from JSON lines or CSV to the features topic",
		Long: `Read feature events from FILE (or standard input with -) and produce them to the
features topic, keyed by entity, feature group and key values, with the content-type
header. The file is streamed: memory stays bounded whatever its size.

--format json (the default): one event per line in the JSON form of docs/kafka.md, e.g.
  {"entity":"user","keys":{"user_id":42},"feature_group":"user_profile",
   "event_time":"2026-11-25T10:00:00Z","values":{"age":31,"country":"DE"}}
Blank lines are skipped. Each line is sent as it is (application/json).

--format csv --entity E --group G: a header row, then one event per row. Columns are
named after the entity's key columns (all required), the features of the group's
active version (any subset, any order) and optionally event_time. A vector cell is a
JSON array such as [0.1,0.2]; a bool is true/false/1/0; an empty cell leaves the
feature out, so it takes its default (a string feature cannot be set to "" from CSV).
event_time is RFC 3339 (2026-11-25T10:00:00Z) or an integer count of --time-unit
since the Unix epoch; an empty or missing event_time means the time of publishing.
Rows are sent as protobuf FeatureEvents (application/x-protobuf).

Every event is checked against the registry (read from etcd once at start) before it is
sent; a bad one is reported with its line number and reason and not sent. With
--no-validate JSON lines are sent as they are, as kcat would, and the ingest processor
dead-letters the bad ones (CSV rows still need the registry for their types).

A progress bar is drawn on standard error when it is a terminal and --quiet is not
given; otherwise the counts are printed every 5s. At the end "sent=N failed=M" is
printed; the exit status is 1 when any event failed. SIGINT stops reading; what was
read is still sent before ofs exits.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := opts.check(); err != nil {
				return usageError{err}
			}
			cfg, err := cf.Load()
			if err != nil {
				return err
			}
			return runPublish(cmd.Context(), g, cfg, opts, args[0])
		},
	}
	cf.register(cmd, false)
	fl := cmd.Flags()
	fl.StringVar(&opts.format, "format", "json", "input format: json (JSON lines) or csv (with a header row)")
	fl.StringVar(&opts.entity, "entity", "", "entity of the CSV rows")
	fl.StringVar(&opts.group, "group", "", "feature group of the CSV rows")
	fl.StringVar(&opts.timeUnit, "time-unit", "s", "unit of a numeric CSV event_time: s, ms or us")
	fl.BoolVar(&opts.noValidate, "no-validate", false, "send without checking events against the registry")
	fl.BoolVarP(&opts.quiet, "quiet", "q", false, "no progress bar; print counts every 5s instead")
	return cmd
}

func (o *publishOptions) check() error {
	switch o.format {
	case "json":
		if o.entity != "" || o.group != "" {
			return errors.New("--entity and --group are for --format csv; a JSON event names its own")
		}
	case "csv":
		if o.entity == "" || o.group == "" {
			return errors.New("--format csv needs --entity and --group")
		}
		if _, err := parseTimeUnit(o.timeUnit); err != nil {
			return err
		}
	default:
		return fmt.Errorf("--format is %q, want json or csv", o.format)
	}
	return nil
}

func parseTimeUnit(s string) (time.Duration, error) {
	switch s {
	case "s":
		return time.Second, nil
	case "ms":
		return time.Millisecond, nil
	case "us", "µs":
		return time.Microsecond, nil
	}
	return 0, fmt.Errorf("--time-unit is %q, want s, ms or us", s)
}

func runPublish(ctx context.Context, g *globals, cfg *config.Config, opts publishOptions, path string) error {
	in, size, err := openInput(path)
	if err != nil {
		return usageError{err}
	}
	defer in.Close()

	rt, err := node.New(cfg, g.stderr)
	if err != nil {
		return err
	}
	defer rt.Close()
	lctx, cancel := context.WithTimeout(ctx, cfg.Etcd.DialTimeout)
	reg, err := registrycopy.Load(lctx, rt.Etcd, cfg.EtcdRoot())
	cancel()
	if err != nil {
		return fmt.Errorf("read the registry: %w", err)
	}
	snap := schema.NewSnapshot(reg)

	var src publish.Reader
	if opts.format == "csv" {
		unit, _ := parseTimeUnit(opts.timeUnit) // checked by opts.check
		src, err = publish.NewCSVReader(in, snap, opts.entity, opts.group, unit)
		if err != nil {
			return usageError{err}
		}
	} else {
		src = publish.NewJSONLinesReader(in)
	}

	producer, err := newFeatureProducer(cfg.Kafka.Brokers, string(rt.Names.Features), rt.Sarama("ofs-publish"))
	if err != nil {
		return err
	}
	p := &publisher{
		topic:    string(rt.Names.Features),
		snap:     snap,
		validate: !opts.noValidate,
		dec:      events.NewDecoder(&blocks.Cache{}, events.Compress(false)),
		producer: producer,
		prog:     newProgress(g.stderr, size, opts.quiet),
	}
	interrupted := p.run(ctx, src)
	fmt.Fprintf(g.stdout, "sent=%d failed=%d\n", p.sent.Load(), p.failed.Load())
	switch {
	case p.closeErr != nil:
		return p.closeErr
	case p.failed.Load() > 0:
		return fmt.Errorf("%w: %d of %d failed", errPublishFailed, p.failed.Load(), p.sent.Load()+p.failed.Load())
	case interrupted:
		return fmt.Errorf("interrupted after line %d; the events read before were sent", p.lastLine)
	}
	return nil
}

// openInput opens path, or standard input for "-", and returns its size
// when it is a regular file (else -1).
func openInput(path string) (io.ReadCloser, int64, error) {
	if path == "-" {
		return io.NopCloser(os.Stdin), -1, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, err
	}
	size := int64(-1)
	if st, err := f.Stat(); err == nil && st.Mode().IsRegular() {
		size = st.Size()
	}
	return f, size, nil
}

// newFeatureProducer returns an idempotent, batching async producer that
// reports every success and error, after checking that topic exists.
func newFeatureProducer(brokers []string, topic string, cfg *sarama.Config) (sarama.AsyncProducer, error) {
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

// publisher validates items and hands them to the producer.
type publisher struct {
	topic    string
	snap     *schema.Snapshot
	validate bool
	dec      *events.Decoder
	buf      []byte
	producer sarama.AsyncProducer
	prog     *progress

	sent, failed atomic.Int64
	lastLine     int
	closeErr     error
}

// run publishes every item of src until its end or ctx, then flushes the
// producer. It reports whether ctx stopped it.
func (p *publisher) run(ctx context.Context, src publish.Reader) (interrupted bool) {
	items := make(chan publish.Item, 256)
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
				it = publish.Item{Line: it.Line, Err: err}
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
	stopCounts := p.prog.start(&p.sent, &p.failed)

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
			p.prog.read(it.Offset)
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
func (p *publisher) message(it publish.Item) (*sarama.ProducerMessage, error) {
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
		key = publish.GuessJSONKey(p.snap, it.Value)
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
func (p *publisher) collect(done chan<- struct{}) {
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

func (p *publisher) fail(line int, err error) {
	p.failed.Add(1)
	var ee *events.Error
	if errors.As(err, &ee) {
		p.prog.printf("line %d: %s: %s\n", line, ee.Code, ee.Reason)
		return
	}
	p.prog.printf("line %d: %v\n", line, err)
}
