package events

import (
	"bytes"
	"encoding/json"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/ofstack/ofs/schema"
)

// The JSON form of an event (docs/kafka.md):
//
//	{"entity": "user", "keys": {"user_id": 42}, "feature_group": "user_profile",
//	 "event_time": "2026-11-25T10:00:00Z",
//	 "values": {"age": 31, "ctr": 0.12, "embedding": [0.1, 0.2], "country": "DE"}}
//
// Field names are exact; an unknown field, or one given twice, is an error.
// Numbers are read from their text, so an int64 keeps all its digits.
// event_time is an RFC 3339 time, or absent (or null) for the Kafka
// timestamp. A compact form replaces values with
//
//	"schema_version": 3, "positional_values": [31, 0.12, [0.1, 0.2], "DE"]
//
// The scanner below reads exactly the JSON grammar (RFC 8259) in one pass,
// keeping numbers and strings as slices of the message, so that a row of
// numbers costs no allocation per value. Strings must be valid UTF-8.

// jkind is the kind of a JSON value.
type jkind uint8

const (
	jNull jkind = iota
	jBool
	jNum
	jStr
	jArr
	jObj
)

// jv is a JSON value as scanned: a bool, a number's literal, a string's
// contents (raw when it holds no escape; with the quotes when it does), or
// an array's elements (in the decoder's element buffer; arrays and objects
// nested in an array are kept by kind only).
type jv struct {
	kind  jkind
	b     bool
	raw   []byte
	esc   bool
	first int // elements: d.elems[first : first+n]
	n     int
}

// jfield is one name: value of an object.
type jfield struct {
	name []byte
	v    jv
}

// jsonEvent is an event as read from JSON, before validation.
type jsonEvent struct {
	header
	keys       []jfield
	values     []jfield
	positional []jv
	timeRaw    []byte // event_time, read after the scan
	versionRaw []byte // schema_version, read after the scan
}

func badJSON(format string, args ...any) *Error { return reject(CodeBadJSON, format, args...) }

// maxDepth bounds the nesting of arrays and objects.
const maxDepth = 32

// scanner reads JSON from b.
type scanner struct {
	b     []byte
	i     int
	elems *[]jv // where array elements go
}

func (s *scanner) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

func (s *scanner) fail(what string) *Error {
	if s.i >= len(s.b) {
		return badJSON("the JSON ends early, %s", what)
	}
	return badJSON("not valid JSON at byte %d: %s, found %q", s.i, what, s.b[s.i])
}

// peek returns the next byte other than white space, or 0 at the end.
func (s *scanner) peek() byte {
	s.ws()
	if s.i < len(s.b) {
		return s.b[s.i]
	}
	return 0
}

// str scans a string; the scanner is at its opening quote.
func (s *scanner) str() (jv, *Error) {
	start := s.i
	s.i++
	esc := false
	for s.i < len(s.b) {
		c := s.b[s.i]
		switch {
		case c == '"':
			s.i++
			if esc {
				return jv{kind: jStr, raw: s.b[start:s.i], esc: true}, nil
			}
			return jv{kind: jStr, raw: s.b[start+1 : s.i-1]}, nil
		case c == '\\':
			esc = true
			if s.i+1 >= len(s.b) {
				s.i = len(s.b)
				return jv{}, s.fail("expected an escape")
			}
			switch s.b[s.i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				s.i += 2
			case 'u':
				if s.i+6 > len(s.b) {
					s.i = len(s.b)
					return jv{}, s.fail("expected four hex digits")
				}
				for _, h := range s.b[s.i+2 : s.i+6] {
					if !isHex(h) {
						s.i += 2
						return jv{}, s.fail("expected four hex digits after \\u")
					}
				}
				s.i += 6
			default:
				s.i++
				return jv{}, s.fail("expected an escape")
			}
		case c < 0x20:
			return jv{}, s.fail("expected no control character in a string")
		case c < utf8.RuneSelf:
			s.i++
		default:
			r, n := utf8.DecodeRune(s.b[s.i:])
			if r == utf8.RuneError && n == 1 {
				return jv{}, badJSON("a string holds bytes that are not UTF-8 at byte %d", s.i)
			}
			s.i += n
		}
	}
	return jv{}, s.fail("expected the string's closing quote")
}

