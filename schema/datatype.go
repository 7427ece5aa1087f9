package schema

import (
	"fmt"
	"math"
	"strings"
)

// DataType is the scalar type of a feature's values. A feature is either one
// value of its DataType or a fixed-length vector of them.
//
// The numbers are part of the registry's persisted state and of the wire
// format of the registry commands: never renumber, only append.
type DataType uint8

// The data types. Invalid is the zero value so that a forgotten field is caught.
const (
	Invalid DataType = 0
	Bool    DataType = 1
	Int8    DataType = 2
	Int16   DataType = 3
	Int32   DataType = 4
	Int64   DataType = 5
	Uint8   DataType = 6
	Uint16  DataType = 7
	Uint32  DataType = 8
	Uint64  DataType = 9
	FP8E4M3 DataType = 10 // 8-bit float, 4 exponent and 3 mantissa bits, no infinities (OCP FP8)
	FP8E5M2 DataType = 11 // 8-bit float, 5 exponent and 2 mantissa bits, IEEE-like (OCP FP8)
	FP16    DataType = 12 // IEEE 754 binary16
	FP32    DataType = 13 // IEEE 754 binary32
	FP64    DataType = 14 // IEEE 754 binary64
	String  DataType = 15 // UTF-8 text, length-prefixed in blocks
)

// maxDataType is the highest defined DataType.
const maxDataType = String

var typeNames = [...]string{
	Invalid: "invalid",
	Bool:    "bool",
	Int8:    "int8",
	Int16:   "int16",
	Int32:   "int32",
	Int64:   "int64",
	Uint8:   "uint8",
	Uint16:  "uint16",
	Uint32:  "uint32",
	Uint64:  "uint64",
	FP8E4M3: "fp8e4m3",
	FP8E5M2: "fp8e5m2",
	FP16:    "fp16",
	FP32:    "fp32",
	FP64:    "fp64",
	String:  "string",
}

// typeAliases are the other spellings ParseDataType accepts.
var typeAliases = map[string]DataType{
	"boolean": Bool,
	"float16": FP16, "half": FP16,
	"float32": FP32, "float": FP32,
	"float64": FP64, "double": FP64,
	"fp8_e4m3": FP8E4M3, "e4m3": FP8E4M3,
	"fp8_e5m2": FP8E5M2, "e5m2": FP8E5M2,
	"str": String, "bytes": String,
}

// DataTypes lists every valid data type in numeric order.
func DataTypes() []DataType {
	out := make([]DataType, 0, int(maxDataType))
	for t := Bool; t <= maxDataType; t++ {
		out = append(out, t)
	}
	return out
}

// Valid reports whether t is one of the defined data types.
func (t DataType) Valid() bool { return t > Invalid && t <= maxDataType }

// String returns the canonical lower-case name, as written in registry files.
func (t DataType) String() string {
	if int(t) < len(typeNames) {
		return typeNames[t]
	}
	return fmt.Sprintf("datatype(%d)", uint8(t))
}

// Size is the number of bytes one value occupies in a block. It is 0 for Bool,
// which is bit-packed, and for String, whose length varies.
func (t DataType) Size() int {
	switch t {
	case Int8, Uint8, FP8E4M3, FP8E5M2:
		return 1
	case Int16, Uint16, FP16:
		return 2
	case Int32, Uint32, FP32:
		return 4
	case Int64, Uint64, FP64:
		return 8
	default:
		return 0
	}
}

// IsFloat reports whether t is a floating-point type.
func (t DataType) IsFloat() bool { return t >= FP8E4M3 && t <= FP64 }

// IsSigned reports whether t is a signed integer type.
func (t DataType) IsSigned() bool { return t >= Int8 && t <= Int64 }

// IsUnsigned reports whether t is an unsigned integer type.
func (t DataType) IsUnsigned() bool { return t >= Uint8 && t <= Uint64 }

// IntRange returns the smallest and largest value of an integer type, the
// smallest as an int64 and the largest as a uint64 so that both fit; (0, 0)
// for the other types.
func (t DataType) IntRange() (lo int64, hi uint64) {
	switch t {
	case Int8:
		return math.MinInt8, math.MaxInt8
	case Int16:
		return math.MinInt16, math.MaxInt16
	case Int32:
		return math.MinInt32, math.MaxInt32
	case Int64:
		return math.MinInt64, math.MaxInt64
	case Uint8:
		return 0, math.MaxUint8
	case Uint16:
		return 0, math.MaxUint16
	case Uint32:
		return 0, math.MaxUint32
	case Uint64:
		return 0, math.MaxUint64
	}
	return 0, 0
}

// IsNumeric reports whether t is an integer or floating-point type.
func (t DataType) IsNumeric() bool { return t.IsFloat() || t.IsSigned() || t.IsUnsigned() }

// ParseDataType reads a data type name, case-insensitively, accepting the
// canonical names and a few common aliases (float32, double, half, ...).
func ParseDataType(s string) (DataType, error) {
	n := strings.ToLower(strings.TrimSpace(s))
	for t := Bool; t <= maxDataType; t++ {
		if typeNames[t] == n {
			return t, nil
		}
	}
	if t, ok := typeAliases[n]; ok {
		return t, nil
	}
	return Invalid, fmt.Errorf("%w: %q", ErrUnknownDataType, s)
}

// MarshalText implements encoding.TextMarshaler.
func (t DataType) MarshalText() ([]byte, error) {
	if !t.Valid() {
		return nil, fmt.Errorf("%w: %d", ErrUnknownDataType, uint8(t))
	}
	return []byte(t.String()), nil
}

// UnmarshalText implements encoding.TextUnmarshaler.
func (t *DataType) UnmarshalText(b []byte) error {
	v, err := ParseDataType(string(b))
	if err != nil {
		return err
	}
	*t = v
	return nil
}
