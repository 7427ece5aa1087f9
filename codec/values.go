package codec

import (
	"encoding/binary"
	"math"
	"slices"

	"github.com/ofstack/ofs/schema"
)

// The per-type element encoders and decoders, shared by the Builder, the
// Reader and the default-value helpers, so that a default has exactly the
// bytes a value would have. Each works on a whole column: the type switch is
// paid once per column, not once per element.

func isInt(t schema.DataType) bool { return t.IsSigned() || t.IsUnsigned() }

// putInt writes v, already range-checked, as an integer of type t at b.
func putInt(t schema.DataType, b []byte, v uint64) {
	switch t.Size() {
	case 1:
		b[0] = byte(v)
	case 2:
		binary.LittleEndian.PutUint16(b, uint16(v))
	case 4:
		binary.LittleEndian.PutUint32(b, uint32(v))
	default:
		binary.LittleEndian.PutUint64(b, v)
	}
}

// encodeInt64s writes v as integers of type t into b (len(b) = len(v)·size).
func encodeInt64s(t schema.DataType, b []byte, v []int64) error {
	lo, hi := t.IntRange()
	size := t.Size()
	for i, x := range v {
		if x < lo || x > 0 && uint64(x) > hi {
			return rangeError(t, x)
		}
		putInt(t, b[i*size:], uint64(x))
	}
	return nil
}

// encodeUint64s writes v as integers of type t into b.
func encodeUint64s(t schema.DataType, b []byte, v []uint64) error {
	_, hi := t.IntRange()
	size := t.Size()
	for i, x := range v {
		if x > hi {
			return rangeError(t, x)
		}
		putInt(t, b[i*size:], x)
	}
	return nil
}

// encodeFloat32s writes v as floats of type t into b, rounding to nearest even
// for the narrow types.
func encodeFloat32s(t schema.DataType, b []byte, v []float32) {
	switch t {
	case schema.FP32:
		putFloat32s(b, v)
	case schema.FP64:
		b = b[:8*len(v)]
		for i, x := range v {
			binary.LittleEndian.PutUint64(b[8*i:], math.Float64bits(float64(x)))
		}
	case schema.FP16:
		b = b[:2*len(v)]
		for i, x := range v {
			h, ok := float32ToFP16Normal(math.Float32bits(x))
			if !ok {
				h = fp16Format.fromFloat64(float64(x))
			}
			binary.LittleEndian.PutUint16(b[2*i:], h)
		}
	case schema.FP8E4M3:
		b = b[:len(v)]
		for i, x := range v {
			b[i] = float32ToE4M3(x)
		}
	case schema.FP8E5M2:
		b = b[:len(v)]
		for i, x := range v {
			b[i] = float32ToE5M2(x)
		}
	}
}

// encodeFloat64s writes v as floats of type t into b. The narrow types round
// straight from float64 (no double rounding through float32).
func encodeFloat64s(t schema.DataType, b []byte, v []float64) {
	switch t {
	case schema.FP64:
		for i, x := range v {
			binary.LittleEndian.PutUint64(b[8*i:], math.Float64bits(x))
		}
	case schema.FP32:
		for i, x := range v {
			binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(float32(x)))
		}
	case schema.FP16:
		for i, x := range v {
			binary.LittleEndian.PutUint16(b[2*i:], fp16Format.fromFloat64(x))
		}
	case schema.FP8E4M3:
		for i, x := range v {
			b[i] = uint8(e4m3Format.fromFloat64(x))
		}
	case schema.FP8E5M2:
		for i, x := range v {
			b[i] = uint8(e5m2Format.fromFloat64(x))
		}
	}
}

// Bit-packed booleans: bit k of a section is bit k%8 (least significant
// first) of byte k/8.

func getBit(b []byte, k int) bool { return b[k>>3]>>(k&7)&1 == 1 }

func setBit(b []byte, k int, v bool) {
	if v {
		b[k>>3] |= 1 << (k & 7)
	} else {
		b[k>>3] &^= 1 << (k & 7)
	}
}

// Decoders. Each reads n elements of type t from b (for Bool: n bits from bit
// offset off of b) and appends them to dst converted as Go converts.