func isHex(c byte) bool { return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' }

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// number scans a number literal.
func (s *scanner) number() (jv, *Error) {
	start := s.i
	if s.b[s.i] == '-' {
		s.i++
	}
	digits := func() bool {
		n := s.i
		for s.i < len(s.b) && isDigit(s.b[s.i]) {
			s.i++
		}
		return s.i > n
	}
	switch {
	case s.i < len(s.b) && s.b[s.i] == '0':
		s.i++
	case !digits():
		return jv{}, s.fail("expected a digit")
	}
	if s.i < len(s.b) && s.b[s.i] == '.' {
		s.i++
		if !digits() {
			return jv{}, s.fail("expected a digit after the decimal point")
		}
	}
	if s.i < len(s.b) && (s.b[s.i] == 'e' || s.b[s.i] == 'E') {
		s.i++
		if s.i < len(s.b) && (s.b[s.i] == '+' || s.b[s.i] == '-') {
			s.i++
		}
		if !digits() {
			return jv{}, s.fail("expected a digit in the exponent")
		}
	}
	return jv{kind: jNum, raw: s.b[start:s.i]}, nil
}

func (s *scanner) word(w string, v jv) (jv, *Error) {
	if !strings.HasPrefix(string(s.b[s.i:min(len(s.b), s.i+len(w))]), w) {
		return jv{}, s.fail("expected a value")
	}
	s.i += len(w)
	return v, nil
}

// value scans any value; arrays keep their elements when keep is set.
func (s *scanner) value(depth int, keep bool) (jv, *Error) {
	if depth > maxDepth {
		return jv{}, badJSON("values nested more than %d deep at byte %d", maxDepth, s.i)
	}
	switch c := s.peek(); {
	case c == '"':
		return s.str()
	case c == '-' || isDigit(c):
		return s.number()
	case c == '[':
		return s.array(depth, keep)
	case c == '{':
		s.i++
		if s.peek() == '}' {
			s.i++
			return jv{kind: jObj}, nil
		}
		for {
			if s.peek() != '"' {
				return jv{}, s.fail("expected a name in quotes")
			}
			if _, err := s.str(); err != nil {
				return jv{}, err
			}
			if s.peek() != ':' {
				return jv{}, s.fail("expected ':'")
			}
			s.i++
			if _, err := s.value(depth+1, false); err != nil {
				return jv{}, err
			}
			switch s.peek() {
			case ',':
				s.i++
			case '}':
				s.i++
				return jv{kind: jObj}, nil
			default:
				return jv{}, s.fail("expected ',' or '}'")
			}
		}
	case c == 't':
		return s.word("true", jv{kind: jBool, b: true})
	case c == 'f':
		return s.word("false", jv{kind: jBool})
	case c == 'n':
		return s.word("null", jv{kind: jNull})
	}
	return jv{}, s.fail("expected a value")
}

// array scans an array; the scanner is at '['. With keep, its elements go
// to the element buffer, contiguously: the values inside them are scanned
// without keep, so nothing else is appended meanwhile.
func (s *scanner) array(depth int, keep bool) (jv, *Error) {
	s.i++
	out := jv{kind: jArr, first: len(*s.elems)}
	if s.peek() == ']' {
		s.i++
		return out, nil
	}
	for {
		v, err := s.value(depth+1, false)
		if err != nil {
			return jv{}, err
		}
		if keep {
			*s.elems = append(*s.elems, v)
			out.n++
		}
		switch s.peek() {
		case ',':
			s.i++
		case ']':
			s.i++
			return out, nil
		default:
			return jv{}, s.fail("expected ',' or ']'")
		}
	}
}

// object scans an object of name: value into dst; null leaves it nil.
func (s *scanner) object(field string, dst []jfield) ([]jfield, *Error) {
	switch s.peek() {
	case 'n':
		_, err := s.word("null", jv{})
		return nil, err
	case '{':
	default:
		return nil, s.shape(field, "an object of name: value")
	}
	s.i++
	dst = dst[:0]
	if dst == nil {
		dst = make([]jfield, 0, 8) // non-nil: the field is present
	}
	if s.peek() == '}' {
		s.i++
		return dst, nil
	}
	for {
		if s.peek() != '"' {
			return nil, s.fail("expected a name in quotes")
		}
		name, err := s.str()
		if err != nil {
			return nil, err
		}
		if s.peek() != ':' {
			return nil, s.fail("expected ':'")
		}
		s.i++
		v, err := s.value(1, true)
		if err != nil {
			return nil, err
		}
		n := name.raw
		if name.esc {
			n = []byte(unquote(name))
		}
		dst = append(dst, jfield{name: n, v: v})
		switch s.peek() {
		case ',':
			s.i++
		case '}':
			s.i++
			return dst, nil
		default:
			return nil, s.fail("expected ',' or '}'")
		}
	}
}

// shape reports that field holds another kind of value than want (or that
// the JSON ends there).
func (s *scanner) shape(field, want string) *Error {
	if s.peek(); s.i >= len(s.b) {
		return s.fail("expected " + want)
	}
	return badJSON("field %q is %s; found %s", field, want, s.describeNext())
}

// describeNext names the kind of the next value, for messages.
func (s *scanner) describeNext() string {
	switch c := s.peek(); {
	case c == '"':
		return "a string"
	case c == '[':
		return "an array"
	case c == 't' || c == 'f':
		return "a bool"
	case c == '-' || isDigit(c):
		return "a number"
	case s.i >= len(s.b):
		return "the end of the JSON"
	}
	return "something else"
}

// unquote decodes a string value.
func unquote(v jv) string {
	if !v.esc {
		return string(v.raw)
	}
	var s string
	if err := json.Unmarshal(v.raw, &s); err != nil {
		return string(v.raw) // the scanner checked the escapes; not reached
	}
	return s
}

// parseJSON scans an event into ev, reusing its buffers; elements of arrays
// go to elems.
func parseJSON(b []byte, ev *jsonEvent, elems *[]jv) *Error {
	keys, values, positional := ev.keys, ev.values, ev.positional
	*ev = jsonEvent{keys: keys[:0], values: values[:0], positional: positional[:0]}
	*elems = (*elems)[:0]
	s := scanner{b: b, elems: elems}
	if s.peek() != '{' {
		return badJSON("an event is a JSON object; found %s", s.describeNext())
	}
	s.i++
	var seen uint8
	if s.peek() == '}' {
		s.i++
	} else {
		for {
			if s.peek() != '"' {
				return s.fail("expected a field name in quotes")
			}
			nv, err := s.str()
			if err != nil {
				return err
			}
			name := nv.raw
			if nv.esc {
				name = []byte(unquote(nv))
			}
			if s.peek() != ':' {
				return s.fail("expected ':'")
			}
			s.i++
			bit, err := ev.field(&s, name)
			if err != nil {
				return err
			}
			if seen&bit != 0 {
				return badJSON("field %q is given twice", string(name))
			}
			seen |= bit
			if c := s.peek(); c == ',' {
				s.i++
				continue
			} else if c == '}' {
				s.i++
				break
			}
			return s.fail("expected ',' or '}'")
		}
	}
	if s.ws(); s.i < len(s.b) {
		return badJSON("data after the event's closing brace at byte %d", s.i)
	}
	// What the JSON says is read once it is known to be JSON.
	if ev.versionRaw != nil {
		v, err := strconv.ParseUint(string(ev.versionRaw), 10, 32)
		if err != nil {
			return badJSON("schema_version %s is not a version number", clip(string(ev.versionRaw)))
		}
		ev.version = uint32(v)
	}
	if ev.timeSet {
		t, err := parseTime(string(ev.timeRaw))
		if err != nil {
			return err
		}
		ev.eventTime = t
	}
	return nil
}

// field scans the value of the event's field name and returns the field's
// bit, to find fields given twice.
func (ev *jsonEvent) field(s *scanner, nameBytes []byte) (uint8, *Error) {
	name := string(nameBytes) // for messages only; the switch below does not allocate
	str := func() ([]byte, *Error) {
		if s.peek() != '"' {
			return nil, s.shape(name, "a string")
		}
		v, err := s.str()
		if err != nil {
			return nil, err
		}
		if v.esc {
			return []byte(unquote(v)), nil
		}
		return v.raw, nil
	}
	var err *Error
	switch string(nameBytes) {
	case "entity":
		ev.entity, err = str()
		return 1, err
	case "feature_group":
		ev.group, err = str()
		return 2, err
	case "keys":
		ev.keys, err = s.object(name, ev.keys)
		if ev.keys == nil {
			ev.keys = []jfield{}
		}
		return 4, err
	case "values":
		ev.values, err = s.object(name, ev.values)
		ev.hasValues = ev.values != nil
		return 8, err
	case "positional_values":
		switch s.peek() {
		case 'n':
			_, err = s.word("null", jv{})
		case '[':
			err = ev.positionalValues(s)
		default:
			err = s.shape(name, "an array")
		}
		return 16, err
	case "schema_version":
		if c := s.peek(); c != '-' && !isDigit(c) {
			return 0, s.shape(name, "a number")
		}
		n, err := s.number()
		if err != nil {
			return 0, err
		}
		ev.versionRaw = n.raw
		return 32, nil
	case "event_time":
		if s.peek() == 'n' {
			_, err = s.word("null", jv{})
			return 64, err
		}
		t, err := str()
		if err != nil {
			return 0, err
		}
		ev.timeSet, ev.timeRaw = true, t
		return 64, nil
	}
	return 0, badJSON("unknown field %q (an event has entity, keys, feature_group, event_time, values, schema_version, positional_values)", clip(name))
}

// positionalValues scans the array of positional values: each kept in
// ev.positional, the elements of vectors among them in the element buffer.
func (ev *jsonEvent) positionalValues(s *scanner) *Error {
	s.i++
	ev.hasPositional = true
	ev.positional = ev.positional[:0]
	if s.peek() == ']' {
		s.i++
		return nil
	}
	for {
		v, err := s.value(1, true)
		if err != nil {
			return err
		}
		ev.positional = append(ev.positional, v)
		switch s.peek() {
		case ',':
			s.i++
		case ']':
			s.i++
			return nil
		default:
			return s.fail("expected ',' or ']'")
		}
	}
}

func parseTime(s string) (int64, *Error) {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return 0, reject(CodeBadEventTime, "event_time %q is not an RFC 3339 time like 2026-11-25T10:00:00Z", clip(s))
	}
	return micros(t.Unix(), int32(t.Nanosecond()))
}

