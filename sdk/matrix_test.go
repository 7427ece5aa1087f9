package sdk

import (
	"encoding/binary"
	"math"
	"testing"
	"unsafe"

	featurev1 "github.com/ofstack/ofs/proto/ofs/feature/v1"
	registryv1 "github.com/ofstack/ofs/proto/ofs/registry/v1"
)

// answer is a two-row answer with an fp32 vector of 2 and an int64 column,
// its matrices starting skew bytes into their buffers.
func answer(skew int) *featurev1.RetrieveResponse {
	f32 := make([]byte, skew+16)[skew:]
	for i, v := range []float32{1.5, -2, 3.25, 4} {
		binary.LittleEndian.PutUint32(f32[4*i:], math.Float32bits(v))
	}
	i64 := make([]byte, skew+16)[skew:]
	binary.LittleEndian.PutUint64(i64, uint64(7))
	binary.LittleEndian.PutUint64(i64[8:], math.MaxUint64) // -1
	return &featurev1.RetrieveResponse{
		Columns: []*featurev1.Column{
			{FeatureGroup: "g", Name: "v", Type: registryv1.DataType_DATA_TYPE_FP32, VectorLength: 2, Matrix: 0},
			{FeatureGroup: "g", Name: "n", Type: registryv1.DataType_DATA_TYPE_INT32, Matrix: 1},
		},
		Matrices: []*featurev1.DenseMatrix{
			{Type: registryv1.DataType_DATA_TYPE_FP32, Width: 2, Data: f32},
			{Type: registryv1.DataType_DATA_TYPE_INT64, Width: 1, Data: i64},
		},
		Rows: []*featurev1.Row{{Found: []bool{true}}, {Found: []bool{false}}},
	}
}

func TestMatrixViews(t *testing.T) {
	for _, tc := range []struct {
		name   string
		skew   int
		little bool
		view   bool
	}{
		{"aligned", 0, true, true},
		{"unaligned", 1, true, false},
		{"big endian host", 0, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if !littleEndian && tc.little {
				t.Skip("a view needs a little-endian host") // the copies are tested on every host
			}
			defer func(v bool) { littleEndian = v }(littleEndian)
			littleEndian = tc.little
			resp := answer(tc.skew)
			r := newResult(resp, newLayout(resp), 1)
			data, rows, width := r.Float32Matrix()
			if rows != 2 || width != 2 || len(data) != 4 || data[0] != 1.5 || data[3] != 4 {
				t.Fatalf("Float32Matrix = %v, %d, %d", data, rows, width)
			}
			shared := unsafe.Pointer(&data[0]) == unsafe.Pointer(&resp.GetMatrices()[0].GetData()[0])
			if shared != tc.view {
				t.Fatalf("Float32Matrix shares the answer's bytes: %v, want %v", shared, tc.view)
			}
			ints, _, _ := r.Int64Matrix()
			if len(ints) != 2 || ints[0] != 7 || ints[1] != -1 {
				t.Fatalf("Int64Matrix = %v", ints)
			}
			if v := r.Float32s(1, 0); len(v) != 2 || v[0] != 3.25 || v[1] != 4 {
				t.Fatalf("Float32s(1, v) = %v", v)
			}
			if r.Int64(1, 1) != -1 || r.Float64(0, 1) != 7 || r.String(1, 1) != "-1" || !r.Found(0, 0) || r.Found(1, 0) {
				t.Fatal("typed accessors disagree with the matrices")
			}
			if f, _, w := r.Float64Matrix(); f != nil || w != 0 {
				t.Fatalf("Float64Matrix of an answer without fp64 = %v, width %d", f, w)
			}
		})
	}
}

func TestIndex(t *testing.T) {
	resp := answer(0)
	resp.Columns = append(resp.Columns, &featurev1.Column{FeatureGroup: "h", Name: "v", Type: registryv1.DataType_DATA_TYPE_STRING, Matrix: -1})
	r := newResult(resp, newLayout(resp), 1)
	for name, want := range map[string]int{"g.v": 0, "n": 1, "g.n": 1, "h.v": 2, "v": -1, "x": -1} {
		got, err := r.Index(name)
		if (err != nil) != (want < 0) || (err == nil && got != want) {
			t.Errorf("Index(%q) = %d, %v; want %d", name, got, err, want)
		}
	}
}
