package codec

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/ofstack/ofs/schema"
)

// colVals holds one column's values in the Go type a test sets and reads
// them with; only the field of the column's kind is used.
type colVals struct {
	set   bool // false: the column was left at its default
	bools []bool
	ints  []int64   // signed integer columns
	uints []uint64  // unsigned integer columns
	f32   []float32 // FP8, FP16, FP32 columns, as set (before rounding)
	f64   []float64 // FP64 columns
	strs  []string
}

// randomColumns returns n random columns named c0..cn-1, half with defaults.
func randomColumns(rng *rand.Rand, n int) []Column {
	types := schema.DataTypes()
	cols := make([]Column, n)
	for i := range cols {
		c := Column{Name: fmt.Sprintf("c%d", i), Type: types[rng.IntN(len(types))]}
		if rng.IntN(3) == 0 {
			c.Len = 1 + rng.IntN(12)
		}
		if rng.IntN(2) == 0 {
			c.Default = encodeVals(c, randomVals(rng, c))
		}
		cols[i] = c
	}
	return cols
}

// encodeVals returns the Default encoding of v for column c.
func encodeVals(c Column, v colVals) []byte {
	var (
		b   []byte
		err error
	)
	switch {
	case c.Type == schema.Bool:
		b = DefaultBools(v.bools...)
	case c.Type == schema.String:
		b = DefaultStrings(v.strs...)
	case c.Type.IsSigned():
		b, err = DefaultInts(c.Type, v.ints...)
	case c.Type.IsUnsigned():
		b, err = DefaultUints(c.Type, v.uints...)
	case c.Type == schema.FP64:
		b, err = DefaultFloats(c.Type, v.f64...)
	default:
		f := make([]float64, len(v.f32))
		for i, x := range v.f32 {
			f[i] = float64(x)
		}
		b, err = DefaultFloats(c.Type, f...)
	}
	if err != nil {
		panic(err)
	}
	return b
}

// randomVals returns random values for column c, every value in range.
func randomVals(rng *rand.Rand, c Column) colVals {
	n := c.elems()
	v := colVals{set: true}
	for range n {
		switch {
		case c.Type == schema.Bool:
			v.bools = append(v.bools, rng.IntN(2) == 1)
		case c.Type == schema.String:
			v.strs = append(v.strs, randomString(rng))
		case c.Type.IsSigned():
			bits := 8 * c.Type.Size()
			x := int64(rng.Uint64()) >> (64 - bits) // sign-extends: in range
			if rng.IntN(4) == 0 {
				x = []int64{0, -1, 1, -1 << (bits - 1), 1<<(bits-1) - 1}[rng.IntN(5)]
			}
			v.ints = append(v.ints, x)
		case c.Type.IsUnsigned():
			bits := 8 * c.Type.Size()
			x := rng.Uint64() >> (64 - bits)
			if rng.IntN(4) == 0 {
				x = []uint64{0, 1, 1<<bits - 1}[rng.IntN(3)]
			}
			v.uints = append(v.uints, x)
		case c.Type == schema.FP64:
			v.f64 = append(v.f64, randomFloat64(rng))
		default:
			v.f32 = append(v.f32, randomFloat32(rng))
		}
	}
	return v
}

func randomString(rng *rand.Rand) string {
	n := rng.IntN(20)
	if rng.IntN(10) == 0 {
		n = 100 + rng.IntN(300) // a length of two uvarint bytes
	}
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rng.IntN(256)) // any bytes: strings are not checked for UTF-8
	}
	return string(b)
}

func randomFloat32(rng *rand.Rand) float32 {
	switch rng.IntN(4) {
	case 0:
		return math.Float32frombits(rng.Uint32()) // anything, NaNs included
	case 1:
		return []float32{0, 1, -1, float32(math.Inf(1)), float32(math.NaN()), 65504, 448, 1e-8}[rng.IntN(8)]
	}
	return float32(rng.NormFloat64() * 100)
}