// describe names the kind of a value for messages.
func describe(v jv) string {
	switch v.kind {
	case jNull:
		return "null"
	case jBool:
		return "a bool"
	case jNum:
		return "the number " + clip(string(v.raw))
	case jStr:
		return "a string"
	case jArr:
		return "an array"
	}
	return "an object"
}

// jsonKeys reads the key values into set, in key-column order.
func (d *Decoder) jsonKeys(e *schema.Entity, keys []jfield, set []string) *Error {
	for _, f := range keys {
		i, err := keyIndex(e, f.name, set)
		if err != nil {
			return err
		}
		col := e.Keys[i]
		var s string
		switch f.v.kind {
		case jStr:
			if col.Type == schema.String {
				s = unquote(f.v)
				err = checkKeyString(col.Name, s)
			} else {
				s, err = decimalKey(col, unquote(f.v))
			}
		case jNum:
			if col.Type == schema.String {
				return reject(CodeBadKey, "key %q is a string; got %s", col.Name, describe(f.v))
			}
			s, err = decimalKey(col, string(f.v.raw))
		default:
			return reject(CodeBadKey, "key %q is %v; got %s", col.Name, col.Type, describe(f.v))
		}
		if err != nil {
			return err
		}
		set[i] = s
	}
	return checkKeysComplete(e, set)
}

