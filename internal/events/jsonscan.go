package events

import (
	"encoding/json"
	"slices"
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
	b, i := s.b, s.i
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	s.i = i
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

// plain marks the bytes a string holds as they are: printable ASCII other
// than the quote and the backslash.
var plain = func() (t [256]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// str scans a string into v; the scanner is at its opening quote. The
// scanning functions write their value through a pointer: returned, the
// value would be copied at every level of a 50-feature object.
func (s *scanner) str(v *jv) *Error {
	start := s.i
	s.i++
	esc := false
	for s.i < len(s.b) {
		// Names and most values are plain ASCII: skip it in a tight loop.
		b, i := s.b, s.i // locals: the loop keeps them in registers
		for i < len(b) && plain[b[i]] {
			i++
		}
		s.i = i
		if s.i == len(s.b) {
			break
		}
		c := s.b[s.i]
		switch {
		case c == '"':
			s.i++
			if esc {
				*v = jv{kind: jStr, raw: s.b[start:s.i], esc: true}
			} else {
				*v = jv{kind: jStr, raw: s.b[start+1 : s.i-1]}
			}
			return nil
		case c == '\\':
			esc = true
			if s.i+1 >= len(s.b) {
				s.i = len(s.b)
				return s.fail("expected an escape")
			}
			switch s.b[s.i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				s.i += 2
			case 'u':
				if s.i+6 > len(s.b) {
					s.i = len(s.b)
					return s.fail("expected four hex digits")
				}
				for _, h := range s.b[s.i+2 : s.i+6] {
					if !isHex(h) {
						s.i += 2
						return s.fail("expected four hex digits after \\u")
					}
				}
				s.i += 6
			default:
				s.i++
				return s.fail("expected an escape")
			}
		case c < 0x20:
			return s.fail("expected no control character in a string")
		default:
			r, n := utf8.DecodeRune(s.b[s.i:])
			if r == utf8.RuneError && n == 1 {
				return badJSON("a string holds bytes that are not UTF-8 at byte %d", s.i)
			}
			s.i += n
		}
	}
	return s.fail("expected the string's closing quote")
}

func isHex(c byte) bool { return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' }

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// pow10 holds the powers of ten up to the largest number() divides by.
var pow10 = [...]float64{1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10,
	1e11, 1e12, 1e13, 1e14, 1e15}

// number scans a number literal into v. The common literal
// [-]digits[.digits] of at most 15 digits is also read as it is scanned:
// its digits as an integer and its power of ten are both exact in a
// float64, so one division rounds correctly and gives what
// strconv.ParseFloat gives (FuzzParseFloat holds it bit for bit). A float
// feature so never reads its digits twice.
func (s *scanner) number(v *jv) *Error {
	start := s.i
	neg := s.b[s.i] == '-'
	if neg {
		s.i++
	}
	var m uint64
	n, frac := 0, 0
	digits := func() int {
		b, i := s.b, s.i
		for i < len(b) && isDigit(b[i]) {
			m = m*10 + uint64(b[i]-'0')
			i++
		}
		k := i - s.i
		s.i = i
		return k
	}
	switch {
	case s.i < len(s.b) && s.b[s.i] == '0':
		s.i++
		n = 1
	default:
		if n = digits(); n == 0 {
			return s.fail("expected a digit")
		}
	}
	if s.i < len(s.b) && s.b[s.i] == '.' {
		s.i++
		if frac = digits(); frac == 0 {
			return s.fail("expected a digit after the decimal point")
		}
		n += frac
	}
	if s.i < len(s.b) && (s.b[s.i] == 'e' || s.b[s.i] == 'E') {
		s.i++
		if s.i < len(s.b) && (s.b[s.i] == '+' || s.b[s.i] == '-') {
			s.i++
		}
		if digits() == 0 {
			return s.fail("expected a digit in the exponent")
		}
		*v = jv{kind: jNum, raw: s.b[start:s.i]}
		return nil
	}
	*v = jv{kind: jNum, raw: s.b[start:s.i]}
	if n <= 15 {
		v.f, v.exact = float64(m)/pow10[frac], true
		if neg {
			v.f = -v.f
		}
	}
	return nil
}

// word scans the literal w: true, false or null.
func (s *scanner) word(w string) *Error {
	if !strings.HasPrefix(string(s.b[s.i:min(len(s.b), s.i+len(w))]), w) {
		return s.fail("expected a value")
	}
	s.i += len(w)
	return nil
}

// value scans any value into v; arrays keep their elements when keep is
// set.
func (s *scanner) value(depth int, keep bool, v *jv) *Error {
	if depth > maxDepth {
		return badJSON("values nested more than %d deep at byte %d", maxDepth, s.i)
	}
	switch c := s.peek(); {
	case c == '"':
		return s.str(v)
	case c == '-' || isDigit(c):
		return s.number(v)
	case c == '[':
		return s.array(depth, keep, v)
	case c == '{':
		s.i++
		*v = jv{kind: jObj}
		if s.peek() == '}' {
			s.i++
			return nil
		}
		var inner jv
		for {
			if s.peek() != '"' {
				return s.fail("expected a name in quotes")
			}
			if err := s.str(&inner); err != nil {
				return err
			}
			if s.peek() != ':' {
				return s.fail("expected ':'")
			}
			s.i++
			if err := s.value(depth+1, false, &inner); err != nil {
				return err
			}
			switch s.peek() {
			case ',':
				s.i++
			case '}':
				s.i++
				return nil
			default:
				return s.fail("expected ',' or '}'")
			}
		}
	case c == 't':
		*v = jv{kind: jBool, b: true}
		return s.word("true")
	case c == 'f':
		*v = jv{kind: jBool}
		return s.word("false")
	case c == 'n':
		*v = jv{kind: jNull}
		return s.word("null")
	}
	return s.fail("expected a value")
}

// array scans an array into v; the scanner is at '['. With keep, its
// elements go to the element buffer, contiguously: the values inside them
// are scanned without keep, so nothing else is appended meanwhile.
func (s *scanner) array(depth int, keep bool, v *jv) *Error {
	s.i++
	*v = jv{kind: jArr, first: int32(len(*s.elems))}
	if s.peek() == ']' {
		s.i++
		return nil
	}
	var elem jv
	for {
		if err := s.value(depth+1, false, &elem); err != nil {
			return err
		}
		if keep {
			*s.elems = append(*s.elems, elem)
			v.n++
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

// object scans an object of name: value into dst; null leaves it nil.
func (s *scanner) object(field string, dst []jfield) ([]jfield, *Error) {
	switch s.peek() {
	case 'n':
		return nil, s.word("null")
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
	var name jv
	for {
		if s.peek() != '"' {
			return nil, s.fail("expected a name in quotes")
		}
		if err := s.str(&name); err != nil {
			return nil, err
		}
		if s.peek() != ':' {
			return nil, s.fail("expected ':'")
		}
		s.i++
		n := name.raw
		if name.esc {
			n = []byte(unquote(name))
		}
		// Grown in place: append would build and copy a whole jfield, and
		// value writes all of f.v.
		dst = slices.Grow(dst, 1)[:len(dst)+1]
		f := &dst[len(dst)-1]
		f.name = n
		if err := s.value(1, true, &f.v); err != nil {
			return nil, err
		}
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
