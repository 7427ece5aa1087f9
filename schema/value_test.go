package schema

import (
	"errors"
	"math"
	"strings"
	"testing"
)

func TestValueConvertTo(t *testing.T) {
	nan := FloatValue(math.NaN())
	inf := FloatValue(math.Inf(1))
	tests := []struct {
		in   Value
		to   DataType
		want Value  // when ok
		err  string // part of the reason when not
	}{
		// The zero Value is the type's zero.
		{Value{}, Bool, BoolValue(false), ""},
		{Value{}, Int8, IntValue(0), ""},
		{Value{}, Uint64, UintValue(0), ""},
		{Value{}, FP16, FloatValue(0), ""},
		{Value{}, String, StringValue(""), ""},
		// Bools and strings only from their own kind.
		{BoolValue(true), Bool, BoolValue(true), ""},
		{IntValue(1), Bool, Value{}, "int value 1 cannot be a default of type bool"},
		{StringValue("true"), Bool, Value{}, "cannot be a default"},
		{StringValue("héllo"), String, StringValue("héllo"), ""},
		{IntValue(1), String, Value{}, "cannot be a default of type string"},
		{StringValue("\xff"), String, Value{}, "not valid UTF-8"},
		{StringValue(strings.Repeat("x", MaxStringDefault)), String, StringValue(strings.Repeat("x", MaxStringDefault)), ""},
		{StringValue(strings.Repeat("x", MaxStringDefault+1)), String, Value{}, "more than 1024"},
		// Signed integers: ranges at both ends.
		{IntValue(127), Int8, IntValue(127), ""},
		{IntValue(128), Int8, Value{}, "128 is out of the range of int8 (-128 to 127)"},
		{IntValue(-128), Int8, IntValue(-128), ""},
		{IntValue(-129), Int8, Value{}, "out of the range of int8"},
		{IntValue(300), Int8, Value{}, "300 is out of the range of int8"},
		{IntValue(32767), Int16, IntValue(32767), ""},
		{IntValue(-32769), Int16, Value{}, "int16"},
		{IntValue(math.MaxInt32 + 1), Int32, Value{}, "int32"},
		{IntValue(math.MinInt64), Int64, IntValue(math.MinInt64), ""},
		{UintValue(math.MaxInt64), Int64, IntValue(math.MaxInt64), ""},
		{UintValue(math.MaxInt64 + 1), Int64, Value{}, "out of the range of int64"},
		{UintValue(5), Int8, IntValue(5), ""},
		{FloatValue(-3), Int8, IntValue(-3), ""},
		{FloatValue(1.5), Int32, Value{}, "1.5 is not an integer"},
		{nan, Int32, Value{}, "NaN is not an integer"},
		{inf, Int64, Value{}, "not an integer"},
		{FloatValue(-(1 << 63)), Int64, IntValue(math.MinInt64), ""},
		{FloatValue(1 << 63), Int64, Value{}, "out of the range of int64"},
		{FloatValue(-1e30), Int64, Value{}, "out of the range"},
		// Unsigned integers.
		{IntValue(255), Uint8, UintValue(255), ""},
		{IntValue(256), Uint8, Value{}, "256 is out of the range of uint8 (0 to 255)"},
		{IntValue(-1), Uint8, Value{}, "-1 is out of the range of uint8"},
		{IntValue(-1), Uint64, Value{}, "uint64"},
		{UintValue(math.MaxUint64), Uint64, UintValue(math.MaxUint64), ""},
		{UintValue(math.MaxUint32 + 1), Uint32, Value{}, "uint32"},
		{UintValue(65536), Uint16, Value{}, "uint16"},
		{FloatValue(4), Uint16, UintValue(4), ""},
		{FloatValue(-1), Uint16, Value{}, "out of the range"},
		{FloatValue(1 << 64), Uint64, Value{}, "out of the range of uint64"},
		{FloatValue(math.Copysign(0, -1)), Uint8, UintValue(0), ""},
		{BoolValue(true), Int64, Value{}, "cannot be a default of type int64"},
		// Floats: ranges of each width; NaN everywhere; infinities but in e4m3.
		{FloatValue(448), FP8E4M3, FloatValue(448), ""},
		{FloatValue(449), FP8E4M3, Value{}, "out of the range of fp8e4m3 (largest finite value 448)"},
		{inf, FP8E4M3, Value{}, "fp8e4m3 has no infinities"},
		{nan, FP8E4M3, nan, ""},
		{FloatValue(57344), FP8E5M2, FloatValue(57344), ""},
		{FloatValue(-57345), FP8E5M2, Value{}, "fp8e5m2"},
		{inf, FP8E5M2, inf, ""},
		{FloatValue(65504), FP16, FloatValue(65504), ""},
		{IntValue(70000), FP16, Value{}, "70000 is out of the range of fp16"},
		{FloatValue(math.MaxFloat32), FP32, FloatValue(math.MaxFloat32), ""},
		{FloatValue(1e39), FP32, Value{}, "fp32"},
		{FloatValue(math.MaxFloat64), FP64, FloatValue(math.MaxFloat64), ""},
		{FloatValue(math.Inf(-1)), FP64, FloatValue(math.Inf(-1)), ""},
		{IntValue(-7), FP64, FloatValue(-7), ""},
		{UintValue(3), FP32, FloatValue(3), ""},
		{StringValue("1.0"), FP32, Value{}, "cannot be a default of type fp32"},
		// An undefined type.
		{IntValue(1), Invalid, Value{}, "not defined"},
		{IntValue(1), DataType(200), Value{}, "not defined"},
	}
	for _, tc := range tests {
		got, err := tc.in.ConvertTo(tc.to)
		if tc.err != "" {
			if err == nil || !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%v (%v) to %v: %v, want an error with %q", tc.in, tc.in.Kind(), tc.to, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%v (%v) to %v: %v", tc.in, tc.in.Kind(), tc.to, err)
			continue
		}
		if got != tc.want || got.Kind() != canonicalKind(tc.to) {
			t.Errorf("%v (%v) to %v: %v (%v), want %v (%v)", tc.in, tc.in.Kind(), tc.to, got, got.Kind(), tc.want, tc.want.Kind())
		}
	}
}

