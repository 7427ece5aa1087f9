// Package blocks joins the registry's schema to the block codec: it derives
// the codec.Layout of a feature group version from the version's columns and
// caches it per (feature group id, version). Versions are immutable and
// group ids never reused, so a cached layout never goes stale. The ingest
// processor encodes blocks with these layouts; the feature server reads
// with them.
package blocks

import (
	"fmt"
	"slices"
	"sync"

	"github.com/ofstack/ofs/codec"
	"github.com/ofstack/ofs/schema"
)

// Columns returns the codec columns of v, in block order, with each default
// encoded as the codec stores it (a vector's default repeated for each
// element).
func Columns(v *schema.Version) ([]codec.Column, error) {
	cols := v.Columns()
	out := make([]codec.Column, len(cols))
	for i, c := range cols {
		d, err := Default(c)
		if err != nil {
			return nil, err
		}
		out[i] = codec.Column{Name: c.Name, Type: c.Type, Len: c.VectorLength, Default: d}
	}
	return out, nil
}

// Default encodes the default of column c as codec.Column.Default: nil when
// it is the zero value of the type (the codec's own default).
func Default(c schema.Column) ([]byte, error) {
	n := max(c.VectorLength, 1)
	d, err := c.Default.ConvertTo(c.Type)
	if err != nil {
		return nil, fmt.Errorf("blocks: feature %q: %w", c.Name, err)
	}
	if d == schema.ZeroValue(c.Type) {
		return nil, nil
	}
	switch {
	case c.Type == schema.Bool:
		return codec.DefaultBools(repeat(d.Bool(), n)...), nil
	case c.Type == schema.String:
		return codec.DefaultStrings(repeat(d.Str(), n)...), nil
	case c.Type.IsSigned():
		return codec.DefaultInts(c.Type, repeat(d.Int(), n)...)
	case c.Type.IsUnsigned():
		return codec.DefaultUints(c.Type, repeat(d.Uint(), n)...)
	case c.Type.IsFloat():
		return codec.DefaultFloats(c.Type, repeat(d.Float(), n)...)
	}
	return nil, fmt.Errorf("blocks: feature %q has data type %v", c.Name, c.Type)
}

func repeat[T any](v T, n int) []T {
	return slices.Repeat([]T{v}, n)
}

// NewLayout returns the layout of version v.
func NewLayout(v *schema.Version) (*codec.Layout, error) {
	cols, err := Columns(v)
	if err != nil {
		return nil, err
	}
	l, err := codec.NewLayout(v.Number, cols)
	if err != nil {
		return nil, fmt.Errorf("blocks: version %d: %w", v.Number, err)
	}
	return l, nil
}

// ID names one version of one feature group.
type ID struct {
	Group   uint32
	Version uint32
}

// Cache holds the layouts of the versions it was asked for. It is safe for
// concurrent use; the zero Cache is ready.
type Cache struct {
	m sync.Map // ID -> *codec.Layout
}

// Layout returns the layout of version v of the group with id group,
// building it on first use.
func (c *Cache) Layout(group uint32, v *schema.Version) (*codec.Layout, error) {
	id := ID{group, v.Number}
	if l, ok := c.m.Load(id); ok {
		return l.(*codec.Layout), nil
	}
	l, err := NewLayout(v)
	if err != nil {
		return nil, fmt.Errorf("feature group %d: %w", group, err)
	}
	got, _ := c.m.LoadOrStore(id, l)
	return got.(*codec.Layout), nil
}

// Layouts returns the layouts of every version of g, oldest first: what a
// codec.Projection needs to read blocks of any of them.
func (c *Cache) Layouts(g *schema.FeatureGroup) ([]*codec.Layout, error) {
	out := make([]*codec.Layout, len(g.Versions))
	for i, v := range g.Versions {
		l, err := c.Layout(g.ID, v)
		if err != nil {
			return nil, err
		}
		out[i] = l
	}
	return out, nil
}
