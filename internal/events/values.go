package events

import (
	"fmt"
	"math"
	"unicode/utf8"

	"github.com/ofstack/ofs/codec"
	"github.com/ofstack/ofs/schema"
)

// The checks and setters that both formats share. Each takes the column
// index in the active version and the value in the widest Go type of its
// kind, checks it against the feature's data type and shape, and sets it in
// the builder. Integers fit integer features within the type's range and
// floating-point features within their largest finite value; floats fit
// only floating-point features.

// shape formats a column's type: "int8", "fp32[128]".
func shape(c *codec.Column) string {
	if c.Len == 0 {
		return c.Type.String()
	}
	return fmt.Sprintf("%v[%d]", c.Type, c.Len)
}

func wrongType(c *codec.Column, got string) *Error {
	return reject(CodeWrongType, "feature %q is %s; got %s", c.Name, shape(c), got)
}

func wrongLength(c *codec.Column, n int) *Error {
	return reject(CodeWrongLength, "feature %q is %s; got a vector of %d", c.Name, shape(c), n)
}

// elem formats the position of a vector element for messages.
func elem(c *codec.Column, k int) string {
	if c.Len == 0 {
		return ""
	}
	return fmt.Sprintf(" element %d", k)
}

func isInt(t schema.DataType) bool { return t.IsSigned() || t.IsUnsigned() }

// floatLimit is the largest finite value of a float type.
func floatLimit(t schema.DataType) float64 {
	switch t {
	case schema.FP8E4M3:
		return 448
	case schema.FP8E5M2:
		return 57344
	case schema.FP16:
		return 65504
	case schema.FP32:
		return math.MaxFloat32
	}
	return math.MaxFloat64
}

// checkFloat reports whether f fits float type t: NaN always does, an
// infinity except in FP8E4M3 (which has none), a finite value up to the
// type's largest.
func checkFloat(c *codec.Column, k int, f float64) *Error {
	switch {
	case f != f:
		return nil
	case math.IsInf(f, 0):
		if c.Type == schema.FP8E4M3 {
			return reject(CodeOutOfRange, "feature %q%s: %v: %v has no infinities", c.Name, elem(c, k), f, c.Type)
		}
		return nil
	case math.Abs(f) > floatLimit(c.Type):
		return reject(CodeOutOfRange, "feature %q%s: %v is out of the range of %v (largest finite value %v)",
			c.Name, elem(c, k), f, c.Type, floatLimit(c.Type))
	}
	return nil
}

func checkInt(c *codec.Column, k int, v int64) *Error {
	lo, hi := c.Type.IntRange()
	if v < lo || v > 0 && uint64(v) > hi {
		return reject(CodeOutOfRange, "feature %q%s: %d is out of the range of %v (%d to %d)", c.Name, elem(c, k), v, c.Type, lo, hi)
	}
	return nil
}

func checkUint(c *codec.Column, k int, v uint64) *Error {
	lo, hi := c.Type.IntRange()
	if v > hi {
		return reject(CodeOutOfRange, "feature %q%s: %d is out of the range of %v (%d to %d)", c.Name, elem(c, k), v, c.Type, lo, hi)
	}
	return nil
}

func (t *target) setBool(i int, v bool) *Error {
	c := &t.cols[i]
	if c.Type != schema.Bool || c.Len != 0 {
		return wrongType(c, "a bool")
	}
	t.builder.SetBool(i, v)
	return nil
}

func (t *target) setString(i int, v string) *Error {
	c := &t.cols[i]
	if c.Type != schema.String || c.Len != 0 {
		return wrongType(c, "a string")
	}
	if !utf8.ValidString(v) {
		return reject(CodeBadValue, "feature %q: the string is not valid UTF-8", c.Name)
	}
	t.builder.SetString(i, v)
	return nil
}

func (t *target) setInt(i int, v int64) *Error {
	c := &t.cols[i]
	switch {
	case c.Len != 0:
		return wrongType(c, "a scalar integer")
	case isInt(c.Type):
		if err := checkInt(c, 0, v); err != nil {
			return err
		}
		t.builder.SetInt64(i, v)
	case c.Type.IsFloat():
		f := float64(v)
		if err := checkFloat(c, 0, f); err != nil {
			return err
		}
		t.builder.SetFloat64(i, f)
	default:
		return wrongType(c, "a number")
	}
	return nil
}

func (t *target) setUint(i int, v uint64) *Error {
	c := &t.cols[i]
	switch {
	case c.Len != 0:
		return wrongType(c, "a scalar integer")
	case isInt(c.Type):
		if err := checkUint(c, 0, v); err != nil {
			return err
		}
		t.builder.SetUint64(i, v)
	case c.Type.IsFloat():
		f := float64(v)
		if err := checkFloat(c, 0, f); err != nil {
			return err
		}
		t.builder.SetFloat64(i, f)
	default:
		return wrongType(c, "a number")
	}
	return nil
}

