package blocks

import (
	"math"
	"reflect"
	"testing"
	"time"

	"github.com/ofstack/ofs/codec"
	"github.com/ofstack/ofs/schema"
)

func TestLayoutDefaultsReadBack(t *testing.T) {
	v := schema.NewVersion(3, 1, time.Unix(0, 0), []schema.Feature{
		{Name: "b", Type: schema.Bool, Default: schema.BoolValue(true)},
		{Name: "i", Type: schema.Int16, Default: schema.IntValue(-7)},
		{Name: "u", Type: schema.Uint64, Default: schema.UintValue(math.MaxUint64)},
		{Name: "f", Type: schema.FP16, VectorLength: 3, Default: schema.FloatValue(0.5)},
		{Name: "s", Type: schema.String, VectorLength: 2, Default: schema.StringValue("x")},
		{Name: "z", Type: schema.FP32}, // no default: zero
	})
	l, err := NewLayout(v)
	if err != nil {
		t.Fatal(err)
	}
	if l.Version() != 3 || l.Len() != 6 {
		t.Fatalf("layout version %d with %d columns, want 3 and 6", l.Version(), l.Len())
	}
	if l.Column(5).Default != nil {
		t.Fatalf("a zero default is encoded as %v, want nil (the codec's zero)", l.Column(5).Default)
	}
	p, err := codec.NewProjection(l, []*codec.Layout{l}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var r codec.Reader
	r.OpenDefaults(p)
	got := []any{r.Bool(0), r.Int64(1), r.Uint64(2), r.AppendFloat64s(nil, 3), r.AppendStrings(nil, 4), r.Float32(5)}
	want := []any{true, int64(-7), uint64(math.MaxUint64), []float64{0.5, 0.5, 0.5}, []string{"x", "x"}, float32(0)}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("defaults read back as %v, want %v", got, want)
	}
}

func TestCacheSharesLayouts(t *testing.T) {
	g := &schema.FeatureGroup{ID: 9, Versions: []*schema.Version{
		schema.NewVersion(1, 1, time.Unix(0, 0), []schema.Feature{{Name: "a", Type: schema.FP32}}),
		schema.NewVersion(2, 2, time.Unix(0, 0), []schema.Feature{{Name: "a", Type: schema.FP32}, {Name: "b", Type: schema.Int8}}),
	}}
	var c Cache
	ls, err := c.Layouts(g)
	if err != nil {
		t.Fatal(err)
	}
	if len(ls) != 2 || ls[0].Version() != 1 || ls[1].Len() != 2 {
		t.Fatalf("layouts %v", ls)
	}
	again, err := c.Layout(9, g.Versions[1])
	if err != nil || again != ls[1] {
		t.Fatalf("second lookup %p %v, want the cached %p", again, err, ls[1])
	}
}

func TestBadDefaultIsAnError(t *testing.T) {
	// A registry holds only defaults that fit; one that does not is an error,
	// never a silent zero.
	v := schema.NewVersion(1, 1, time.Unix(0, 0), []schema.Feature{{Name: "a", Type: schema.Int8, Default: schema.IntValue(300)}})
	if _, err := NewLayout(v); err == nil {
		t.Fatal("a default of 300 for int8 made a layout")
	}
}
