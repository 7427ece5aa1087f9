// Package events decodes feature events (protobuf or JSON, see
// proto/ofs/feature/v1 and docs/kafka.md), validates them against a registry
// snapshot and encodes each as the PSDB block of its feature group's active
// version. The ingest processor uses it for every message of the features
// topic; the Persist API and `ofs publish` use it to check an event before
// they produce it.
//
// A rejected event gives an *Error: a stable Code and a reason that names
// the problem. Decode never panics, whatever the bytes (a fuzz test holds it
// to that).
package events

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/ofstack/ofs/codec"
	"github.com/ofstack/ofs/internal/blocks"
	"github.com/ofstack/ofs/schema"
	"github.com/ofstack/ofs/topics"
	"github.com/ofstack/ofs/views"
)

// Limits of an event.
const (
	// DefaultMaxBytes is the default largest event: the features topic's
	// message limit.
	DefaultMaxBytes = topics.MaxMessageBytes
	// DefaultMaxFuture is how far past the decoder's clock an event time may
	// be by default: more is a producer's clock or unit error, and would win
	// over every correct row of its key until then.
	DefaultMaxFuture = time.Hour
	// MaxKeyBytes bounds a string key value: schema.CheckKeyValue's rule.
	MaxKeyBytes = schema.MaxKeyBytes
	// maxEventTime is the last microsecond of year 9999.
	maxEventTime = 253402300799999999
)

// Message is what the decoder needs of a Kafka message.
type Message struct {
	// Value is the encoded event.
	Value []byte
	// ContentType is the content-type header, "" when there is none.
	ContentType string
	// Timestamp is the message's Kafka timestamp, the event time of an
	// event that carries none; zero when there is none.
	Timestamp time.Time
	// Key is the message key; with CheckKey it must be the event's key
	// (topics.FeatureKey).
	Key      string
	CheckKey bool
}

// Row is a valid event, encoded.
type Row struct {
	Entity *schema.Entity
	Group  *schema.FeatureGroup
	// Key is the entity key, values in key-column order and canonical text.
	Key views.Key
	// EventTime and Expiry are in microseconds since the Unix epoch; Expiry
	// is codec.NeverExpires when the group's TTL is 0.
	EventTime int64
	Expiry    int64
	// Block is the PSDB block of the group's active version; it is the tail
	// of the slice Decode returned.
	Block []byte
}

// KafkaKey returns the features-topic message key of the row.
func (r *Row) KafkaKey() string {
	return topics.FeatureKey(r.Entity.Name, r.Group.Name, r.Key.Values...)
}

// Option configures a Decoder.
type Option func(*Decoder)

// MaxBytes sets the largest event accepted (default DefaultMaxBytes).
func MaxBytes(n int) Option { return func(d *Decoder) { d.maxBytes = n } }

// MaxFuture sets how far past the clock an event time may be (default
// DefaultMaxFuture).
func MaxFuture(dur time.Duration) Option { return func(d *Decoder) { d.maxFuture = dur } }

// Clock sets the clock that event times are checked against (default
// time.Now).
func Clock(now func() time.Time) Option { return func(d *Decoder) { d.now = now } }

// Compress makes blocks zstd-compressed when that makes them smaller
// (codec.Builder.AppendCompressed); the default is on.
func Compress(on bool) Option { return func(d *Decoder) { d.compress = on } }

// Decoder decodes, validates and encodes events. It keeps a builder per
// feature group version and scratch buffers, so it is not safe for
// concurrent use: use one per goroutine.
type Decoder struct {
	layouts   *blocks.Cache
	maxBytes  int
	maxFuture time.Duration
	now       func() time.Time
	compress  bool

	targets    map[blocks.ID]*target
	positional map[positionalID][]int

	// The last names looked up, per snapshot: a stream of events of one
	// group resolves without a map lookup or an allocation.
	lastSnap   *schema.Snapshot
	lastEntity []byte
	ent        *schema.Entity
	lastGroup  []byte
	grp        *schema.FeatureGroup

	pe     protoEvent
	je     jsonEvent
	elems  []jv // elements of the JSON event's arrays
	keyBuf []byte
	f32    []float32
	f64    []float64
	i64    []int64
	u64    []uint64
	bools  []bool
	strs   []string
}

