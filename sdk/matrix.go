package sdk

import (
	"encoding/binary"
	"math"
	"unsafe"
)

// littleEndian says whether the host stores numbers as the answer does, so
// that a matrix's bytes can be read in place.
var littleEndian = binary.NativeEndian.Uint16([]byte{1, 0}) == 1

// matrix is one dense matrix of the answer: width elements a row,
// little-endian.
type matrix struct {
	data  []byte
	width int
}

func (m matrix) f32(i int) float32 {
	return math.Float32frombits(binary.LittleEndian.Uint32(m.data[4*i:]))
}
func (m matrix) f64(i int) float64 {
	return math.Float64frombits(binary.LittleEndian.Uint64(m.data[8*i:]))
}
func (m matrix) i64(i int) int64 {
	return int64(binary.LittleEndian.Uint64(m.data[8*i:])) //nolint:gosec // the bits of an int64
}
func (m matrix) u64(i int) uint64 { return binary.LittleEndian.Uint64(m.data[8*i:]) }

// Float32Matrix returns the FP32 matrix of the answer (every column of fp32,
// fp16 and fp8 features, widened to fp32), row-major: element (row, j) is
// data[row*width+j], and a column's elements start at its Column.Offset.
// With no such column data is nil and width 0.
//
// On a little-endian host whose answer bytes are 4-byte aligned (what the
// protobuf decoder allocates), data is a view of the answer, not a copy:
// it lives as long as the Result and must not be modified. Otherwise (a
// big-endian host, or unaligned bytes) it is a copy.
func (r *Result) Float32Matrix() (data []float32, rows, width int) {
	return view[float32](r.mats[classF32], math.Float32frombits, binary.LittleEndian.Uint32), r.Len(), r.mats[classF32].width
}

// Float64Matrix returns the FP64 matrix of the answer, as Float32Matrix
// does the FP32 one (8-byte alignment for the view).
func (r *Result) Float64Matrix() (data []float64, rows, width int) {
	return view[float64](r.mats[classF64], math.Float64frombits, binary.LittleEndian.Uint64), r.Len(), r.mats[classF64].width
}

// Int64Matrix returns the INT64 matrix of the answer: the signed integer
// columns, and bools as 0 or 1; as Float32Matrix does the FP32 one.
func (r *Result) Int64Matrix() (data []int64, rows, width int) {
	return view[int64](r.mats[classI64], func(u uint64) int64 { return int64(u) }, binary.LittleEndian.Uint64), r.Len(), r.mats[classI64].width //nolint:gosec // the bits of an int64
}

// Uint64Matrix returns the UINT64 matrix of the answer: the unsigned integer
// columns; as Float32Matrix does the FP32 one.
func (r *Result) Uint64Matrix() (data []uint64, rows, width int) {
	return view[uint64](r.mats[classU64], func(u uint64) uint64 { return u }, binary.LittleEndian.Uint64), r.Len(), r.mats[classU64].width
}

// view reinterprets m's bytes as elements of T in place when the host and
// the alignment allow it, else decodes a copy.
func view[T float32 | float64 | int64 | uint64, U uint32 | uint64](m matrix, conv func(U) T, load func([]byte) U) []T {
	size := int(unsafe.Sizeof(T(0)))
	n := len(m.data) / size
	if n == 0 {
		return nil
	}
	if m.inPlace(size) {
		return unsafe.Slice((*T)(unsafe.Pointer(unsafe.SliceData(m.data))), n)
	}
	out := make([]T, n)
	for i := range out {
		out[i] = conv(load(m.data[i*size:]))
	}
	return out
}

// inPlace reports whether m's bytes can be read as elements of size bytes
// without copying.
func (m matrix) inPlace(size int) bool {
	return littleEndian && uintptr(unsafe.Pointer(unsafe.SliceData(m.data)))%uintptr(size) == 0
}
