package codec

import (
	"encoding/binary"
	"math"
	"unsafe"
)

// Blocks are little-endian on every host. On a little-endian host (amd64,
// arm64, ...) a []float32 already has the bytes of an FP32 column, so the
// bulk copies below are one memmove; elsewhere they convert value by value.

// nativeLE reports whether the host is little-endian.
var nativeLE = binary.NativeEndian.Uint16([]byte{1, 0}) == 1

// putFloat32s writes v as FP32 values into b[:4·len(v)].
func putFloat32s(b []byte, v []float32) {
	b = b[:4*len(v)]
	if nativeLE {
		copy(b, unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(v))), len(b)))
		return
	}
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
	}
}

// getFloat32s reads len(dst) FP32 values from b into dst.
func getFloat32s(dst []float32, b []byte) {
	b = b[:4*len(dst)]
	if nativeLE {
		copy(unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(dst))), len(b)), b)
		return
	}
	for i := range dst {
		dst[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
}
