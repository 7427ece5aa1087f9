package schema

import (
	"errors"
	"fmt"
	"strconv"
	"unicode/utf8"
)

// ErrKey is returned for entity key values that do not fit the entity.
var ErrKey = errors.New("schema: invalid entity key")

// MaxKeyBytes bounds a string key value. Ingest and the servers apply the
// same rule (CheckKeyValue), so that no key is readable that could never be
// written.
const MaxKeyBytes = 1024

// CheckKey checks that values are a key of e: one value per key column, in
// key-column order, each in the canonical text of its column's type
// (decimal integers without sign for positives or leading zeros, valid
// UTF-8 strings of 1 to MaxKeyBytes bytes). Canonical text makes equal keys equal strings, which the
// stores, caches and topics rely on.
func (e *Entity) CheckKey(values []string) error {
	if len(values) != len(e.Keys) {
		return fmt.Errorf("%w: entity %q has %d key columns, got %d values", ErrKey, e.Name, len(e.Keys), len(values))
	}
	for i, k := range e.Keys {
		if err := CheckKeyValue(k.Type, values[i]); err != nil {
			return fmt.Errorf("%w: entity %q key %q: %w", ErrKey, e.Name, k.Name, err)
		}
	}
	return nil
}

// CheckKeyValue checks that s is a key value of type t that can be written
// and asked for: its canonical text (CanonicalKeyValue), and for a string
// 1 to MaxKeyBytes bytes. Its errors quote at most a few dozen bytes of s.
func CheckKeyValue(t DataType, s string) error {
	if t == String {
		switch {
		case s == "":
			return errors.New("is empty")
		case len(s) > MaxKeyBytes:
			return fmt.Errorf("is %d bytes, more than %d", len(s), MaxKeyBytes)
		}
	}
	return CanonicalKeyValue(t, s)
}

// plainDecimal reports, without parsing it, that s is the canonical text
// of an integer of type t: a minus sign for a negative signed value only,
// digits without a leading zero, and too few of them to overflow the type
// (9 for 32 bits, 18 for int64, 19 for uint64). It says nothing of other
// text, which CanonicalKeyValue parses: the check of the keys of every
// Retrieve is mostly this.
func plainDecimal(t DataType, s string) bool {
	digits := s
	var most int
	switch t {
	case Int32, Int64:
		if len(s) > 1 && s[0] == '-' {
			digits = s[1:]
		}
		most = 9
		if t == Int64 {
			most = 18
		}
	case Uint32:
		most = 9
	case Uint64:
		most = 19
	default:
		return false
	}
	if len(digits) == 0 || len(digits) > most || digits[0] == '0' && (len(digits) > 1 || len(digits) < len(s)) {
		return false
	}
	for i := 0; i < len(digits); i++ {
		if digits[i] < '0' || digits[i] > '9' {
			return false
		}
	}
	return true
}

// CanonicalKeyValue checks that s is the canonical text of a key value of
// type t, which is what the stores need of a key (any length; CheckKeyValue
// is the rule of what is written and read).
func CanonicalKeyValue(t DataType, s string) error {
	if plainDecimal(t, s) {
		return nil
	}
	return canonicalByParsing(t, s)
}

// canonicalByParsing is CanonicalKeyValue by parsing s and formatting the
// value back, for what plainDecimal cannot tell.
func canonicalByParsing(t DataType, s string) error {
	// canon is written in a buffer of the stack: a check on every key of
	// every Retrieve must not allocate.
	var buf [24]byte
	var canon []byte
	var err error
	switch t {
	case String:
		if !utf8.ValidString(s) {
			return errors.New("is not valid UTF-8")
		}
		return nil
	case Int32, Int64:
		var n int64
		n, err = strconv.ParseInt(s, 10, t.Size()*8)
		canon = strconv.AppendInt(buf[:0], n, 10)
	case Uint32, Uint64:
		var n uint64
		n, err = strconv.ParseUint(s, 10, t.Size()*8)
		canon = strconv.AppendUint(buf[:0], n, 10)
	default:
		return fmt.Errorf("%s is not a key type", t)
	}
	if err != nil {
		var num *strconv.NumError
		if errors.As(err, &num) {
			err = num.Err
		}
		return fmt.Errorf("%q is not a %s: %w", clip(s), t, err)
	}
	if string(canon) != s {
		return fmt.Errorf("%q is not canonical (write %s)", clip(s), string(canon))
	}
	return nil
}
