package events

import (
	"strconv"
	"time"
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

// jv is a JSON value as scanned: a bool, a number's literal (and its value
// when the scan could read it exactly, see scanner.number), a string's contents
// (raw when it holds no escape; with the quotes when it does), or an array's
// elements (in the decoder's element buffer; arrays and objects nested in an
// array are kept by kind only). The fields are ordered to keep it small: a
// values object of 50 features is 50 of them.
type jv struct {
	raw   []byte
	f     float64 // a number's value, when exact
	first int32   // elements: d.elems[first : first+n]
	n     int32
	kind  jkind
	b     bool
	esc   bool
	exact bool
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
			var nv jv
			if err := s.str(&nv); err != nil {
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
		var v jv
		if err := s.str(&v); err != nil {
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
			err = s.word("null")
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
		var n jv
		if err := s.number(&n); err != nil {
			return 0, err
		}
		ev.versionRaw = n.raw
		return 32, nil
	case "event_time":
		if s.peek() == 'n' {
			err = s.word("null")
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
		ev.positional = append(ev.positional, jv{})
		if err := s.value(1, true, &ev.positional[len(ev.positional)-1]); err != nil {
			return err
		}
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
