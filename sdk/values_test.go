package sdk

import (
	"errors"
	"testing"

	"google.golang.org/protobuf/proto"

	featurev1 "github.com/ofstack/ofs/proto/ofs/feature/v1"
)

func TestValue(t *testing.T) {
	for _, tc := range []struct {
		in   any
		want *featurev1.Value
	}{
		{true, &featurev1.Value{Kind: &featurev1.Value_BoolValue{BoolValue: true}}},
		{"DE", &featurev1.Value{Kind: &featurev1.Value_StringValue{StringValue: "DE"}}},
		{-3, i64(-3)},
		{int8(-3), i64(-3)},
		{int32(7), i64(7)},
		{uint16(7), u64(7)},
		{uint64(1 << 63), u64(1 << 63)},
		{float32(0.5), &featurev1.Value{Kind: &featurev1.Value_FloatValue{FloatValue: 0.5}}},
		{0.25, &featurev1.Value{Kind: &featurev1.Value_DoubleValue{DoubleValue: 0.25}}},
		{[]int{1, -2}, &featurev1.Value{Kind: &featurev1.Value_Int64List{Int64List: &featurev1.Int64List{Values: []int64{1, -2}}}}},
		{[]uint32{4}, &featurev1.Value{Kind: &featurev1.Value_Uint64List{Uint64List: &featurev1.Uint64List{Values: []uint64{4}}}}},
		{[]float32{1, 2}, &featurev1.Value{Kind: &featurev1.Value_FloatList{FloatList: &featurev1.FloatList{Values: []float32{1, 2}}}}},
		{[]string{"a"}, &featurev1.Value{Kind: &featurev1.Value_StringList{StringList: &featurev1.StringList{Values: []string{"a"}}}}},
		{[]bool{false}, &featurev1.Value{Kind: &featurev1.Value_BoolList{BoolList: &featurev1.BoolList{Values: []bool{false}}}}},
	} {
		got, err := value(tc.in)
		if err != nil || !proto.Equal(got, tc.want) {
			t.Errorf("value(%#v) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
	for _, bad := range []any{nil, struct{}{}, map[string]int{}, []any{1}, complex(1, 2)} {
		if _, err := value(bad); !errors.Is(err, ErrValue) {
			t.Errorf("value(%#v): %v, want ErrValue", bad, err)
		}
	}
}

func TestKeyText(t *testing.T) {
	for in, want := range map[any]string{42: "42", int64(-7): "-7", uint64(1<<64 - 1): "18446744073709551615", "a/b": "a/b"} {
		if got, err := keyText(in); err != nil || got != want {
			t.Errorf("keyText(%#v) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []any{1.5, true, []int{1}} {
		if _, err := keyText(bad); !errors.Is(err, ErrValue) {
			t.Errorf("keyText(%#v): %v, want ErrValue", bad, err)
		}
	}
}
