package publish

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"google.golang.org/protobuf/types/known/timestamppb"

	featurev1 "github.com/ofstack/ofs/proto/ofs/feature/v1"
	"github.com/ofstack/ofs/schema"
)

// CSVError is a CSV cell that cannot be converted.
type CSVError struct {
	line   int
	column int // 1-based
	name   string
	reason string
}

func (e *CSVError) Error() string {
	return fmt.Sprintf("column %d (%s): %s", e.column, e.name, e.reason)
}

// csvColumn says what one CSV column holds.
type csvColumn struct {
	name    string
	key     int             // index of the key column, or -1
	feature *schema.Feature // nil for a key or event_time
}

// csvConverter turns CSV rows of one feature group into FeatureEvents, with
// each cell converted to the type of its feature.
type csvConverter struct {
	entity *schema.Entity
	group  *schema.FeatureGroup
	unit   time.Duration
	cols   []csvColumn
}

const csvEventTime = "event_time"

func newCSVConverter(snap *schema.Snapshot, entity, group string, header []string, unit time.Duration) (*csvConverter, error) {
	e, ok := snap.Entity(entity)
	if !ok {
		return nil, fmt.Errorf("entity %q is not in the registry (revision %d)", entity, snap.Revision())
	}
	g, ok := snap.FeatureGroup(group)
	if !ok {
		return nil, fmt.Errorf("feature group %q is not in the registry (revision %d)", group, snap.Revision())
	}
	if g.Entity != e.Name {
		return nil, fmt.Errorf("feature group %q belongs to entity %q, not %q", g.Name, g.Entity, e.Name)
	}
	c := &csvConverter{entity: e, group: g, unit: unit, cols: make([]csvColumn, len(header))}
	active := g.Active()
	seen := map[string]int{}
	for i, h := range header {
		name := strings.TrimSpace(h)
		if i == 0 {
			name = strings.TrimPrefix(name, "\uFEFF") // a byte order mark
		}
		if j, dup := seen[name]; dup {
			return nil, fmt.Errorf("csv header: column %d (%s) repeats column %d", i+1, name, j+1)
		}
		seen[name] = i
		col := csvColumn{name: name, key: -1}
		switch {
		case keyIndexOf(e, name) >= 0:
			col.key = keyIndexOf(e, name)
		case name == csvEventTime:
		default:
			f, ok := active.Feature(name)
			if !ok {
				return nil, fmt.Errorf("csv header: column %d (%s) is neither a key column of entity %q (%s), %s, nor a feature of %q version %d (%s)",
					i+1, name, e.Name, strings.Join(keyNamesOf(e), ", "), csvEventTime, g.Name, active.Number, strings.Join(featureNamesOf(active), ", "))
			}
			col.feature = f
		}
		c.cols[i] = col
	}
	for _, k := range e.Keys {
		if _, ok := seen[k.Name]; !ok {
			return nil, fmt.Errorf("csv header: no column for key %q of entity %q", k.Name, e.Name)
		}
	}
	return c, nil
}

func keyIndexOf(e *schema.Entity, name string) int {
	return slices.IndexFunc(e.Keys, func(k schema.KeyColumn) bool { return k.Name == name })
}

func keyNamesOf(e *schema.Entity) []string {
	out := make([]string, len(e.Keys))
	for i, k := range e.Keys {
		out[i] = k.Name
	}
	return out
}

func featureNamesOf(v *schema.Version) []string {
	out := make([]string, len(v.Features))
	for i := range v.Features {
		out[i] = v.Features[i].Name
	}
	return out
}

// convert turns one row into an event; it returns the key values in
// key-column order and canonical text. An error is a *CSVError.
func (c *csvConverter) convert(line int, rec []string) (*featurev1.FeatureEvent, []string, error) {
	if len(rec) != len(c.cols) {
		return nil, nil, fmt.Errorf("the row has %d fields, the header %d", len(rec), len(c.cols))
	}
	ev := &featurev1.FeatureEvent{
		Entity: c.entity.Name, FeatureGroup: c.group.Name,
		Keys:   make(map[string]*featurev1.Value, len(c.entity.Keys)),
		Values: make(map[string]*featurev1.Value, len(rec)),
	}
	keyValues := make([]string, len(c.entity.Keys))
	for i, cell := range rec {
		col := &c.cols[i]
		fail := func(format string, args ...any) error {
			return &CSVError{line: line, column: i + 1, name: col.name, reason: fmt.Sprintf(format, args...)}
		}
		switch {
		case col.key >= 0:
			k := c.entity.Keys[col.key]
			v, canon, why := csvKey(k.Type, cell)
			if why != "" {
				return nil, nil, fail("%s", why)
			}
			ev.Keys[k.Name] = v
			keyValues[col.key] = canon
		case col.feature == nil: // event_time
			if cell == "" {
				continue
			}
			t, why := c.eventTime(cell)
			if why != "" {
				return nil, nil, fail("%s", why)
			}
			ev.EventTime = timestamppb.New(t)
		default:
			if cell == "" {
				continue // the feature takes its default
			}
			v, why := csvValue(col.feature, cell)
			if why != "" {
				return nil, nil, fail("%s", why)
			}
			ev.Values[col.name] = v
		}
	}
	return ev, keyValues, nil
}

