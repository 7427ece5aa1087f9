package codec

import "math"

// The narrow float types. Conversions into them round to nearest, ties to
// even, as IEEE 754 does; conversions out of them are exact.
//
// FP16 and FP8E5M2 have infinities: a finite value whose rounded magnitude is
// beyond the largest finite one becomes ±Inf, as in IEEE 754.
//
// FP8E4M3 (the OCP "E4M3FN" variant) has no infinity. This package saturates:
// a value beyond ±448 (the largest finite E4M3), ±Inf included, becomes ±448.
// NaN stays NaN (S.1111.111). Saturation is what a feature wants: a clamped
// large count is still a usable input, a NaN poisons a model's output.

// minifloat describes a binary floating-point format of at most 16 bits.
type minifloat struct {
	expBits   uint
	manBits   uint
	bias      int
	ieee      bool   // an all-ones exponent encodes Inf and NaN (false: E4M3, no Inf)
	nan       uint16 // the positive quiet NaN
	inf       uint16 // the positive infinity (ieee only)
	maxFinite uint16 // the largest finite positive value
}

var (
	fp16Format = minifloat{expBits: 5, manBits: 10, bias: 15, ieee: true, nan: 0x7e00, inf: 0x7c00, maxFinite: 0x7bff}
	e5m2Format = minifloat{expBits: 5, manBits: 2, bias: 15, ieee: true, nan: 0x7e, inf: 0x7c, maxFinite: 0x7b}
	e4m3Format = minifloat{expBits: 4, manBits: 3, bias: 7, ieee: false, nan: 0x7f, maxFinite: 0x7e}
)

// fromFloat64 rounds v to the format, to nearest with ties to even. Every
// float32 is exactly a float64, so this is also the correct rounding of a
// float32.
func (f minifloat) fromFloat64(v float64) uint16 {
	b := math.Float64bits(v)
	sign := uint16(b>>63) << (f.expBits + f.manBits)
	exp := int(b>>52) & 0x7ff
	frac := b & (1<<52 - 1)
	switch {
	case exp == 0x7ff && frac != 0:
		return sign | f.nan
	case exp == 0x7ff:
		if f.ieee {
			return sign | f.inf
		}
		return sign | f.maxFinite
	case exp == 0:
		// Zero, or a float64 subnormal: far below half the smallest
		// subnormal of every narrow format, so it rounds to zero.
		return sign
	}
	e := exp - 1023
	m := frac | 1<<52 // the significand with its implicit bit
	emin := 1 - f.bias
	var bits uint64
	if e >= emin {
		// A normal result. Adding the rounded significand (which still has
		// its implicit bit) to the exponent field minus one lets a carry out
		// of the significand bump the exponent, as it should.
		bits = uint64(e+f.bias-1)<<f.manBits + roundShift(m, 52-f.manBits)
	} else {
		// A subnormal result: count in units of the smallest subnormal.
		shift := 52 - int(f.manBits) + emin - e
		if shift > 54 {
			return sign // below a quarter of the smallest subnormal
		}
		bits = roundShift(m, uint(shift))
	}
	if bits > uint64(f.maxFinite) {
		if f.ieee {
			return sign | f.inf
		}
		return sign | f.maxFinite
	}
	return sign | uint16(bits)
}

// toFloat64 returns the exact value of the encoded number b.
func (f minifloat) toFloat64(b uint16) float64 {
	manMask := uint16(1)<<f.manBits - 1
	expMask := uint16(1)<<f.expBits - 1
	neg := b>>(f.expBits+f.manBits)&1 == 1
	exp := b >> f.manBits & expMask
	man := b & manMask
	var v float64
	switch {
	case f.ieee && exp == expMask && man != 0, !f.ieee && exp == expMask && man == manMask:
		v = math.NaN()
	case f.ieee && exp == expMask:
		v = math.Inf(1)
	case exp == 0:
		v = math.Ldexp(float64(man), 1-f.bias-int(f.manBits))
	default:
		v = math.Ldexp(float64(man|(manMask+1)), int(exp)-f.bias-int(f.manBits))
	}
	if neg {
		v = -v
	}
	return v
}

// roundShift returns x / 2^s rounded to nearest, ties to even.
func roundShift(x uint64, s uint) uint64 {
	if s == 0 {
		return x
	}
	q := x >> s
	rem := x & (1<<s - 1)
	half := uint64(1) << (s - 1)
	if rem > half || rem == half && q&1 == 1 {
		q++
	}
	return q
}

// Decoding tables of the 8-bit formats: every value is exact in a float32.
var e4m3Table, e5m2Table [256]float32

func init() {
	for i := range 256 {
		e4m3Table[i] = float32(e4m3Format.toFloat64(uint16(i)))
		e5m2Table[i] = float32(e5m2Format.toFloat64(uint16(i)))
	}
}

// float32ToFP16 rounds v to IEEE binary16.
func float32ToFP16(v float32) uint16 {
	if h, ok := float32ToFP16Normal(math.Float32bits(v)); ok {
		return h
	}
	return fp16Format.fromFloat64(float64(v))
}

// float32ToFP16Normal converts the float32 with bits x in a few integer
// operations when the result is a normal binary16, the common case, and
// reports false otherwise (for fromFloat64).
func float32ToFP16Normal(x uint32) (uint16, bool) {
	a := x & 0x7fffffff
	// 0x38800000 is 2^-14, the smallest normal binary16; 0x477ff000 is 65520,
	// where rounding starts to overflow to Inf.
	if a-0x38800000 >= 0x477ff000-0x38800000 {
		return 0, false
	}
	a += 0x0fff + (a>>13)&1 // round the 13 dropped bits to nearest even
	return uint16(x>>16)&0x8000 | uint16((a-0x38000000)>>13), true
}

// fp16ToFloat32 returns the exact value of the binary16 h.
func fp16ToFloat32(h uint16) float32 {
	if f, ok := fp16NormalToFloat32(h); ok {
		return f
	}
	return fp16SpecialToFloat32(h)
}

// fp16NormalToFloat32 converts a normal binary16, the common case, and
// reports false for the others (for fp16SpecialToFloat32).
func fp16NormalToFloat32(h uint16) (float32, bool) {
	if exp := h >> 10 & 0x1f; exp-1 >= 0x1e {
		return 0, false
	}
	// Rebias the exponent from 15 to 127: add 112 << 23.
	return math.Float32frombits(uint32(h&0x8000)<<16 | (uint32(h&0x7fff)<<13 + 0x38000000)), true
}

// fp16SpecialToFloat32 is fp16ToFloat32 of zeros, subnormals, Inf and NaN.
func fp16SpecialToFloat32(h uint16) float32 {
	sign := uint32(h&0x8000) << 16
	man := uint32(h & 0x3ff)
	if h&0x7c00 == 0x7c00 { // Inf or NaN, payload kept
		return math.Float32frombits(sign | 0x7f800000 | man<<13)
	}
	f := float32(man) * 0x1p-24 // zero or subnormal: man × 2^-24
	if sign != 0 {
		f = -f
	}
	return f
}

func float32ToE4M3(v float32) uint8 { return uint8(e4m3Format.fromFloat64(float64(v))) }
func float32ToE5M2(v float32) uint8 { return uint8(e5m2Format.fromFloat64(float64(v))) }
