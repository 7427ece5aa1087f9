package sdk

import (
	"errors"
	"fmt"

	featurev1 "github.com/ofstack/ofs/proto/ofs/feature/v1"
)

// ErrValue is returned for a key or feature value of a Go type that has no
// feature event form.
var ErrValue = errors.New("sdk: unsupported value")

// value converts a Go value to a feature event Value: bool, string, the
// integer kinds, float32, float64, and slices of them.
func value(v any) (*featurev1.Value, error) {
	switch x := v.(type) {
	case bool:
		return &featurev1.Value{Kind: &featurev1.Value_BoolValue{BoolValue: x}}, nil
	case string:
		return &featurev1.Value{Kind: &featurev1.Value_StringValue{StringValue: x}}, nil
	case int:
		return i64(int64(x)), nil
	case int8:
		return i64(int64(x)), nil
	case int16:
		return i64(int64(x)), nil
	case int32:
		return i64(int64(x)), nil
	case int64:
		return i64(x), nil
	case uint:
		return u64(uint64(x)), nil
	case uint8:
		return u64(uint64(x)), nil
	case uint16:
		return u64(uint64(x)), nil
	case uint32:
		return u64(uint64(x)), nil
	case uint64:
		return u64(x), nil
	case float32:
		return &featurev1.Value{Kind: &featurev1.Value_FloatValue{FloatValue: x}}, nil
	case float64:
		return &featurev1.Value{Kind: &featurev1.Value_DoubleValue{DoubleValue: x}}, nil
	case []bool:
		return &featurev1.Value{Kind: &featurev1.Value_BoolList{BoolList: &featurev1.BoolList{Values: x}}}, nil
	case []string:
		return &featurev1.Value{Kind: &featurev1.Value_StringList{StringList: &featurev1.StringList{Values: x}}}, nil
	case []int:
		return i64s(x), nil
	case []int32:
		return i64s(x), nil
	case []int64:
		return &featurev1.Value{Kind: &featurev1.Value_Int64List{Int64List: &featurev1.Int64List{Values: x}}}, nil
	case []uint32:
		return u64s(x), nil
	case []uint64:
		return &featurev1.Value{Kind: &featurev1.Value_Uint64List{Uint64List: &featurev1.Uint64List{Values: x}}}, nil
	case []float32:
		return &featurev1.Value{Kind: &featurev1.Value_FloatList{FloatList: &featurev1.FloatList{Values: x}}}, nil
	case []float64:
		return &featurev1.Value{Kind: &featurev1.Value_DoubleList{DoubleList: &featurev1.DoubleList{Values: x}}}, nil
	}
	return nil, fmt.Errorf("%w: %T", ErrValue, v)
}

func i64(v int64) *featurev1.Value {
	return &featurev1.Value{Kind: &featurev1.Value_Int64Value{Int64Value: v}}
}
func u64(v uint64) *featurev1.Value {
	return &featurev1.Value{Kind: &featurev1.Value_Uint64Value{Uint64Value: v}}
}

func i64s[T int | int32](xs []T) *featurev1.Value {
	l := &featurev1.Int64List{Values: make([]int64, len(xs))}
	for i, x := range xs {
		l.Values[i] = int64(x)
	}
	return &featurev1.Value{Kind: &featurev1.Value_Int64List{Int64List: l}}
}

func u64s(xs []uint32) *featurev1.Value {
	l := &featurev1.Uint64List{Values: make([]uint64, len(xs))}
	for i, x := range xs {
		l.Values[i] = uint64(x)
	}
	return &featurev1.Value{Kind: &featurev1.Value_Uint64List{Uint64List: l}}
}

// values converts a map of Go values, naming the bad one.
func values(what string, m map[string]any) (map[string]*featurev1.Value, error) {
	out := make(map[string]*featurev1.Value, len(m))
	for k, v := range m {
		pv, err := value(v)
		if err != nil {
			return nil, fmt.Errorf("%s %q: %w", what, k, err)
		}
		out[k] = pv
	}
	return out, nil
}