func (c *csvConverter) eventTime(cell string) (time.Time, string) {
	if t, err := time.Parse(time.RFC3339Nano, cell); err == nil {
		return t, ""
	}
	n, err := strconv.ParseInt(cell, 10, 64)
	if err != nil {
		return time.Time{}, fmt.Sprintf("%q is neither an RFC 3339 time nor an integer count of %v since the Unix epoch", clipCell(cell), c.unit)
	}
	if n > math.MaxInt64/int64(c.unit) || n < math.MinInt64/int64(c.unit) {
		return time.Time{}, fmt.Sprintf("%s %v since the Unix epoch is out of range", cell, c.unit)
	}
	return time.Unix(0, 0).Add(time.Duration(n) * c.unit).UTC(), ""
}

// csvKey converts a key cell: the protobuf value and the canonical text.
func csvKey(t schema.DataType, cell string) (*featurev1.Value, string, string) {
	if cell == "" {
		return nil, "", "the key is empty"
	}
	switch {
	case t == schema.String:
		if !utf8.ValidString(cell) {
			return nil, "", "the key is not valid UTF-8"
		}
		return &featurev1.Value{Kind: &featurev1.Value_StringValue{StringValue: cell}}, cell, ""
	case t.IsSigned():
		n, err := strconv.ParseInt(cell, 10, t.Size()*8)
		if err != nil {
			return nil, "", fmt.Sprintf("%q is not a %v key", clipCell(cell), t)
		}
		return &featurev1.Value{Kind: &featurev1.Value_Int64Value{Int64Value: n}}, strconv.FormatInt(n, 10), ""
	case t.IsUnsigned():
		n, err := strconv.ParseUint(cell, 10, t.Size()*8)
		if err != nil {
			return nil, "", fmt.Sprintf("%q is not a %v key", clipCell(cell), t)
		}
		return &featurev1.Value{Kind: &featurev1.Value_Uint64Value{Uint64Value: n}}, strconv.FormatUint(n, 10), ""
	}
	return nil, "", fmt.Sprintf("key type %v is not supported", t)
}

// csvValue converts a feature cell: a scalar in the text of its type, or a
// vector as a JSON array.
func csvValue(f *schema.Feature, cell string) (*featurev1.Value, string) {
	if !f.IsVector() {
		s, why := scalarOf(f.Type, cell)
		if why != "" {
			return nil, fmt.Sprintf("%s (feature %s is %s)", why, f.Name, f.Shape())
		}
		return s.proto(f.Type), ""
	}
	dec := json.NewDecoder(strings.NewReader(cell))
	dec.UseNumber()
	var elems []any
	if err := dec.Decode(&elems); err != nil || dec.More() {
		return nil, fmt.Sprintf("%q is not a JSON array (feature %s is %s, written like [1,2,3])", clipCell(cell), f.Name, f.Shape())
	}
	if len(elems) != f.VectorLength {
		return nil, fmt.Sprintf("the vector has %d elements, feature %s is %s", len(elems), f.Name, f.Shape())
	}
	list := newVectorOf(f.Type, len(elems))
	for i, e := range elems {
		var text string
		switch x := e.(type) {
		case json.Number:
			if f.Type == schema.String || f.Type == schema.Bool {
				return nil, fmt.Sprintf("element %d is a number, feature %s is %s", i, f.Name, f.Shape())
			}
			text = x.String()
		case string:
			if f.Type != schema.String {
				return nil, fmt.Sprintf("element %d is a string, feature %s is %s", i, f.Name, f.Shape())
			}
			text = x
		case bool:
			if f.Type != schema.Bool {
				return nil, fmt.Sprintf("element %d is a bool, feature %s is %s", i, f.Name, f.Shape())
			}
			text = strconv.FormatBool(x)
		default:
			return nil, fmt.Sprintf("element %d is %v, feature %s is %s", i, e, f.Name, f.Shape())
		}
		s, why := scalarOf(f.Type, text)
		if why != "" {
			return nil, fmt.Sprintf("element %d: %s (feature %s is %s)", i, why, f.Name, f.Shape())
		}
		list.add(s)
	}
	return list.proto(), ""
}

// scalar is one converted value, in the field its type uses.
type scalar struct {
	b bool
	i int64
	u uint64
	f float64
	s string
}