func (d *Decoder) jsonValues(t *target, g *schema.FeatureGroup, values []jfield) *Error {
	for _, f := range values {
		i, err := t.column(g, f.name)
		if err != nil {
			return err
		}
		if err := d.setJSON(t, i, f.v); err != nil {
			return err
		}
	}
	return nil
}

func (d *Decoder) jsonPositional(t *target, from *schema.Version, pos []int, values []jv) *Error {
	if len(values) != len(pos) {
		return reject(CodeWrongValueCount, "%d positional_values for version %d, which has %d features", len(values), from.Number, len(pos))
	}
	for k, v := range values {
		if i := pos[k]; i >= 0 {
			t.markSeen(i)
			if err := d.setJSON(t, i, v); err != nil {
				return err
			}
		}
	}
	return nil
}

// setJSON sets column i from a JSON value.
func (d *Decoder) setJSON(t *target, i int, v jv) *Error {
	c := &t.cols[i]
	switch v.kind {
	case jNull:
		return reject(CodeBadValue, "feature %q is null; leave a feature out to write its default", c.Name)
	case jBool:
		return t.setBool(i, v.b)
	case jStr:
		return t.setString(i, unquote(v))
	case jNum:
		if c.Len != 0 {
			return wrongType(c, "a number")
		}
		return d.setNumber(t, i, v.raw)
	case jArr:
		return d.setArray(t, i, d.elems[v.first:v.first+v.n])
	}
	return wrongType(c, describe(v))
}

// setNumber sets a scalar column from a JSON number's text: exactly for
// integer features.
func (d *Decoder) setNumber(t *target, i int, lit []byte) *Error {
	c := &t.cols[i]
	if isInt(c.Type) {
		x, err := parseIntNamed(c.Name, -1, lit)
		switch {
		case err != nil:
			return err
		case x.neg:
			return t.setInt(i, x.i)
		}
		return t.setUint(i, x.u)
	}
	if !c.Type.IsFloat() {
		return wrongType(c, "a number")
	}
	f, err := parseFloat(lit)
	if err != nil { // only a range error: the syntax was checked
		return reject(CodeOutOfRange, "feature %q: %s is out of the range of %v", c.Name, clip(string(lit)), c.Type)
	}
	return t.setFloat64(i, f)
}

