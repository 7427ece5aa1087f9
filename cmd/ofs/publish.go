package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/IBM/sarama"
	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/ofstack/ofs/internal/blocks"
	"github.com/ofstack/ofs/internal/events"
	featurev1 "github.com/ofstack/ofs/proto/ofs/feature/v1"
	"github.com/ofstack/ofs/schema"
	"github.com/ofstack/ofs/topics"
	"github.com/ofstack/ofs/views/catalog"
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
			return publish(cmd.Context(), g, cfg, opts, args[0])
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

// publishItem is one event read from the input, or the reason its line
// cannot be one.
type publishItem struct {
	line        int
	value       []byte
	key         string // "" when the reader does not know it
	contentType string
	offset      int64 // input bytes consumed up to the end of this item
	err         error
}

// eventReader reads events one at a time; it returns io.EOF at the end. An
// item with err set is a bad line, and reading goes on after it.
type eventReader interface {
	next() (publishItem, error)
}

func publish(ctx context.Context, g *globals, cfg *Config, opts publishOptions, path string) error {
	in, size, err := openInput(path)
	if err != nil {
		return usageError{err}
	}
	defer in.Close()

	rt, err := newRuntime(cfg, g)
	if err != nil {
		return err
	}
	defer rt.Close()
	lctx, cancel := context.WithTimeout(ctx, cfg.Etcd.DialTimeout)
	reg, err := catalog.Load(lctx, rt.etcd, cfg.EtcdRoot())
	cancel()
	if err != nil {
		return fmt.Errorf("read the registry: %w", err)
	}
	snap := schema.NewSnapshot(reg)

	var src eventReader
	if opts.format == "csv" {
		unit, _ := parseTimeUnit(opts.timeUnit) // checked by opts.check
		src, err = newCSVReader(in, snap, opts.entity, opts.group, unit)
		if err != nil {
			return usageError{err}
		}
	} else {
		src = newJSONLinesReader(in, snap)
	}

	producer, err := newFeatureProducer(cfg.Kafka.Brokers, string(rt.names.Features), rt.sarama("ofs-publish"))
	if err != nil {
		return err
	}
	p := &publisher{
		topic:    string(rt.names.Features),
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
func (p *publisher) run(ctx context.Context, src eventReader) (interrupted bool) {
	items := make(chan publishItem, 256)
	readCtx, stopReading := context.WithCancel(ctx)
	defer stopReading()
	go func() {
		defer close(items)
		for {
			it, err := src.next()
			if errors.Is(err, io.EOF) {
				return
			}
			if err != nil {
				it = publishItem{line: it.line, err: err}
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
			p.lastLine = it.line
			p.prog.read(it.offset)
			if it.err != nil {
				p.fail(it.line, it.err)
				continue
			}
			msg, err := p.message(it)
			if err != nil {
				p.fail(it.line, err)
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
func (p *publisher) message(it publishItem) (*sarama.ProducerMessage, error) {
	now := time.Now()
	key := it.key
	row, buf, err := p.dec.Decode(p.snap, events.Message{Value: it.value, ContentType: it.contentType, Timestamp: now}, p.buf[:0])
	p.buf = buf[:0]
	switch {
	case err == nil:
		key = row.KafkaKey()
	case p.validate:
		return nil, err
	case key == "":
		key = guessJSONKey(p.snap, it.value)
	}
	msg := &sarama.ProducerMessage{
		Topic:     p.topic,
		Value:     sarama.ByteEncoder(it.value),
		Headers:   []sarama.RecordHeader{{Key: []byte(topics.HeaderContentType), Value: []byte(it.contentType)}},
		Timestamp: now,
		Metadata:  it.line,
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

// guessJSONKey makes the message key of an event that did not validate,
// from whatever of entity, feature_group and keys it has: key values in the
// entity's key-column order when the registry knows the entity, else by
// name. It returns "" when the line is not a JSON object with an entity.
func guessJSONKey(snap *schema.Snapshot, value []byte) string {
	var ev struct {
		Entity string                     `json:"entity"`
		Group  string                     `json:"feature_group"`
		Keys   map[string]json.RawMessage `json:"keys"`
	}
	if json.Unmarshal(value, &ev) != nil || ev.Entity == "" {
		return ""
	}
	var names []string
	if e, ok := snap.Entity(ev.Entity); ok {
		for _, k := range e.Keys {
			names = append(names, k.Name)
		}
	} else {
		for n := range ev.Keys {
			names = append(names, n)
		}
		sort.Strings(names)
	}
	vals := make([]string, len(names))
	for i, n := range names {
		raw := ev.Keys[n]
		var s string
		if json.Unmarshal(raw, &s) != nil {
			s = string(bytes.TrimSpace(raw))
		}
		vals[i] = s
	}
	return topics.FeatureKey(ev.Entity, ev.Group, vals...)
}

// jsonLinesReader reads one JSON event per line.
type jsonLinesReader struct {
	sc     *bufio.Scanner
	line   int
	offset int64
}

func newJSONLinesReader(r io.Reader, _ *schema.Snapshot) *jsonLinesReader {
	sc := bufio.NewScanner(r)
	// A line may be as long as the largest event, plus its newline.
	sc.Buffer(make([]byte, 0, 64<<10), events.DefaultMaxBytes+2)
	return &jsonLinesReader{sc: sc}
}

func (r *jsonLinesReader) next() (publishItem, error) {
	for r.sc.Scan() {
		r.line++
		b := r.sc.Bytes()
		r.offset += int64(len(b)) + 1
		b = bytes.TrimSpace(b)
		if len(b) == 0 {
			continue
		}
		return publishItem{line: r.line, value: bytes.Clone(b), contentType: topics.ContentTypeJSON, offset: r.offset}, nil
	}
	if err := r.sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			err = fmt.Errorf("a line is longer than the largest event (%d bytes)", events.DefaultMaxBytes)
		}
		return publishItem{line: r.line + 1}, err
	}
	return publishItem{}, io.EOF
}

// csvReader reads one event per CSV row.
type csvReader struct {
	r    *csv.Reader
	conv *csvConverter
}

func newCSVReader(in io.Reader, snap *schema.Snapshot, entity, group string, unit time.Duration) (*csvReader, error) {
	r := csv.NewReader(bufio.NewReaderSize(in, 64<<10))
	r.ReuseRecord = true
	r.FieldsPerRecord = 0 // every row as wide as the header
	header, err := r.Read()
	if err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errors.New("csv: the input is empty; it needs a header row")
		}
		return nil, fmt.Errorf("csv header: %w", err)
	}
	conv, err := newCSVConverter(snap, entity, group, header, unit)
	if err != nil {
		return nil, err
	}
	return &csvReader{r: r, conv: conv}, nil
}

func (c *csvReader) next() (publishItem, error) {
	rec, err := c.r.Read()
	if errors.Is(err, io.EOF) {
		return publishItem{}, io.EOF
	}
	line, _ := c.r.FieldPos(0)
	it := publishItem{line: line, offset: c.r.InputOffset(), contentType: topics.ContentTypeProtobuf}
	if err != nil {
		var pe *csv.ParseError
		if errors.As(err, &pe) && errors.Is(pe.Err, csv.ErrFieldCount) {
			it.line = pe.Line
			it.err = fmt.Errorf("the row has %d fields, the header %d", len(rec), len(c.conv.cols))
			return it, nil
		}
		return it, fmt.Errorf("csv: %w", err)
	}
	ev, keyValues, err := c.conv.convert(line, rec)
	if err != nil {
		it.err = err
		return it, nil
	}
	if it.value, err = proto.Marshal(ev); err != nil {
		it.err = err
		return it, nil
	}
	it.key = topics.FeatureKey(c.conv.entity.Name, c.conv.group.Name, keyValues...)
	return it, nil
}

// progress shows how far publishing got: a progress bar on a terminal, else
// a line of counts every countEvery. It serializes writes to stderr.
type progress struct {
	mu  sync.Mutex
	w   io.Writer
	bar *progressbar.ProgressBar // nil when counts are printed instead
	off int64
}

func newProgress(w io.Writer, size int64, quiet bool) *progress {
	p := &progress{w: w}
	if !quiet && isTerminal(w) {
		p.bar = progressbar.NewOptions64(size,
			progressbar.OptionSetWriter(w),
			progressbar.OptionShowBytes(true),
			progressbar.OptionSetDescription("publishing"),
			progressbar.OptionThrottle(100*time.Millisecond),
			progressbar.OptionSetWidth(30),
			progressbar.OptionClearOnFinish(),
		)
	}
	return p
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// start begins the periodic counts (or the bar's description updates); the
// returned function stops them and clears the bar.
func (p *progress) start(sent, failed *atomic.Int64) (stop func()) {
	done := make(chan struct{})
	finished := make(chan struct{})
	every := countEvery
	if p.bar != nil {
		every = 250 * time.Millisecond
	}
	go func() {
		defer close(finished)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				p.mu.Lock()
				if p.bar != nil {
					p.bar.Describe(fmt.Sprintf("sent %d, failed %d", sent.Load(), failed.Load()))
				} else {
					fmt.Fprintf(p.w, "ofs publish: sent %d, failed %d\n", sent.Load(), failed.Load())
				}
				p.mu.Unlock()
			}
		}
	}()
	return func() {
		close(done)
		<-finished
		p.mu.Lock()
		defer p.mu.Unlock()
		if p.bar != nil {
			_ = p.bar.Finish() // drawing on a terminal; nothing to do if it fails
		}
	}
}

// read records that the input was consumed up to offset.
func (p *progress) read(offset int64) {
	if p.bar == nil || offset <= p.off {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	_ = p.bar.Add64(offset - p.off) // drawing on a terminal; nothing to do if it fails
	p.off = offset
}

// printf writes a message above the bar.
func (p *progress) printf(format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.bar != nil {
		_ = p.bar.Clear() // drawing on a terminal; the message follows regardless
	}
	fmt.Fprintf(p.w, format, args...)
}

// csvError is a CSV cell that cannot be converted.
type csvError struct {
	line   int
	column int // 1-based
	name   string
	reason string
}

func (e *csvError) Error() string {
	return fmt.Sprintf("column %d (%s): %s", e.column, e.name, e.reason)
}

// csvColumn says what one CSV column holds.
type csvColumn struct {
	name    string
	key     int             // index of the key column, or -1
	feature *schema.Feature // nil for a key or event_time
}

// csvConverter turns CSV rows of one feature group into FeatureEvents, with
// each cell converted to the type of its feature.
type csvConverter struct {
	entity *schema.Entity
	group  *schema.FeatureGroup
	unit   time.Duration
	cols   []csvColumn
}

const csvEventTime = "event_time"

func newCSVConverter(snap *schema.Snapshot, entity, group string, header []string, unit time.Duration) (*csvConverter, error) {
	e, ok := snap.Entity(entity)
	if !ok {
		return nil, fmt.Errorf("entity %q is not in the registry (revision %d)", entity, snap.Revision())
	}
	g, ok := snap.FeatureGroup(group)
	if !ok {
		return nil, fmt.Errorf("feature group %q is not in the registry (revision %d)", group, snap.Revision())
	}
	if g.Entity != e.Name {
		return nil, fmt.Errorf("feature group %q belongs to entity %q, not %q", g.Name, g.Entity, e.Name)
	}
	c := &csvConverter{entity: e, group: g, unit: unit, cols: make([]csvColumn, len(header))}
	active := g.Active()
	seen := map[string]int{}
	for i, h := range header {
		name := strings.TrimSpace(h)
		if i == 0 {
			name = strings.TrimPrefix(name, "\uFEFF") // a byte order mark
		}
		if j, dup := seen[name]; dup {
			return nil, fmt.Errorf("csv header: column %d (%s) repeats column %d", i+1, name, j+1)
		}
		seen[name] = i
		col := csvColumn{name: name, key: -1}
		switch {
		case keyIndexOf(e, name) >= 0:
			col.key = keyIndexOf(e, name)
		case name == csvEventTime:
		default:
			f, ok := active.Feature(name)
			if !ok {
				return nil, fmt.Errorf("csv header: column %d (%s) is neither a key column of entity %q (%s), %s, nor a feature of %q version %d (%s)",
					i+1, name, e.Name, strings.Join(keyNamesOf(e), ", "), csvEventTime, g.Name, active.Number, strings.Join(featureNamesOf(active), ", "))
			}
			col.feature = f
		}
		c.cols[i] = col
	}
	for _, k := range e.Keys {
		if _, ok := seen[k.Name]; !ok {
			return nil, fmt.Errorf("csv header: no column for key %q of entity %q", k.Name, e.Name)
		}
	}
	return c, nil
}

func keyIndexOf(e *schema.Entity, name string) int {
	for i, k := range e.Keys {
		if k.Name == name {
			return i
		}
	}
	return -1
}

func keyNamesOf(e *schema.Entity) []string {
	out := make([]string, len(e.Keys))
	for i, k := range e.Keys {
		out[i] = k.Name
	}
	return out
}

func featureNamesOf(v *schema.Version) []string {
	out := make([]string, len(v.Features))
	for i := range v.Features {
		out[i] = v.Features[i].Name
	}
	return out
}

// convert turns one row into an event; it returns the key values in
// key-column order and canonical text. An error is a *csvError.
func (c *csvConverter) convert(line int, rec []string) (*featurev1.FeatureEvent, []string, error) {
	if len(rec) != len(c.cols) {
		return nil, nil, fmt.Errorf("the row has %d fields, the header %d", len(rec), len(c.cols))
	}
	ev := &featurev1.FeatureEvent{
		Entity: c.entity.Name, FeatureGroup: c.group.Name,
		Keys:   make(map[string]*featurev1.Value, len(c.entity.Keys)),
		Values: make(map[string]*featurev1.Value, len(rec)),
	}
	keyValues := make([]string, len(c.entity.Keys))
	for i, cell := range rec {
		col := &c.cols[i]
		fail := func(format string, args ...any) error {
			return &csvError{line: line, column: i + 1, name: col.name, reason: fmt.Sprintf(format, args...)}
		}
		switch {
		case col.key >= 0:
			k := c.entity.Keys[col.key]
			v, canon, why := csvKey(k.Type, cell)
			if why != "" {
				return nil, nil, fail("%s", why)
			}
			ev.Keys[k.Name] = v
			keyValues[col.key] = canon
		case col.feature == nil: // event_time
			if cell == "" {
				continue
			}
			t, why := c.eventTime(cell)
			if why != "" {
				return nil, nil, fail("%s", why)
			}
			ev.EventTime = timestamppb.New(t)
		default:
			if cell == "" {
				continue // the feature takes its default
			}
			v, why := csvValue(col.feature, cell)
			if why != "" {
				return nil, nil, fail("%s", why)
			}
			ev.Values[col.name] = v
		}
	}
	return ev, keyValues, nil
}

func (c *csvConverter) eventTime(cell string) (time.Time, string) {
	if t, err := time.Parse(time.RFC3339Nano, cell); err == nil {
		return t, ""
	}
	n, err := strconv.ParseInt(cell, 10, 64)
	if err != nil {
		return time.Time{}, fmt.Sprintf("%q is neither an RFC 3339 time nor an integer count of %v since the Unix epoch", clipCell(cell), c.unit)
	}
	if n > math.MaxInt64/int64(c.unit) || n < math.MinInt64/int64(c.unit) {
		return time.Time{}, fmt.Sprintf("%s %v since the Unix epoch is out of range", cell, c.unit)
	}
	return time.Unix(0, 0).Add(time.Duration(n) * c.unit).UTC(), ""
}

// csvKey converts a key cell: the protobuf value and the canonical text.
func csvKey(t schema.DataType, cell string) (*featurev1.Value, string, string) {
	if cell == "" {
		return nil, "", "the key is empty"
	}
	switch {
	case t == schema.String:
		if !utf8.ValidString(cell) {
			return nil, "", "the key is not valid UTF-8"
		}
		return &featurev1.Value{Kind: &featurev1.Value_StringValue{StringValue: cell}}, cell, ""
	case t.IsSigned():
		n, err := strconv.ParseInt(cell, 10, t.Size()*8)
		if err != nil {
			return nil, "", fmt.Sprintf("%q is not a %v key", clipCell(cell), t)
		}
		return &featurev1.Value{Kind: &featurev1.Value_Int64Value{Int64Value: n}}, strconv.FormatInt(n, 10), ""
	case t.IsUnsigned():
		n, err := strconv.ParseUint(cell, 10, t.Size()*8)
		if err != nil {
			return nil, "", fmt.Sprintf("%q is not a %v key", clipCell(cell), t)
		}
		return &featurev1.Value{Kind: &featurev1.Value_Uint64Value{Uint64Value: n}}, strconv.FormatUint(n, 10), ""
	}
	return nil, "", fmt.Sprintf("key type %v is not supported", t)
}

// csvValue converts a feature cell: a scalar in the text of its type, or a
// vector as a JSON array.
func csvValue(f *schema.Feature, cell string) (*featurev1.Value, string) {
	if !f.IsVector() {
		s, why := scalarOf(f.Type, cell)
		if why != "" {
			return nil, fmt.Sprintf("%s (feature %s is %s)", why, f.Name, f.Shape())
		}
		return s.proto(f.Type), ""
	}
	dec := json.NewDecoder(strings.NewReader(cell))
	dec.UseNumber()
	var elems []any
	if err := dec.Decode(&elems); err != nil || dec.More() {
		return nil, fmt.Sprintf("%q is not a JSON array (feature %s is %s, written like [1,2,3])", clipCell(cell), f.Name, f.Shape())
	}
	if len(elems) != f.VectorLength {
		return nil, fmt.Sprintf("the vector has %d elements, feature %s is %s", len(elems), f.Name, f.Shape())
	}
	list := newVectorOf(f.Type, len(elems))
	for i, e := range elems {
		var text string
		switch x := e.(type) {
		case json.Number:
			if f.Type == schema.String || f.Type == schema.Bool {
				return nil, fmt.Sprintf("element %d is a number, feature %s is %s", i, f.Name, f.Shape())
			}
			text = x.String()
		case string:
			if f.Type != schema.String {
				return nil, fmt.Sprintf("element %d is a string, feature %s is %s", i, f.Name, f.Shape())
			}
			text = x
		case bool:
			if f.Type != schema.Bool {
				return nil, fmt.Sprintf("element %d is a bool, feature %s is %s", i, f.Name, f.Shape())
			}
			text = strconv.FormatBool(x)
		default:
			return nil, fmt.Sprintf("element %d is %v, feature %s is %s", i, e, f.Name, f.Shape())
		}
		s, why := scalarOf(f.Type, text)
		if why != "" {
			return nil, fmt.Sprintf("element %d: %s (feature %s is %s)", i, why, f.Name, f.Shape())
		}
		list.add(s)
	}
	return list.proto(), ""
}

// scalar is one converted value, in the field its type uses.
type scalar struct {
	b bool
	i int64
	u uint64
	f float64
	s string
}

// scalarOf converts the text of one value of type t, with t's range.
func scalarOf(t schema.DataType, text string) (scalar, string) {
	switch {
	case t == schema.Bool:
		b, err := strconv.ParseBool(text)
		if err != nil {
			return scalar{}, fmt.Sprintf("%q is not a bool (true, false, 1 or 0)", clipCell(text))
		}
		return scalar{b: b}, ""
	case t == schema.String:
		if !utf8.ValidString(text) {
			return scalar{}, "the text is not valid UTF-8"
		}
		return scalar{s: text}, ""
	case t.IsSigned():
		n, err := strconv.ParseInt(text, 10, 64)
		if err != nil {
			return scalar{}, fmt.Sprintf("%q is not an integer", clipCell(text))
		}
		if _, err := schema.IntValue(n).ConvertTo(t); err != nil {
			return scalar{}, fmt.Sprintf("%d is out of the range of %v", n, t)
		}
		return scalar{i: n}, ""
	case t.IsUnsigned():
		n, err := strconv.ParseUint(text, 10, 64)
		if err != nil {
			return scalar{}, fmt.Sprintf("%q is not an unsigned integer", clipCell(text))
		}
		if _, err := schema.UintValue(n).ConvertTo(t); err != nil {
			return scalar{}, fmt.Sprintf("%d is out of the range of %v", n, t)
		}
		return scalar{u: n}, ""
	case t.IsFloat():
		x, err := strconv.ParseFloat(text, 64)
		if err != nil {
			return scalar{}, fmt.Sprintf("%q is not a number", clipCell(text))
		}
		if _, err := schema.FloatValue(x).ConvertTo(t); err != nil {
			return scalar{}, fmt.Sprintf("%s is out of the range of %v", text, t)
		}
		return scalar{f: x}, ""
	}
	return scalar{}, fmt.Sprintf("data type %v is not supported", t)
}

func (s scalar) proto(t schema.DataType) *featurev1.Value {
	switch {
	case t == schema.Bool:
		return &featurev1.Value{Kind: &featurev1.Value_BoolValue{BoolValue: s.b}}
	case t == schema.String:
		return &featurev1.Value{Kind: &featurev1.Value_StringValue{StringValue: s.s}}
	case t.IsSigned():
		return &featurev1.Value{Kind: &featurev1.Value_Int64Value{Int64Value: s.i}}
	case t.IsUnsigned():
		return &featurev1.Value{Kind: &featurev1.Value_Uint64Value{Uint64Value: s.u}}
	case t == schema.FP64:
		return &featurev1.Value{Kind: &featurev1.Value_DoubleValue{DoubleValue: s.f}}
	}
	return &featurev1.Value{Kind: &featurev1.Value_FloatValue{FloatValue: float32(s.f)}}
}

// vectorOf collects the elements of a vector in the list its type uses:
// FloatList for the floats of 32 bits and fewer.
type vectorOf struct {
	t  schema.DataType
	bs []bool
	is []int64
	us []uint64
	fs []float32
	ds []float64
	ss []string
}

func newVectorOf(t schema.DataType, n int) *vectorOf {
	v := &vectorOf{t: t}
	switch {
	case t == schema.Bool:
		v.bs = make([]bool, 0, n)
	case t == schema.String:
		v.ss = make([]string, 0, n)
	case t.IsSigned():
		v.is = make([]int64, 0, n)
	case t.IsUnsigned():
		v.us = make([]uint64, 0, n)
	case t == schema.FP64:
		v.ds = make([]float64, 0, n)
	default:
		v.fs = make([]float32, 0, n)
	}
	return v
}

func (v *vectorOf) add(s scalar) {
	switch {
	case v.t == schema.Bool:
		v.bs = append(v.bs, s.b)
	case v.t == schema.String:
		v.ss = append(v.ss, s.s)
	case v.t.IsSigned():
		v.is = append(v.is, s.i)
	case v.t.IsUnsigned():
		v.us = append(v.us, s.u)
	case v.t == schema.FP64:
		v.ds = append(v.ds, s.f)
	default:
		v.fs = append(v.fs, float32(s.f))
	}
}

func (v *vectorOf) proto() *featurev1.Value {
	switch {
	case v.t == schema.Bool:
		return &featurev1.Value{Kind: &featurev1.Value_BoolList{BoolList: &featurev1.BoolList{Values: v.bs}}}
	case v.t == schema.String:
		return &featurev1.Value{Kind: &featurev1.Value_StringList{StringList: &featurev1.StringList{Values: v.ss}}}
	case v.t.IsSigned():
		return &featurev1.Value{Kind: &featurev1.Value_Int64List{Int64List: &featurev1.Int64List{Values: v.is}}}
	case v.t.IsUnsigned():
		return &featurev1.Value{Kind: &featurev1.Value_Uint64List{Uint64List: &featurev1.Uint64List{Values: v.us}}}
	case v.t == schema.FP64:
		return &featurev1.Value{Kind: &featurev1.Value_DoubleList{DoubleList: &featurev1.DoubleList{Values: v.ds}}}
	}
	return &featurev1.Value{Kind: &featurev1.Value_FloatList{FloatList: &featurev1.FloatList{Values: v.fs}}}
}

// clipCell shortens a cell for a message.
func clipCell(s string) string {
	if len(s) <= 40 {
		return s
	}
	n := 37
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "..."
}
