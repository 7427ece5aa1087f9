package schema

import (
	"math"
	"testing"
)

func TestIntRange(t *testing.T) {
	for typ, want := range map[DataType][2]any{
		Int8: {int64(math.MinInt8), uint64(math.MaxInt8)}, Int64: {int64(math.MinInt64), uint64(math.MaxInt64)},
		Uint16: {int64(0), uint64(math.MaxUint16)}, Uint64: {int64(0), uint64(math.MaxUint64)},
		FP32: {int64(0), uint64(0)}, String: {int64(0), uint64(0)},
	} {
		lo, hi := typ.IntRange()
		if lo != want[0] || hi != want[1] {
			t.Errorf("%s.IntRange() = %d, %d; want %v", typ, lo, hi, want)
		}
	}
}