// parseFloat parses a number literal without allocating.
func parseFloat(lit []byte) (float64, error) {
	return strconv.ParseFloat(string(lit), 64) // the conversion does not escape
}

// jsonInt is an integer read from JSON: i when neg, else u.
type jsonInt struct {
	neg bool
	i   int64
	u   uint64
}

// parseIntNamed reads an integer for feature name (element k, or -1 for a
// scalar) from a JSON number's text: an integer literal, or a literal such as
// 31.0 or 3e2 whose value is an integer that a float64 holds exactly.
func parseIntNamed(name string, k int, lit []byte) (jsonInt, *Error) {
	where := func() string {
		w := strconv.Quote(name)
		if k >= 0 {
			w += " element " + strconv.Itoa(k)
		}
		return w
	}
	if len(lit) == 0 {
		return jsonInt{}, reject(CodeBadValue, "feature %s: an empty number", where())
	}
	tooBig := func() *Error {
		return reject(CodeOutOfRange, "feature %s: %s does not fit a 64-bit integer", where(), clip(string(lit)))
	}
	if !bytes.ContainsAny(lit, ".eE") {
		if lit[0] == '-' {
			i, err := strconv.ParseInt(string(lit), 10, 64)
			if err != nil {
				return jsonInt{}, tooBig()
			}
			return jsonInt{neg: true, i: i}, nil
		}
		u, err := strconv.ParseUint(string(lit), 10, 64)
		if err != nil {
			return jsonInt{}, tooBig()
		}
		return jsonInt{u: u}, nil
	}
	f, err := strconv.ParseFloat(string(lit), 64)
	switch {
	case err != nil || math.IsInf(f, 0):
		return jsonInt{}, tooBig()
	case f != math.Trunc(f):
		return jsonInt{}, reject(CodeWrongType, "feature %s: %s is not an integer", where(), clip(string(lit)))
	case math.Abs(f) > 1<<53:
		return jsonInt{}, reject(CodeOutOfRange, "feature %s: %s is not exact as a float; write the integer's digits", where(), clip(string(lit)))
	case f < 0:
		return jsonInt{neg: true, i: int64(f)}, nil
	}
	return jsonInt{u: uint64(f)}, nil
}

// setArray sets a vector column from a JSON array's elements.
func (d *Decoder) setArray(t *target, i int, arr []jv) *Error {
	c := &t.cols[i]
	if c.Len == 0 {
		return wrongType(c, "an array")
	}
	if len(arr) != c.Len {
		return wrongLength(c, len(arr))
	}
	elemType := func(k int, v jv) *Error {
		return reject(CodeWrongType, "feature %q is %s; element %d is %s", c.Name, shape(c), k, describe(v))
	}
	switch {
	case c.Type == schema.Bool:
		d.bools = d.bools[:0]
		for k, v := range arr {
			if v.kind != jBool {
				return elemType(k, v)
			}
			d.bools = append(d.bools, v.b)
		}
		return t.setBools(i, d.bools)
	case c.Type == schema.String:
		d.strs = d.strs[:0]
		for k, v := range arr {
			if v.kind != jStr {
				return elemType(k, v)
			}
			d.strs = append(d.strs, unquote(v))
		}
		return t.setStrings(i, d.strs)
	case c.Type.IsFloat():
		d.f64 = d.f64[:0]
		for k, v := range arr {
			if v.kind != jNum {
				return elemType(k, v)
			}
			f, err := parseFloat(v.raw)
			if err != nil {
				return reject(CodeOutOfRange, "feature %q element %d: %s is out of the range of %v", c.Name, k, clip(string(v.raw)), c.Type)
			}
			d.f64 = append(d.f64, f)
		}
		return t.setFloat64s(i, d.f64)
	}
	// An integer type: signed values as int64, unsigned as uint64.
	signed := c.Type.IsSigned()
	d.i64, d.u64 = d.i64[:0], d.u64[:0]
	for k, v := range arr {
		if v.kind != jNum {
			return elemType(k, v)
		}
		x, err := parseIntNamed(c.Name, k, v.raw)
		if err != nil {
			return err
		}
		switch {
		case signed && x.neg:
			d.i64 = append(d.i64, x.i)
		case signed:
			if x.u > math.MaxInt64 {
				return checkUint(c, k, x.u)
			}
			d.i64 = append(d.i64, int64(x.u))
		case x.neg:
			return checkInt(c, k, x.i)
		default:
			d.u64 = append(d.u64, x.u)
		}
	}
	if signed {
		return t.setInt64s(i, d.i64, &d.f64)
	}
	return t.setUint64s(i, d.u64, &d.f64)
}
