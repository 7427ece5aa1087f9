package answer

import (
	"testing"

	featurev1 "github.com/ofstack/ofs/proto/ofs/feature/v1"
)

func TestTextValue(t *testing.T) {
	long := &featurev1.Value{Kind: &featurev1.Value_FloatList{FloatList: &featurev1.FloatList{Values: []float32{0.1, 1, 2, 3, 4, 5, 6, 7, 8, 9}}}}
	for _, tc := range []struct {
		v    *featurev1.Value
		full bool
		want string
	}{
		{long, false, "[0.1 1 2 3 4 5 6 7 …]"},
		{long, true, "[0.1 1 2 3 4 5 6 7 8 9]"},
		{&featurev1.Value{Kind: &featurev1.Value_DoubleValue{DoubleValue: 0.1}}, false, "0.1"},
		{&featurev1.Value{Kind: &featurev1.Value_Int64Value{Int64Value: -3}}, false, "-3"},
		{&featurev1.Value{Kind: &featurev1.Value_StringValue{StringValue: "a b"}}, false, `"a b"`},
		{&featurev1.Value{Kind: &featurev1.Value_StringValue{StringValue: ""}}, false, `""`},
		{&featurev1.Value{Kind: &featurev1.Value_StringList{StringList: &featurev1.StringList{Values: []string{"x", "y"}}}}, false, `["x" "y"]`},
		{&featurev1.Value{Kind: &featurev1.Value_BoolList{BoolList: &featurev1.BoolList{Values: []bool{true, false}}}}, false, "[true false]"},
	} {
		if got := textValue(tc.v, tc.full); got != tc.want {
			t.Errorf("textValue(%v, %v) = %q, want %q", tc.v, tc.full, got, tc.want)
		}
	}
}
