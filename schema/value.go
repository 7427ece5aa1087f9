package schema

import (
	"fmt"
	"math"
	"strconv"
	"unicode/utf8"
)

// ValueKind is the Go representation a Value holds.
type ValueKind uint8

// The value kinds. KindNone is the zero Value: "not given", which as a default
// means the zero value of the feature's type.
const (
	KindNone ValueKind = iota
	KindBool
	KindInt
	KindUint
	KindFloat
	KindString
)

var kindNames = [...]string{"none", "bool", "int", "uint", "float", "string"}

func (k ValueKind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "kind(" + strconv.Itoa(int(k)) + ")"
}

// Value is one scalar value: a feature's default. It is small, immutable and
// comparable with ==, which compares floats by their bits (every NaN is held
// as the one canonical NaN, so a NaN equals itself).
//
// A Value given in a command may be of any kind that represents the value
// exactly in the feature's type; ConvertTo turns it into the canonical kind of
// the type, which is what the registry holds: KindBool for Bool, KindInt for
// signed integers, KindUint for unsigned integers, KindFloat for floats,
// KindString for String.
type Value struct {
	kind ValueKind
	bits uint64 // bool (0/1), int64, uint64, or float64 bits
	str  string
}

// canonicalNaN is the bit pattern every NaN is stored as.
var canonicalNaN = math.Float64bits(math.NaN())

// BoolValue returns a bool Value.
func BoolValue(b bool) Value {
	v := Value{kind: KindBool}
	if b {
		v.bits = 1
	}
	return v
}

// IntValue returns a signed integer Value.
func IntValue(i int64) Value { return Value{kind: KindInt, bits: uint64(i)} }

// UintValue returns an unsigned integer Value.
func UintValue(u uint64) Value { return Value{kind: KindUint, bits: u} }

// FloatValue returns a floating-point Value.
func FloatValue(f float64) Value {
	b := math.Float64bits(f)
	if f != f { // NaN
		b = canonicalNaN
	}
	return Value{kind: KindFloat, bits: b}
}

// StringValue returns a string Value.
func StringValue(s string) Value { return Value{kind: KindString, str: s} }

// ZeroValue returns the zero value of t in its canonical kind (false, 0, 0.0
// or ""), or the zero Value for an invalid type.
func ZeroValue(t DataType) Value {
	switch {
	case t == Bool:
		return BoolValue(false)
	case t.IsSigned():
		return IntValue(0)
	case t.IsUnsigned():
		return UintValue(0)
	case t.IsFloat():
		return FloatValue(0)
	case t == String:
		return StringValue("")
	}
	return Value{}
}

// Kind returns the representation v holds.
func (v Value) Kind() ValueKind { return v.kind }

// IsNone reports whether v is the zero Value (not given).
func (v Value) IsNone() bool { return v.kind == KindNone }

// Bool returns the value of a KindBool Value, else false.
func (v Value) Bool() bool { return v.kind == KindBool && v.bits != 0 }

// Int returns the value of a KindInt Value, else 0.
func (v Value) Int() int64 {
	if v.kind != KindInt {
		return 0
	}
	return int64(v.bits)
}

// Uint returns the value of a KindUint Value, else 0.
func (v Value) Uint() uint64 {
	if v.kind != KindUint {
		return 0
	}
	return v.bits
}

// Float returns the value of a KindFloat Value, else 0.
func (v Value) Float() float64 {
	if v.kind != KindFloat {
		return 0
	}
	return math.Float64frombits(v.bits)
}

// Str returns the value of a KindString Value, else "".
func (v Value) Str() string { return v.str }

// String formats v for messages: true, -3, 7, 0.5, NaN, "text", or none.
func (v Value) String() string {
	switch v.kind {
	case KindBool:
		return strconv.FormatBool(v.Bool())
	case KindInt:
		return strconv.FormatInt(v.Int(), 10)
	case KindUint:
		return strconv.FormatUint(v.bits, 10)
	case KindFloat:
		return strconv.FormatFloat(v.Float(), 'g', -1, 64)
	case KindString:
		if len(v.str) > 40 {
			return strconv.Quote(v.str[:37]) + "..."
		}
		return strconv.Quote(v.str)
	}
	return "none"
}

// Largest finite magnitudes of the float types.
const (
	maxFP8E4M3 = 448.0
	maxFP8E5M2 = 57344.0
	maxFP16    = 65504.0
)