// target is what encoding a row of one version needs.
type target struct {
	layout  *codec.Layout
	builder *codec.Builder
	byName  map[string]int
	cols    []codec.Column
	seen    []uint64 // features set in the current event
}

type positionalID struct {
	group        uint32
	from, active uint32
}

// NewDecoder returns a decoder that takes layouts from cache, which may be
// shared with other decoders.
func NewDecoder(cache *blocks.Cache, opts ...Option) *Decoder {
	d := &Decoder{
		layouts:    cache,
		maxBytes:   DefaultMaxBytes,
		maxFuture:  DefaultMaxFuture,
		now:        time.Now,
		compress:   true,
		targets:    map[blocks.ID]*target{},
		positional: map[positionalID][]int{},
	}
	for _, o := range opts {
		o(d)
	}
	return d
}

// header is what an event says before its keys and values are read.
type header struct {
	entity, group []byte
	timeSet       bool
	eventTime     int64 // µs
	version       uint32
	hasValues     bool
	hasPositional bool
}

// Decode decodes m, validates it against snap and appends the block of its
// row to dst. It returns the row, whose Block is the appended tail, and the
// extended slice; on error, an *Error, and dst unchanged.
func (d *Decoder) Decode(snap *schema.Snapshot, m Message, dst []byte) (Row, []byte, error) {
	row, out, rej := d.decode(snap, m, dst)
	if rej != nil {
		return Row{}, dst, rej
	}
	return row, out, nil
}

func (d *Decoder) decode(snap *schema.Snapshot, m Message, dst []byte) (Row, []byte, *Error) {
	switch {
	case len(m.Value) == 0:
		return Row{}, nil, reject(CodeEmpty, "the message has no value (a tombstone or an empty event); ofs never deletes rows through the features topic")
	case len(m.Value) > d.maxBytes:
		return Row{}, nil, reject(CodeOversize, "the event is %d bytes, more than the limit of %d", len(m.Value), d.maxBytes)
	}
	format, rej := detectFormat(m.ContentType, m.Value)
	if rej != nil {
		return Row{}, nil, rej
	}
	var h header
	je := &d.je
	if format == FormatJSON {
		rej = parseJSON(m.Value, je, &d.elems)
		if rej == nil {
			h = je.header
		}
	} else {
		rej = scanProto(m.Value, &h, &d.pe)
	}
	if rej != nil {
		return Row{}, nil, rej
	}

	ent, grp, rej := d.resolve(snap, &h)
	if rej != nil {
		return Row{}, nil, rej
	}
	eventTime, rej := d.eventTime(&h, m.Timestamp)
	if rej != nil {
		return Row{}, nil, rej
	}

	row := Row{Entity: ent, Group: grp, EventTime: eventTime, Expiry: codec.NeverExpires}
	row.Key = views.Key{Entity: ent.Name, Values: make([]string, len(ent.Keys))}
	if format == FormatJSON {
		rej = d.jsonKeys(ent, je.keys, row.Key.Values)
	} else {
		rej = d.protoKeys(ent, d.pe.keys, row.Key.Values)
	}
	if rej != nil {
		return Row{}, nil, rej
	}
	if m.CheckKey {
		d.keyBuf = topics.AppendFeatureKey(d.keyBuf[:0], ent.Name, grp.Name, row.Key.Values)
		if string(d.keyBuf) != m.Key {
			return Row{}, nil, reject(CodeKeyMismatch, "the message key %q is not the event's key %q (entity/feature group/key values)",
				clip(m.Key), clip(string(d.keyBuf)))
		}
	}

	t, rej := d.target(grp, grp.Active())
	if rej != nil {
		return Row{}, nil, rej
	}
	t.builder.Reset()
	clear(t.seen)
	switch {
	case h.hasValues && h.hasPositional:
		return Row{}, nil, reject(CodeMixedValues, "the event carries both values and positional_values; use one")
	case h.hasPositional:
		from, ok := grp.Version(h.version)
		if !ok {
			if h.version == 0 {
				return Row{}, nil, reject(CodeUnknownVersion, "positional_values need a schema_version")
			}
			return Row{}, nil, reject(CodeUnknownVersion, "feature group %q has no version %d (its versions are 1 to %d)",
				grp.Name, h.version, len(grp.Versions))
		}
		pos := d.positionalMap(grp, from)
		if format == FormatJSON {
			rej = d.jsonPositional(t, from, pos, je.positional)
		} else {
			rej = d.protoPositional(t, from, pos, d.pe.positional)
		}
	case h.hasValues:
		if format == FormatJSON {
			rej = d.jsonValues(t, grp, je.values)
		} else {
			rej = d.protoValues(t, grp, d.pe.values)
		}
	}
	if rej != nil {
		return Row{}, nil, rej
	}

	if grp.TTL > 0 {
		row.Expiry = eventTime + grp.TTL.Microseconds()
	}
	start := len(dst)
	var out []byte
	var berr error
	if d.compress {
		out, berr = t.builder.AppendCompressed(dst, eventTime, row.Expiry)
	} else {
		out, berr = t.builder.Append(dst, eventTime, row.Expiry)
	}
	if berr != nil {
		return Row{}, nil, builderError(berr)
	}
	row.Block = out[start:]
	return row, out, nil
}