func TestValueAccessors(t *testing.T) {
	if v := BoolValue(true); !v.Bool() || v.Int() != 0 || v.String() != "true" || v.IsNone() {
		t.Errorf("bool %v", v)
	}
	if v := IntValue(-5); v.Int() != -5 || v.Uint() != 0 || v.Float() != 0 || v.String() != "-5" {
		t.Errorf("int %v", v)
	}
	if v := UintValue(math.MaxUint64); v.Uint() != math.MaxUint64 || v.Int() != 0 || v.String() != "18446744073709551615" {
		t.Errorf("uint %v", v)
	}
	if v := FloatValue(0.25); v.Float() != 0.25 || v.Bool() || v.String() != "0.25" {
		t.Errorf("float %v", v)
	}
	if v := StringValue("x"); v.Str() != "x" || v.String() != `"x"` || v.Kind() != KindString {
		t.Errorf("string %v", v)
	}
	if v := StringValue(strings.Repeat("é", 40)); len(v.String()) > 100 || !strings.HasSuffix(v.String(), "...") {
		t.Errorf("long string formats as %s", v)
	}
	if (Value{}).String() != "none" || !(Value{}).IsNone() {
		t.Error("zero value")
	}
	// Every NaN is the one canonical NaN, so NaN defaults compare equal.
	other := math.Float64frombits(math.Float64bits(math.NaN()) ^ 1)
	if FloatValue(math.NaN()) != FloatValue(other) || !math.IsNaN(FloatValue(other).Float()) {
		t.Error("NaNs differ")
	}
	if FloatValue(0) == FloatValue(math.Copysign(0, -1)) {
		t.Error("-0 equals +0: they encode differently")
	}
	if KindFloat.String() != "float" || ValueKind(9).String() != "kind(9)" {
		t.Error("kind names")
	}
}

func TestDataType(t *testing.T) {
	for _, dt := range DataTypes() {
		if !dt.Valid() {
			t.Errorf("%v not valid", dt)
		}
		back, err := ParseDataType(strings.ToUpper(dt.String()))
		if err != nil || back != dt {
			t.Errorf("parse %v: %v %v", dt, back, err)
		}
		b, err := dt.MarshalText()
		if err != nil {
			t.Fatal(err)
		}
		var u DataType
		if err := u.UnmarshalText(b); err != nil || u != dt {
			t.Errorf("text round trip of %v: %v", dt, err)
		}
		if n := dt.Size(); (dt == Bool || dt == String) != (n == 0) {
			t.Errorf("%v size %d", dt, n)
		}
		kinds := 0
		for _, is := range []bool{dt.IsFloat(), dt.IsSigned(), dt.IsUnsigned(), dt == Bool, dt == String} {
			if is {
				kinds++
			}
		}
		if kinds != 1 {
			t.Errorf("%v is in %d classes", dt, kinds)
		}
	}
	// The numbers are persisted: pin them.
	pinned := map[DataType]uint8{Bool: 1, Int8: 2, Int64: 5, Uint64: 9, FP8E4M3: 10, FP16: 12, FP64: 14, String: 15}
	for dt, n := range pinned {
		if uint8(dt) != n {
			t.Errorf("%v is %d, was %d", dt, uint8(dt), n)
		}
	}
	for alias, want := range map[string]DataType{"double": FP64, "float": FP32, "half": FP16, "E4M3": FP8E4M3, "boolean": Bool, "bytes": String} {
		if got, err := ParseDataType(alias); err != nil || got != want {
			t.Errorf("alias %q: %v %v", alias, got, err)
		}
	}
	if _, err := ParseDataType("decimal"); !errors.Is(err, ErrUnknownDataType) {
		t.Errorf("unknown type: %v", err)
	}
	if _, err := Invalid.MarshalText(); !errors.Is(err, ErrUnknownDataType) {
		t.Errorf("marshal invalid: %v", err)
	}
	if DataType(99).String() != "datatype(99)" {
		t.Error(DataType(99).String())
	}
	for _, k := range []StoreKind{Redis, Dragonfly, Scylla} {
		if back, err := ParseStoreKind(k.String()); err != nil || back != k {
			t.Errorf("store kind %v: %v", k, err)
		}
	}
	if _, err := ParseStoreKind("postgres"); !errors.Is(err, ErrInvalid) {
		t.Errorf("unknown store kind: %v", err)
	}
}

func TestValidName(t *testing.T) {
	for name, want := range map[string]bool{
		"a": true, "user_stats": true, "a1_b2": true, strings.Repeat("a", 63): true,
		"": false, "A": false, "1a": false, "_a": false, "a-b": false, "a.b": false, "a b": false,
		strings.Repeat("a", 64): false, "é": false, "a\x00": false,
	} {
		if ValidName(name) != want {
			t.Errorf("ValidName(%q) = %v", name, !want)
		}
	}
	for label, want := range map[string]bool{"redis-main": true, "team.ml": true, "a": true, "-a": false, "A": false, "": false} {
		if validLabel(label) != want {
			t.Errorf("validLabel(%q) = %v", label, !want)
		}
	}
}