// ConvertTo returns v in the canonical kind of t, or an error wrapping
// ErrInvalid when v is not representable in t: out of range (300 for Int8),
// not integral (1.5 for Int32), of another kind (a string for a number), an
// infinity for FP8E4M3, or a string that is not UTF-8 or longer than
// MaxStringDefault bytes. The zero Value converts to ZeroValue(t).
//
// Floats are range-checked against the largest finite value of t and kept
// as float64; rounding to the precision of t is the encoder's.
func (v Value) ConvertTo(t DataType) (Value, error) {
	c, why := v.convert(t)
	if why != "" {
		return Value{}, fmt.Errorf("%w: %s", ErrInvalid, why)
	}
	return c, nil
}

// convert is ConvertTo with the reason as a string, for messages.
func (v Value) convert(t DataType) (Value, string) {
	if !t.Valid() {
		return Value{}, fmt.Sprintf("data type %v is not defined", t)
	}
	if v.kind == KindNone {
		return ZeroValue(t), ""
	}
	mismatch := fmt.Sprintf("%s value %v cannot be a default of type %v", v.kind, v, t)
	switch {
	case t == Bool:
		if v.kind != KindBool {
			return Value{}, mismatch
		}
		return v, ""
	case t == String:
		if v.kind != KindString {
			return Value{}, mismatch
		}
		if !utf8.ValidString(v.str) {
			return Value{}, "string default is not valid UTF-8"
		}
		if len(v.str) > MaxStringDefault {
			return Value{}, fmt.Sprintf("string default is %d bytes, more than %d", len(v.str), MaxStringDefault)
		}
		return v, ""
	case t.IsSigned() || t.IsUnsigned():
		return v.convertInt(t, mismatch)
	case t.IsFloat():
		return v.convertFloat(t, mismatch)
	}
	return Value{}, mismatch
}

func (v Value) convertInt(t DataType, mismatch string) (Value, string) {
	lo, hi := t.IntRange()
	outOfRange := fmt.Sprintf("%v is out of the range of %v (%d to %d)", v, t, lo, hi)
	var (
		neg bool   // the value is negative
		mag uint64 // its magnitude as uint64, two's complement for negatives
	)
	switch v.kind {
	case KindInt:
		i := int64(v.bits)
		neg, mag = i < 0, uint64(i)
	case KindUint:
		mag = v.bits
	case KindFloat:
		f := v.Float()
		if math.IsNaN(f) || math.IsInf(f, 0) || f != math.Trunc(f) {
			return Value{}, fmt.Sprintf("%v is not an integer, as type %v needs", v, t)
		}
		switch {
		case f >= -(1<<63) && f < 0:
			neg, mag = true, uint64(int64(f))
		case f >= 0 && f < (1<<64):
			mag = uint64(f)
		default:
			return Value{}, outOfRange
		}
	default:
		return Value{}, mismatch
	}
	if t.IsUnsigned() {
		if neg || mag > hi {
			return Value{}, outOfRange
		}
		return UintValue(mag), ""
	}
	i := int64(mag)
	if (neg && i < lo) || (!neg && mag > hi) {
		return Value{}, outOfRange
	}
	return IntValue(i), ""
}

func (v Value) convertFloat(t DataType, mismatch string) (Value, string) {
	var f float64
	switch v.kind {
	case KindInt:
		f = float64(v.Int())
	case KindUint:
		f = float64(v.bits)
	case KindFloat:
		f = v.Float()
	default:
		return Value{}, mismatch
	}
	var limit float64
	switch t {
	case FP8E4M3:
		limit = maxFP8E4M3
		if math.IsInf(f, 0) {
			return Value{}, fmt.Sprintf("%v has no infinities", t)
		}
	case FP8E5M2:
		limit = maxFP8E5M2
	case FP16:
		limit = maxFP16
	case FP32:
		limit = math.MaxFloat32
	default:
		limit = math.MaxFloat64
	}
	if !math.IsInf(f, 0) && !math.IsNaN(f) && math.Abs(f) > limit {
		return Value{}, fmt.Sprintf("%v is out of the range of %v (largest finite value %v)", v, t, limit)
	}
	return FloatValue(f), ""
}

// canonicalKind is the kind the registry holds defaults of t in.
func canonicalKind(t DataType) ValueKind { return ZeroValue(t).kind }