// resolve finds the entity and the live feature group the event names.
func (d *Decoder) resolve(snap *schema.Snapshot, h *header) (*schema.Entity, *schema.FeatureGroup, *Error) {
	if snap != d.lastSnap {
		d.lastSnap, d.ent, d.grp = snap, nil, nil
	}
	if d.ent == nil || !bytes.Equal(h.entity, d.lastEntity) {
		if len(h.entity) == 0 {
			return nil, nil, reject(CodeUnknownEntity, "the event names no entity")
		}
		e, ok := snap.Entity(string(h.entity))
		if !ok {
			return nil, nil, reject(CodeUnknownEntity, "entity %q is not in the registry (revision %d)", clip(string(h.entity)), snap.Revision())
		}
		d.ent, d.lastEntity = e, append(d.lastEntity[:0], h.entity...)
	}
	if d.grp == nil || !bytes.Equal(h.group, d.lastGroup) {
		if len(h.group) == 0 {
			return nil, nil, reject(CodeUnknownGroup, "the event names no feature group")
		}
		g, ok := snap.FeatureGroup(string(h.group))
		if !ok {
			return nil, nil, reject(CodeUnknownGroup, "feature group %q is not in the registry (revision %d)", clip(string(h.group)), snap.Revision())
		}
		d.grp, d.lastGroup = g, append(d.lastGroup[:0], h.group...)
	}
	if d.grp.Entity != d.ent.Name {
		return nil, nil, reject(CodeWrongEntity, "feature group %q belongs to entity %q, not %q", d.grp.Name, d.grp.Entity, d.ent.Name)
	}
	return d.ent, d.grp, nil
}

// eventTime returns the event time in µs: the event's own, else the
// message's timestamp.
func (d *Decoder) eventTime(h *header, ts time.Time) (int64, *Error) {
	t := h.eventTime
	if !h.timeSet {
		if ts.IsZero() || ts.UnixMicro() <= 0 {
			return 0, reject(CodeMissingEventTime, "the event has no event_time and the message no timestamp")
		}
		t = ts.UnixMicro()
	}
	if t <= 0 {
		return 0, reject(CodeBadEventTime, "event time %s is not after 1970-01-01T00:00:00Z", fmtMicros(t))
	}
	if limit := d.now().Add(d.maxFuture).UnixMicro(); t > limit {
		return 0, reject(CodeBadEventTime, "event time %s is more than %v ahead of the ingest clock (%s)",
			fmtMicros(t), d.maxFuture, d.now().UTC().Format(time.RFC3339))
	}
	return t, nil
}

// micros converts a protobuf Timestamp to µs, or reports it out of range.
func micros(sec int64, nanos int32) (int64, *Error) {
	if nanos < 0 || nanos >= 1e9 {
		return 0, reject(CodeBadEventTime, "event_time has %d nanoseconds, outside [0, 1e9)", nanos)
	}
	if sec < 0 || sec > maxEventTime/1_000_000 {
		return 0, reject(CodeBadEventTime, "event_time of %d seconds is not between 1970 and 9999", sec)
	}
	return sec*1e6 + int64(nanos)/1e3, nil
}

func fmtMicros(t int64) string {
	if t < -maxEventTime || t > maxEventTime {
		return strconv.FormatInt(t, 10) + "µs"
	}
	return time.UnixMicro(t).UTC().Format(time.RFC3339Nano)
}

