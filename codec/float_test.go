package codec

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// reference rounds v to f the slow, obvious way: find the nearest of all
// encodings by value, ties to the even encoding, overflow as IEEE 754 does
// (to Inf) or, without Inf, saturating.
func (f minifloat) reference(v float64) uint16 {
	signBit := uint16(1) << (f.expBits + f.manBits)
	switch {
	case math.IsNaN(v) && math.Signbit(v):
		return signBit | f.nan // the sign of a NaN is kept
	case math.IsNaN(v):
		return f.nan
	case math.Signbit(v):
		return signBit | f.reference(-v)
	}
	values := f.values()
	if v > values[f.maxFinite] {
		if !f.ieee {
			return f.maxFinite
		}
		// Beyond the largest finite value the next step is 2^(emax+1), the
		// "even" neighbour, which overflows to Inf.
		top := values[f.maxFinite]
		next := 2 * f.toFloat64(f.maxFinite&^(uint16(1)<<f.manBits-1))
		if v-top < next-v || v-top == next-v && f.maxFinite&1 == 0 {
			return f.maxFinite
		}
		return f.inf
	}
	i, _ := slices.BinarySearch(values, v) // values[i-1] < v <= values[i]
	if values[i] == v || i == 0 {
		return uint16(i)
	}
	lo, hi := values[i-1], values[i]
	switch {
	case v-lo < hi-v:
		return uint16(i - 1)
	case v-lo > hi-v:
		return uint16(i)
	case (i-1)%2 == 0:
		return uint16(i - 1)
	}
	return uint16(i)
}

var valueTables = map[minifloat][]float64{}

// values returns the non-negative finite values of f, by encoding: 0 to
// maxFinite, increasing in value.
func (f minifloat) values() []float64 {
	if v, ok := valueTables[f]; ok {
		return v
	}
	v := make([]float64, f.maxFinite+1)
	for e := range v {
		v[e] = f.toFloat64(uint16(e))
	}
	valueTables[f] = v
	return v
}

var formats = []struct {
	name string
	f    minifloat
}{
	{"fp16", fp16Format},
	{"e5m2", e5m2Format},
	{"e4m3", e4m3Format},
}

// probes returns, for every pair of neighbouring values of f, the midpoint
// and the float32s next to it, plus values around zero, the top, and specials.
func (f minifloat) probes() []float64 {
	var out []float64
	add := func(x float64) {
		out = append(out, x, -x)
		x32 := float32(x)
		out = append(out, float64(math.Nextafter32(x32, float32(math.Inf(1)))), float64(math.Nextafter32(x32, 0)))
	}
	for e := uint16(0); e <= f.maxFinite; e++ {
		v := f.toFloat64(e)
		add(v)
		if e < f.maxFinite {
			add((v + f.toFloat64(e+1)) / 2)
		}
	}
	top := f.toFloat64(f.maxFinite)
	ulp := top - f.toFloat64(f.maxFinite-1)
	add(top + ulp/2)
	add(top + ulp)
	add(1e30)
	add(math.SmallestNonzeroFloat32)
	add(math.SmallestNonzeroFloat64)
	add(math.MaxFloat64)
	return append(out, math.Inf(1), math.Inf(-1), math.NaN(), 0, math.Copysign(0, -1))
}

func TestMinifloatMatchesReference(t *testing.T) {
	for _, tc := range formats {
		t.Run(tc.name, func(t *testing.T) {
			for _, v := range tc.f.probes() {
				want := tc.f.reference(v)
				if got := tc.f.fromFloat64(v); got != want {
					t.Errorf("fromFloat64(%g) = %#x, want %#x", v, got, want)
				}
			}
		})
	}
}

func TestFloat32Conversions(t *testing.T) {
	// The float32 entry points must agree with the float64 rounding (which
	// the reference checks) on every probe and on random bit patterns.
	rng := rand.New(rand.NewPCG(1, 2))
	var inputs []float32
	for _, tc := range formats {
		for _, v := range tc.f.probes() {
			inputs = append(inputs, float32(v))
		}
	}
	for range 1 << 20 {
		inputs = append(inputs, math.Float32frombits(rng.Uint32()))
	}
	for _, v := range inputs {
		if got, want := float32ToFP16(v), fp16Format.fromFloat64(float64(v)); got != want {
			t.Fatalf("float32ToFP16(%g) = %#x, want %#x", v, got, want)
		}
		if got, want := float32ToE4M3(v), uint8(e4m3Format.reference(float64(v))); got != want {
			t.Fatalf("float32ToE4M3(%g) = %#x, want %#x", v, got, want)
		}
		if got, want := float32ToE5M2(v), uint8(e5m2Format.reference(float64(v))); got != want {
			t.Fatalf("float32ToE5M2(%g) = %#x, want %#x", v, got, want)
		}
	}
}

