package events

import (
	"encoding/json"
	"strings"
	"unicode/utf8"
)

// The JSON scanner: the grammar of RFC 8259, read in one pass over the
// message without copying (see json.go for the event it reads).

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
