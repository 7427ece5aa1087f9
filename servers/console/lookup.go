package console

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/ofstack/ofs/codec"
	"github.com/ofstack/ofs/internal/blocks"
	"github.com/ofstack/ofs/schema"
	"github.com/ofstack/ofs/views"
)

// groupValues is what a key has in one feature group.
type groupValues struct {
	Group     string
	Found     bool
	Tier      string
	Version   uint32 // of the block; 0 without one
	Active    uint32
	EventTime time.Time
	Expiry    string
	Problem   string // a block that did not read: defaults are shown
	Values    []namedValue
}

type namedValue struct {
	Name, Type, Value string
}

var layouts blocks.Cache

// lookupKey reads every feature group of entity e for the key values, one
// Locate per store.
func (s *Server) lookupKey(ctx context.Context, snap *schema.Snapshot, e *schema.Entity, values []string) ([]groupValues, error) {
	if err := e.CheckKey(values); err != nil {
		return nil, err
	}
	key := views.Key{Entity: e.Name, Values: values}
	groups := snap.FeatureGroupsOf(e.Name)
	byStore := map[string][]int{}
	var order []string
	for i, g := range groups {
		if _, ok := byStore[g.Store]; !ok {
			order = append(order, g.Store)
		}
		byStore[g.Store] = append(byStore[g.Store], i)
	}
	out := make([]groupValues, len(groups))
	now := s.now()
	for _, st := range order {
		idx := byStore[st]
		loc, err := s.readers(st)
		if err != nil {
			return nil, fmt.Errorf("store %s: %w", st, err)
		}
		ids := make([]uint32, len(idx))
		for n, i := range idx {
			ids[n] = groups[i].ID
		}
		bs, tiers, err := loc.Locate(ctx, key, ids)
		if err != nil {
			return nil, fmt.Errorf("store %s: %w", st, err)
		}
		for n, i := range idx {
			gv, err := decodeGroup(groups[i], bs[n], now)
			if err != nil {
				return nil, err
			}
			gv.Tier = tiers[n].String()
			out[i] = gv
		}
	}
	return out, nil
}

func decodeGroup(g *schema.FeatureGroup, block []byte, now time.Time) (groupValues, error) {
	gv := groupValues{Group: g.Name, Active: g.Active().Number}
	ls, err := layouts.Layouts(g)
	if err != nil {
		return gv, err
	}
	active := ls[len(ls)-1]
	cols := make([]int, active.Len())
	for i := range cols {
		cols[i] = i
	}
	p, err := codec.NewProjection(active, ls, cols)
	if err != nil {
		return gv, err
	}
	var r codec.Reader
	if block == nil {
		r.OpenDefaults(p)
	} else if err := r.Open(block, p, now.UnixMicro()); err != nil {
		if errors.Is(err, codec.ErrExpired) {
			gv.Problem = "the block is expired: defaults are served"
		} else {
			gv.Problem = "the block does not read (" + err.Error() + "): defaults are served"
		}
	}
	if r.Found() {
		h := r.Header()
		gv.Found, gv.Version, gv.EventTime = true, h.SchemaVersion, time.UnixMicro(h.EventTime).UTC()
		if h.Expiry == codec.NeverExpires {
			gv.Expiry = "never"
		} else {
			gv.Expiry = time.UnixMicro(h.Expiry).UTC().Format(time.RFC3339)
		}
	}
	for i := range p.Len() {
		c := p.Column(i)
		gv.Values = append(gv.Values, namedValue{Name: c.Name, Type: shape(c), Value: cell(&r, i, c)})
	}
	return gv, nil
}

func shape(c codec.Column) string {
	if c.Len == 0 {
		return c.Type.String()
	}
	return fmt.Sprintf("%s[%d]", c.Type, c.Len)
}

// cell formats the value of column i.
func cell(r *codec.Reader, i int, c codec.Column) string {
	if c.Len > 0 {
		var parts []string
		switch {
		case c.Type == schema.Bool:
			for _, b := range r.AppendBools(nil, i) {
				parts = append(parts, strconv.FormatBool(b))
			}
		case c.Type == schema.String:
			for _, s := range r.AppendStrings(nil, i) {
				parts = append(parts, strconv.Quote(s))
			}
		case c.Type.IsFloat():
			for _, f := range r.AppendFloat64s(nil, i) {
				parts = append(parts, formatFloat(f, c.Type))
			}
		case c.Type.IsSigned():
			for _, v := range r.AppendInt64s(nil, i) {
				parts = append(parts, strconv.FormatInt(v, 10))
			}
		default:
			for _, v := range r.AppendUint64s(nil, i) {
				parts = append(parts, strconv.FormatUint(v, 10))
			}
		}
		return "[" + strings.Join(parts, ", ") + "]"
	}
	switch {
	case c.Type == schema.Bool:
		return strconv.FormatBool(r.Bool(i))
	case c.Type == schema.String:
		return strconv.Quote(r.String(i))
	case c.Type.IsFloat():
		return formatFloat(r.Float64(i), c.Type)
	case c.Type.IsSigned():
		return strconv.FormatInt(r.Int64(i), 10)
	}
	return strconv.FormatUint(r.Uint64(i), 10)
}

func formatFloat(f float64, t schema.DataType) string {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return strconv.FormatFloat(f, 'g', -1, 64)
	}
	bits := 64
	if t != schema.FP64 {
		bits = 32
	}
	return strconv.FormatFloat(f, 'g', -1, bits)
}