func TestFP16RoundTripsEveryValue(t *testing.T) {
	for h := range 1 << 16 {
		f := fp16ToFloat32(uint16(h))
		if want := float32(fp16Format.toFloat64(uint16(h))); math.Float32bits(f) != math.Float32bits(want) && !(isNaN32(f) && isNaN32(want)) {
			t.Fatalf("fp16ToFloat32(%#x) = %g, want %g", h, f, want)
		}
		got := float32ToFP16(f)
		if isNaN32(f) {
			if got&0x7c00 != 0x7c00 || got&0x3ff == 0 {
				t.Fatalf("NaN %#x became %#x", h, got)
			}
			continue
		}
		if got != uint16(h) {
			t.Fatalf("fp16 %#x -> %g -> %#x", h, f, got)
		}
	}
}

func TestFP8RoundTripsEveryValue(t *testing.T) {
	for _, tc := range []struct {
		name   string
		table  *[256]float32
		encode func(float32) uint8
	}{
		{"e4m3", &e4m3Table, float32ToE4M3},
		{"e5m2", &e5m2Table, float32ToE5M2},
	} {
		for b := range 256 {
			f := tc.table[b]
			got := tc.encode(f)
			if isNaN32(f) {
				if !isNaN32(tc.table[got]) {
					t.Errorf("%s: NaN %#x became %#x", tc.name, b, got)
				}
				continue
			}
			if got != uint8(b) {
				t.Errorf("%s: %#x -> %g -> %#x", tc.name, b, f, got)
			}
		}
	}
}

func TestNarrowFloatSpecials(t *testing.T) {
	inf := float32(math.Inf(1))
	tests := []struct {
		name string
		in   float32
		fp16 uint16
		e5m2 uint8
		e4m3 uint8
	}{
		{"zero", 0, 0x0000, 0x00, 0x00},
		{"negative zero", float32(math.Copysign(0, -1)), 0x8000, 0x80, 0x80},
		{"one", 1, 0x3c00, 0x3c, 0x38},
		{"minus two", -2, 0xc000, 0xc0, 0xc0},
		{"+Inf", inf, 0x7c00, 0x7c, 0x7e},  // E4M3 saturates
		{"-Inf", -inf, 0xfc00, 0xfc, 0xfe}, // E4M3 saturates
		{"NaN", float32(math.NaN()), 0x7e00, 0x7e, 0x7f},
		{"fp16 max", 65504, 0x7bff, 0x7c, 0x7e},
		{"fp16 overflow tie", 65520, 0x7c00, 0x7c, 0x7e},
		{"just below fp16 overflow", math.Nextafter32(65520, 0), 0x7bff, 0x7c, 0x7e},
		{"e4m3 max", 448, 0x5f00, 0x5f, 0x7e},
		{"e4m3 tie above max", 464, 0x5f40, 0x5f, 0x7e},
		{"e4m3 far above max", 1e6, 0x7c00, 0x7c, 0x7e},
		{"e5m2 max", 57344, 0x7b00, 0x7b, 0x7e},
		{"e5m2 overflow tie", 61440, 0x7b80, 0x7c, 0x7e},
		{"fp16 smallest subnormal", 0x1p-24, 0x0001, 0x00, 0x00},
		{"fp16 half smallest subnormal ties to zero", 0x1p-25, 0x0000, 0x00, 0x00},
		{"e4m3 smallest subnormal", 0x1p-9, 0x1800, 0x18, 0x01},
		{"e5m2 smallest subnormal", 0x1p-16, 0x0100, 0x01, 0x00},
		{"1 + half ulp ties to even", 1 + 0x1p-11, 0x3c00, 0x3c, 0x38},
		{"1 + 3 half ulps ties to even", 1 + 3*0x1p-11, 0x3c02, 0x3c, 0x38},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := float32ToFP16(tc.in); got != tc.fp16 {
				t.Errorf("fp16 = %#04x, want %#04x", got, tc.fp16)
			}
			if got := float32ToE5M2(tc.in); got != tc.e5m2 {
				t.Errorf("e5m2 = %#02x, want %#02x", got, tc.e5m2)
			}
			if got := float32ToE4M3(tc.in); got != tc.e4m3 {
				t.Errorf("e4m3 = %#02x, want %#02x", got, tc.e4m3)
			}
		})
	}
}

func isNaN32(f float32) bool { return f != f }