func (t *target) setFloat64(i int, v float64) *Error {
	c := &t.cols[i]
	switch {
	case c.Len != 0:
		return wrongType(c, "a scalar number")
	case c.Type.IsFloat():
		if err := checkFloat(c, 0, v); err != nil {
			return err
		}
		t.builder.SetFloat64(i, v)
	case isInt(c.Type):
		return reject(CodeWrongType, "feature %q is %s; got %v, not an integer", c.Name, shape(c), v)
	default:
		return wrongType(c, "a number")
	}
	return nil
}

func (t *target) setFloat32(i int, v float32) *Error {
	c := &t.cols[i]
	if c.Type == schema.FP32 && c.Len == 0 {
		t.builder.SetFloat32(i, v) // every float32 fits
		return nil
	}
	if !c.Type.IsFloat() || c.Len != 0 {
		return t.setFloat64(i, float64(v))
	}
	if err := checkFloat(c, 0, float64(v)); err != nil {
		return err
	}
	t.builder.SetFloat32(i, v)
	return nil
}

// vector checks that column i is a vector of n values of a type of kind.
func (t *target) vector(i, n int, kind string, ok func(schema.DataType) bool) (*codec.Column, *Error) {
	c := &t.cols[i]
	switch {
	case c.Len == 0:
		return nil, wrongType(c, "a vector of "+kind)
	case !ok(c.Type):
		return nil, wrongType(c, "a vector of "+kind)
	case n != c.Len:
		return nil, wrongLength(c, n)
	}
	return c, nil
}

func isBool(t schema.DataType) bool    { return t == schema.Bool }
func isString(t schema.DataType) bool  { return t == schema.String }
func isFloat(t schema.DataType) bool   { return t.IsFloat() }
func isNumeric(t schema.DataType) bool { return t.IsNumeric() }

func (t *target) setBools(i int, v []bool) *Error {
	if _, err := t.vector(i, len(v), "bools", isBool); err != nil {
		return err
	}
	t.builder.SetBools(i, v)
	return nil
}

func (t *target) setStrings(i int, v []string) *Error {
	c, err := t.vector(i, len(v), "strings", isString)
	if err != nil {
		return err
	}
	for k, s := range v {
		if !utf8.ValidString(s) {
			return reject(CodeBadValue, "feature %q element %d: the string is not valid UTF-8", c.Name, k)
		}
	}
	t.builder.SetStrings(i, v)
	return nil
}

// setInt64s sets an integer or float vector from integers; f64 is scratch
// for a float vector.
func (t *target) setInt64s(i int, v []int64, f64 *[]float64) *Error {
	c, err := t.vector(i, len(v), "integers", isNumeric)
	if err != nil {
		return err
	}
	if isInt(c.Type) {
		for k, x := range v {
			if err := checkInt(c, k, x); err != nil {
				return err
			}
		}
		t.builder.SetInt64s(i, v)
		return nil
	}
	return t.setFloats(i, c, toFloats(v, f64))
}

func (t *target) setUint64s(i int, v []uint64, f64 *[]float64) *Error {
	c, err := t.vector(i, len(v), "integers", isNumeric)
	if err != nil {
		return err
	}
	if isInt(c.Type) {
		for k, x := range v {
			if err := checkUint(c, k, x); err != nil {
				return err
			}
		}
		t.builder.SetUint64s(i, v)
		return nil
	}
	return t.setFloats(i, c, toFloats(v, f64))
}

// toFloats converts integers to floats in the scratch f64.
func toFloats[T int64 | uint64](v []T, f64 *[]float64) []float64 {
	fs := (*f64)[:0]
	for _, x := range v {
		fs = append(fs, float64(x))
	}
	*f64 = fs
	return fs
}

// setFloats checks fs against the range of float column c (an fp64 takes
// every float) and sets it.
func (t *target) setFloats(i int, c *codec.Column, fs []float64) *Error {
	if c.Type != schema.FP64 {
		for k, f := range fs {
			if err := checkFloat(c, k, f); err != nil {
				return err
			}
		}
	}
	t.builder.SetFloat64s(i, fs)
	return nil
}

func (t *target) setFloat64s(i int, v []float64) *Error {
	c, err := t.vector(i, len(v), "floats", isFloat)
	if err != nil {
		if c := &t.cols[i]; c.Len != 0 && isInt(c.Type) && len(v) == c.Len {
			return reject(CodeWrongType, "feature %q is %s; got a vector of floats", c.Name, shape(c))
		}
		return err
	}
	return t.setFloats(i, c, v)
}

func (t *target) setFloat32s(i int, v []float32) *Error {
	c, err := t.vector(i, len(v), "floats", isFloat)
	if err != nil {
		return err
	}
	if c.Type != schema.FP32 && c.Type != schema.FP64 {
		for k, f := range v {
			if err := checkFloat(c, k, float64(f)); err != nil {
				return err
			}
		}
	}
	t.builder.SetFloat32s(i, v)
	return nil
}