// scalarOf converts the text of one value of type t, with t's range.
func scalarOf(t schema.DataType, text string) (scalar, string) {
	switch {
	case t == schema.Bool:
		b, err := strconv.ParseBool(text)
		if err != nil {
			return scalar{}, fmt.Sprintf("%q is not a bool (true, false, 1 or 0)", clipCell(text))
		}
		return scalar{b: b}, ""
	case t == schema.String:
		if !utf8.ValidString(text) {
			return scalar{}, "the text is not valid UTF-8"
		}
		return scalar{s: text}, ""
	case t.IsSigned():
		n, err := strconv.ParseInt(text, 10, 64)
		if err != nil {
			return scalar{}, fmt.Sprintf("%q is not an integer", clipCell(text))
		}
		if _, err := schema.IntValue(n).ConvertTo(t); err != nil {
			return scalar{}, fmt.Sprintf("%d is out of the range of %v", n, t)
		}
		return scalar{i: n}, ""
	case t.IsUnsigned():
		n, err := strconv.ParseUint(text, 10, 64)
		if err != nil {
			return scalar{}, fmt.Sprintf("%q is not an unsigned integer", clipCell(text))
		}
		if _, err := schema.UintValue(n).ConvertTo(t); err != nil {
			return scalar{}, fmt.Sprintf("%d is out of the range of %v", n, t)
		}
		return scalar{u: n}, ""
	case t.IsFloat():
		x, err := strconv.ParseFloat(text, 64)
		if err != nil {
			return scalar{}, fmt.Sprintf("%q is not a number", clipCell(text))
		}
		if _, err := schema.FloatValue(x).ConvertTo(t); err != nil {
			return scalar{}, fmt.Sprintf("%s is out of the range of %v", text, t)
		}
		return scalar{f: x}, ""
	}
	return scalar{}, fmt.Sprintf("data type %v is not supported", t)
}

func (s scalar) proto(t schema.DataType) *featurev1.Value {
	switch {
	case t == schema.Bool:
		return &featurev1.Value{Kind: &featurev1.Value_BoolValue{BoolValue: s.b}}
	case t == schema.String:
		return &featurev1.Value{Kind: &featurev1.Value_StringValue{StringValue: s.s}}
	case t.IsSigned():
		return &featurev1.Value{Kind: &featurev1.Value_Int64Value{Int64Value: s.i}}
	case t.IsUnsigned():
		return &featurev1.Value{Kind: &featurev1.Value_Uint64Value{Uint64Value: s.u}}
	case t == schema.FP64:
		return &featurev1.Value{Kind: &featurev1.Value_DoubleValue{DoubleValue: s.f}}
	}
	return &featurev1.Value{Kind: &featurev1.Value_FloatValue{FloatValue: float32(s.f)}}
}

// vectorOf collects the elements of a vector in the list its type uses:
// FloatList for the floats of 32 bits and fewer.
type vectorOf struct {
	t  schema.DataType
	bs []bool
	is []int64
	us []uint64
	fs []float32
	ds []float64
	ss []string
}

func newVectorOf(t schema.DataType, n int) *vectorOf {
	v := &vectorOf{t: t}
	switch {
	case t == schema.Bool:
		v.bs = make([]bool, 0, n)
	case t == schema.String:
		v.ss = make([]string, 0, n)
	case t.IsSigned():
		v.is = make([]int64, 0, n)
	case t.IsUnsigned():
		v.us = make([]uint64, 0, n)
	case t == schema.FP64:
		v.ds = make([]float64, 0, n)
	default:
		v.fs = make([]float32, 0, n)
	}
	return v
}

func (v *vectorOf) add(s scalar) {
	switch {
	case v.t == schema.Bool:
		v.bs = append(v.bs, s.b)
	case v.t == schema.String:
		v.ss = append(v.ss, s.s)
	case v.t.IsSigned():
		v.is = append(v.is, s.i)
	case v.t.IsUnsigned():
		v.us = append(v.us, s.u)
	case v.t == schema.FP64:
		v.ds = append(v.ds, s.f)
	default:
		v.fs = append(v.fs, float32(s.f))
	}
}

func (v *vectorOf) proto() *featurev1.Value {
	switch {
	case v.t == schema.Bool:
		return &featurev1.Value{Kind: &featurev1.Value_BoolList{BoolList: &featurev1.BoolList{Values: v.bs}}}
	case v.t == schema.String:
		return &featurev1.Value{Kind: &featurev1.Value_StringList{StringList: &featurev1.StringList{Values: v.ss}}}
	case v.t.IsSigned():
		return &featurev1.Value{Kind: &featurev1.Value_Int64List{Int64List: &featurev1.Int64List{Values: v.is}}}
	case v.t.IsUnsigned():
		return &featurev1.Value{Kind: &featurev1.Value_Uint64List{Uint64List: &featurev1.Uint64List{Values: v.us}}}
	case v.t == schema.FP64:
		return &featurev1.Value{Kind: &featurev1.Value_DoubleList{DoubleList: &featurev1.DoubleList{Values: v.ds}}}
	}
	return &featurev1.Value{Kind: &featurev1.Value_FloatList{FloatList: &featurev1.FloatList{Values: v.fs}}}
}

// clipCell shortens a cell for a message.
func clipCell(s string) string { return schema.Clip(s, 40) }