// appendFloat32s appends n elements of numeric type t at b, converted to float32.
func appendFloat32s(dst []float32, t schema.DataType, b []byte, n int) []float32 {
	switch t {
	case schema.FP32:
		dst = slices.Grow(dst, n)
		getFloat32s(dst[len(dst):len(dst)+n], b)
		return dst[:len(dst)+n]
	case schema.FP16:
		dst = slices.Grow(dst, n)
		readFP16s(dst[len(dst):len(dst)+n], b)
		return dst[:len(dst)+n]
	}
	return appendConverted(dst, t, b, n)
}

// readFloat32s is appendFloat32s into a slice of exactly n elements, the
// dense-row fast path.
func readFloat32s(dst []float32, t schema.DataType, b []byte) {
	switch t {
	case schema.FP32:
		getFloat32s(dst, b)
	case schema.FP16:
		readFP16s(dst, b)
	default:
		appendConverted(dst[:0], t, b, len(dst))
	}
}

// readFP16s reads len(dst) FP16 values from b into dst.
func readFP16s(dst []float32, b []byte) {
	b = b[:2*len(dst)]
	for i := range dst {
		h := binary.LittleEndian.Uint16(b[2*i:])
		f, ok := fp16NormalToFloat32(h)
		if !ok {
			f = fp16SpecialToFloat32(h)
		}
		dst[i] = f
	}
}

// appendConverted handles the types other than FP32 and FP16.
func appendConverted[F float32 | float64](dst []F, t schema.DataType, b []byte, n int) []F {
	size := t.Size()
	b = b[:size*n]
	for i := range n {
		var v F
		switch t {
		case schema.FP64:
			v = F(math.Float64frombits(binary.LittleEndian.Uint64(b[8*i:])))
		case schema.FP32:
			v = F(math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:])))
		case schema.FP16:
			v = F(fp16ToFloat32(binary.LittleEndian.Uint16(b[2*i:])))
		case schema.FP8E4M3:
			v = F(e4m3Table[b[i]])
		case schema.FP8E5M2:
			v = F(e5m2Table[b[i]])
		case schema.Int8:
			v = F(int8(b[i]))
		case schema.Int16:
			v = F(int16(binary.LittleEndian.Uint16(b[2*i:])))
		case schema.Int32:
			v = F(int32(binary.LittleEndian.Uint32(b[4*i:])))
		case schema.Int64:
			v = F(int64(binary.LittleEndian.Uint64(b[8*i:])))
		case schema.Uint8:
			v = F(b[i])
		case schema.Uint16:
			v = F(binary.LittleEndian.Uint16(b[2*i:]))
		case schema.Uint32:
			v = F(binary.LittleEndian.Uint32(b[4*i:]))
		case schema.Uint64:
			v = F(binary.LittleEndian.Uint64(b[8*i:]))
		}
		dst = append(dst, v)
	}
	return dst
}

// appendFloat64s appends n elements of numeric type t at b, converted to float64.
func appendFloat64s(dst []float64, t schema.DataType, b []byte, n int) []float64 {
	if t == schema.FP64 {
		b = b[:8*n]
		for i := range n {
			dst = append(dst, math.Float64frombits(binary.LittleEndian.Uint64(b[8*i:])))
		}
		return dst
	}
	return appendConverted(dst, t, b, n)
}

// getUint returns element i of integer type t at b, zero-extended.
func getUint(t schema.DataType, b []byte, i int) uint64 {
	switch t.Size() {
	case 1:
		return uint64(b[i])
	case 2:
		return uint64(binary.LittleEndian.Uint16(b[2*i:]))
	case 4:
		return uint64(binary.LittleEndian.Uint32(b[4*i:]))
	default:
		return binary.LittleEndian.Uint64(b[8*i:])
	}
}

// getInt returns element i of integer type t at b, sign-extended for the
// signed types.
func getInt(t schema.DataType, b []byte, i int) int64 {
	switch t {
	case schema.Int8:
		return int64(int8(b[i]))
	case schema.Int16:
		return int64(int16(binary.LittleEndian.Uint16(b[2*i:])))
	case schema.Int32:
		return int64(int32(binary.LittleEndian.Uint32(b[4*i:])))
	default:
		return int64(getUint(t, b, i))
	}
}

// appendBoolsAsFloat32 appends n bits from bit offset off of b as 0 or 1.
func appendBoolsAsFloat32(dst []float32, b []byte, off, n int) []float32 {
	for k := off; k < off+n; k++ {
		dst = append(dst, float32(b[k>>3]>>(k&7)&1))
	}
	return dst
}
