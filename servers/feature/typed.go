package feature

import (
	"encoding/binary"
	"math"

	featurev1 "github.com/ofstack/ofs/proto/ofs/feature/v1"
	"github.com/ofstack/ofs/schema"
)

// addTypedValues fills rows[].values of the n rows of resp from its
// matrices and from strs, the strings of every row (row-major): one Value
// per cell, for people and scripts. A compact answer gets a Row per key
// that holds only its values.
func addTypedValues(resp *featurev1.RetrieveResponse, p *plan, n int, strs []string) {
	var cols []colPlan
	for _, g := range p.groups {
		cols = append(cols, g.cols...)
	}
	if len(resp.Rows) == 0 && n > 0 {
		resp.Rows = make([]*featurev1.Row, n)
		for i := range resp.Rows {
			resp.Rows[i] = new(featurev1.Row)
		}
	}
	for i, row := range resp.GetRows() {
		row.Values = make([]*featurev1.Value, len(cols))
		for c, cp := range cols {
			row.Values[c] = typedValue(resp, p, i, cp, strs[i*p.strings:(i+1)*p.strings])
		}
	}
}

func typedValue(resp *featurev1.RetrieveResponse, p *plan, row int, cp colPlan, rowStrings []string) *featurev1.Value {
	if cp.class == classString {
		s := rowStrings[cp.off : cp.off+cp.n]
		if cp.n == 1 && !cp.vector() {
			return &featurev1.Value{Kind: &featurev1.Value_StringValue{StringValue: s[0]}}
		}
		return &featurev1.Value{Kind: &featurev1.Value_StringList{StringList: &featurev1.StringList{Values: append([]string(nil), s...)}}}
	}
	data := resp.GetMatrices()[p.matrix[cp.class]].GetData()
	size := 8
	if cp.class == classFP32 {
		size = 4
	}
	start := (row*p.width[cp.class] + cp.off) * size
	elem := func(k int) uint64 {
		if size == 4 {
			return uint64(binary.LittleEndian.Uint32(data[start+4*k:]))
		}
		return binary.LittleEndian.Uint64(data[start+8*k:])
	}
	if !cp.vector() {
		switch {
		case cp.class == classFP32:
			return &featurev1.Value{Kind: &featurev1.Value_FloatValue{FloatValue: math.Float32frombits(uint32(elem(0)))}}
		case cp.class == classFP64:
			return &featurev1.Value{Kind: &featurev1.Value_DoubleValue{DoubleValue: math.Float64frombits(elem(0))}}
		case cp.typ == schema.Bool:
			return &featurev1.Value{Kind: &featurev1.Value_BoolValue{BoolValue: elem(0) != 0}}
		case cp.class == classInt64:
			return &featurev1.Value{Kind: &featurev1.Value_Int64Value{Int64Value: int64(elem(0))}}
		default:
			return &featurev1.Value{Kind: &featurev1.Value_Uint64Value{Uint64Value: elem(0)}}
		}
	}
	switch {
	case cp.class == classFP32:
		v := make([]float32, cp.n)
		for k := range v {
			v[k] = math.Float32frombits(uint32(elem(k)))
		}
		return &featurev1.Value{Kind: &featurev1.Value_FloatList{FloatList: &featurev1.FloatList{Values: v}}}
	case cp.class == classFP64:
		v := make([]float64, cp.n)
		for k := range v {
			v[k] = math.Float64frombits(elem(k))
		}
		return &featurev1.Value{Kind: &featurev1.Value_DoubleList{DoubleList: &featurev1.DoubleList{Values: v}}}
	case cp.typ == schema.Bool:
		v := make([]bool, cp.n)
		for k := range v {
			v[k] = elem(k) != 0
		}
		return &featurev1.Value{Kind: &featurev1.Value_BoolList{BoolList: &featurev1.BoolList{Values: v}}}
	case cp.class == classInt64:
		v := make([]int64, cp.n)
		for k := range v {
			v[k] = int64(elem(k))
		}
		return &featurev1.Value{Kind: &featurev1.Value_Int64List{Int64List: &featurev1.Int64List{Values: v}}}
	default:
		v := make([]uint64, cp.n)
		for k := range v {
			v[k] = elem(k)
		}
		return &featurev1.Value{Kind: &featurev1.Value_Uint64List{Uint64List: &featurev1.Uint64List{Values: v}}}
	}
}