func randomFloat64(rng *rand.Rand) float64 {
	switch rng.IntN(4) {
	case 0:
		return math.Float64frombits(rng.Uint64())
	case 1:
		return []float64{0, 1, -1, math.Inf(-1), math.NaN(), math.MaxFloat64, 5e-324}[rng.IntN(7)]
	}
	return rng.NormFloat64() * 1e6
}

// setVals sets column col of b to v.
func setVals(b *Builder, col int, c Column, v colVals) {
	switch {
	case c.Type == schema.Bool:
		b.SetBools(col, v.bools)
	case c.Type == schema.String:
		b.SetStrings(col, v.strs)
	case c.Type.IsSigned():
		b.SetInt64s(col, v.ints)
	case c.Type.IsUnsigned():
		b.SetUint64s(col, v.uints)
	case c.Type == schema.FP64:
		b.SetFloat64s(col, v.f64)
	default:
		b.SetFloat32s(col, v.f32)
	}
}

// defaultVals decodes the default of column c.
func defaultVals(t testing.TB, c Column) colVals {
	t.Helper()
	l, err := NewLayout(1, []Column{c})
	if err != nil {
		t.Fatal(err)
	}
	p, err := NewProjection(l, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	var r Reader
	r.OpenDefaults(p)
	return readVals(&r, 0, c)
}

// readVals reads projected column i, of column c, from r.
func readVals(r *Reader, i int, c Column) colVals {
	v := colVals{set: true}
	switch {
	case c.Type == schema.Bool:
		v.bools = r.AppendBools(nil, i)
	case c.Type == schema.String:
		v.strs = r.AppendStrings(nil, i)
	case c.Type.IsSigned():
		v.ints = r.AppendInt64s(nil, i)
	case c.Type.IsUnsigned():
		v.uints = r.AppendUint64s(nil, i)
	case c.Type == schema.FP64:
		v.f64 = r.AppendFloat64s(nil, i)
	default:
		v.f32 = r.AppendFloat32s(nil, i)
	}
	return v
}

// stored returns the values as a block of column c stores them: narrow
// floats rounded.
func stored(c Column, v colVals) colVals {
	if v.f32 == nil {
		return v
	}
	out := v
	out.f32 = make([]float32, len(v.f32))
	for i, x := range v.f32 {
		switch c.Type {
		case schema.FP16:
			x = fp16ToFloat32(float32ToFP16(x))
		case schema.FP8E4M3:
			x = e4m3Table[float32ToE4M3(x)]
		case schema.FP8E5M2:
			x = e5m2Table[float32ToE5M2(x)]
		}
		out.f32[i] = x
	}
	return out
}

// sameVals compares values, floats by bits with every NaN equal to every NaN.
func sameVals(a, b colVals) bool {
	eq := func(n, m int, f func(int) bool) bool {
		if n != m {
			return false
		}
		for i := range n {
			if !f(i) {
				return false
			}
		}
		return true
	}
	return eq(len(a.bools), len(b.bools), func(i int) bool { return a.bools[i] == b.bools[i] }) &&
		eq(len(a.ints), len(b.ints), func(i int) bool { return a.ints[i] == b.ints[i] }) &&
		eq(len(a.uints), len(b.uints), func(i int) bool { return a.uints[i] == b.uints[i] }) &&
		eq(len(a.strs), len(b.strs), func(i int) bool { return a.strs[i] == b.strs[i] }) &&
		eq(len(a.f32), len(b.f32), func(i int) bool {
			x, y := a.f32[i], b.f32[i]
			return math.Float32bits(x) == math.Float32bits(y) || isNaN32(x) && isNaN32(y)
		}) &&
		eq(len(a.f64), len(b.f64), func(i int) bool {
			x, y := a.f64[i], b.f64[i]
			return math.Float64bits(x) == math.Float64bits(y) || math.IsNaN(x) && math.IsNaN(y)
		})
}

func mustLayout(t testing.TB, version uint32, cols []Column) *Layout {
	t.Helper()
	l, err := NewLayout(version, cols)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func mustProjection(t testing.TB, active *Layout, versions []*Layout, cols []int) *Projection {
	t.Helper()
	p, err := NewProjection(active, versions, cols)
	if err != nil {
		t.Fatal(err)
	}
	return p
}