// target returns the encoding state of version v of group g.
func (d *Decoder) target(g *schema.FeatureGroup, v *schema.Version) (*target, *Error) {
	id := blocks.ID{Group: g.ID, Version: v.Number}
	if t, ok := d.targets[id]; ok {
		return t, nil
	}
	l, err := d.layouts.Layout(g.ID, v)
	if err != nil {
		// The registry holds only versions whose defaults fit their types,
		// so this is a registry that ofs did not write: name it.
		return nil, reject(CodeUnknownVersion, "feature group %q version %d has no usable layout: %v", g.Name, v.Number, err)
	}
	t := &target{layout: l, builder: codec.NewBuilder(l), byName: make(map[string]int, l.Len()),
		cols: make([]codec.Column, l.Len()), seen: make([]uint64, (l.Len()+63)/64)}
	for i := range l.Len() {
		t.cols[i] = l.Column(i)
		t.byName[t.cols[i].Name] = i
	}
	d.targets[id] = t
	return t, nil
}

// positionalMap maps the features of version from onto the columns of g's
// active version by name: -1 for a feature the active version lacks.
func (d *Decoder) positionalMap(g *schema.FeatureGroup, from *schema.Version) []int {
	active := g.Active()
	id := positionalID{g.ID, from.Number, active.Number}
	if m, ok := d.positional[id]; ok {
		return m
	}
	m := make([]int, len(from.Features))
	for i := range from.Features {
		j, ok := active.Index(from.Features[i].Name)
		if !ok {
			j = -1
		}
		m[i] = j
	}
	d.positional[id] = m
	return m
}

// markSeen records column i as set, or reports it set already.
func (t *target) markSeen(i int) bool {
	w, b := i/64, uint64(1)<<(i%64)
	if t.seen[w]&b != 0 {
		return false
	}
	t.seen[w] |= b
	return true
}

// column finds the feature named name in the active version.
func (t *target) column(g *schema.FeatureGroup, name []byte) (int, *Error) {
	i, ok := t.byName[string(name)]
	if !ok {
		return 0, reject(CodeUnknownFeature, "feature group %q (version %d) has no feature %q",
			g.Name, t.layout.Version(), clip(string(name)))
	}
	if !t.markSeen(i) {
		return 0, reject(CodeDuplicateFeature, "feature %q is given twice", t.cols[i].Name)
	}
	return i, nil
}

// checkKeyString checks a string key value by schema.CheckKeyValue, the
// rule the servers apply to the keys they are asked for.
func checkKeyString(col string, s string) *Error {
	if err := schema.CheckKeyValue(schema.String, s); err != nil {
		return reject(CodeBadKey, "key %q %v", col, err)
	}
	return nil
}

// keyIndex returns the position of key column name in e, or an error.
func keyIndex(e *schema.Entity, name []byte, set []string) (int, *Error) {
	for i := range e.Keys {
		if e.Keys[i].Name == string(name) {
			if set[i] != "" {
				return 0, reject(CodeBadKey, "key %q is given twice", e.Keys[i].Name)
			}
			return i, nil
		}
	}
	return 0, reject(CodeExtraKey, "%q is not a key column of entity %q (its keys: %s)", clip(string(name)), e.Name, keyNames(e))
}

// checkKeysComplete reports the first key column without a value.
func checkKeysComplete(e *schema.Entity, set []string) *Error {
	for i, v := range set {
		if v == "" {
			return reject(CodeMissingKey, "key %q of entity %q has no value (its keys: %s)", e.Keys[i].Name, e.Name, keyNames(e))
		}
	}
	return nil
}

func keyNames(e *schema.Entity) string {
	var b bytes.Buffer
	for i, k := range e.Keys {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s %v", k.Name, k.Type)
	}
	return b.String()
}

// builderError maps an error the builder found, which the checks before it
// should have caught, to a rejection.
func builderError(err error) *Error {
	code := CodeBadValue
	switch {
	case errors.Is(err, codec.ErrRange):
		code = CodeOutOfRange
	case errors.Is(err, codec.ErrLength):
		code = CodeWrongLength
	case errors.Is(err, codec.ErrType):
		code = CodeWrongType
	case errors.Is(err, codec.ErrTooLarge):
		code = CodeOversize
	}
	return reject(code, "%v", err)
}

// clip shortens s for a message and makes it printable.
func clip(s string) string { return schema.Clip(s, 80) }
