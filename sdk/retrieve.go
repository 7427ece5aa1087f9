package sdk

import (
	"context"
	"errors"
	"fmt"
	"sync"

	featurev1 "github.com/ofstack/ofs/proto/ofs/feature/v1"
	registryv1 "github.com/ofstack/ofs/proto/ofs/registry/v1"
)

// ErrNoColumn is returned by Result.Index for a name that is no column of
// the answer, or that names columns of several groups.
var ErrNoColumn = errors.New("sdk: no such column")

// Group selects features of one feature group; no features means all of the
// group's active version, in version order.
type Group struct {
	Name     string
	Features []string
}

// RetrieveRequest asks for the features of Groups for each key of Keys.
type RetrieveRequest struct {
	Entity string
	// Keys holds one key per row of the answer: its values in the entity's
	// key-column order, in canonical text (integers in decimal).
	Keys   [][]string
	Groups []Group
}

// Retrieve reads the latest values of the requested features, one row per
// key in request order. A value missing or expired reads as its feature's
// default; Result.Found tells which groups had a row.
//
// The answer comes in compact form (no message per row), and without its
// columns when the client holds them already: it keeps the columns of each
// request shape (entity, groups, features) for the registry revision they
// were answered at, and the server leaves them out while that revision is
// current.
func (c *Client) Retrieve(ctx context.Context, r RetrieveRequest) (*Result, error) {
	req := &featurev1.RetrieveRequest{Entity: r.Entity, Groups: make([]*featurev1.GroupSelection, len(r.Groups)), Compact: true}
	for i, g := range r.Groups {
		req.Groups[i] = &featurev1.GroupSelection{FeatureGroup: g.Name, Features: g.Features}
	}
	if len(r.Keys) > 0 {
		width := len(r.Keys[0])
		req.KeyValues = make([]string, 0, len(r.Keys)*width)
		for i, k := range r.Keys {
			if len(k) != width {
				return nil, fmt.Errorf("sdk: retrieve %s: key %d has %d values, key 0 has %d", r.Entity, i, len(k), width)
			}
			req.KeyValues = append(req.KeyValues, k...)
		}
	}
	shape := req.Shape()
	known := c.layouts.get(shape)
	if known != nil {
		req.ColumnsRevision = known.rev
	}
	resp, err := c.features.Retrieve(ctx, req)
	if err != nil {
		return nil, fmt.Errorf("sdk: retrieve %s: %w", r.Entity, err)
	}
	lay := known
	if known == nil || len(resp.GetColumns()) > 0 || resp.GetRegistryRevision() != known.rev {
		lay = newLayout(resp)
		c.layouts.put(shape, lay)
	}
	return newResult(resp, lay, len(req.GetGroups())), nil
}

// layout is what an answer's columns say, for every answer to requests of
// one shape at one registry revision.
type layout struct {
	rev     uint64
	columns []Column
	byName  map[string]int // "group.feature", and the bare name when unambiguous (else -1)
}

func newLayout(resp *featurev1.RetrieveResponse) *layout {
	l := &layout{rev: resp.GetRegistryRevision(), columns: make([]Column, len(resp.GetColumns())), byName: map[string]int{}}
	for i, c := range resp.GetColumns() {
		l.columns[i] = Column{Group: c.GetFeatureGroup(), Name: c.GetName(), Type: c.GetType(), VectorLength: int(c.GetVectorLength()), Offset: int(c.GetOffset())}
		l.byName[c.GetFeatureGroup()+"."+c.GetName()] = i
		if _, dup := l.byName[c.GetName()]; dup {
			l.byName[c.GetName()] = -1
		} else {
			l.byName[c.GetName()] = i
		}
	}
	return l
}

// layouts keeps the layout of each request shape a client has asked for.
type layouts struct {
	mu     sync.Mutex
	shapes map[string]*layout
}

// maxShapes bounds the layouts a client keeps: an application asks a
// handful of shapes, one per model; past the bound they are all dropped.
const maxShapes = 1024

func (ls *layouts) get(shape string) *layout {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	return ls.shapes[shape]
}

func (ls *layouts) put(shape string, l *layout) {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	if ls.shapes == nil || len(ls.shapes) >= maxShapes {
		ls.shapes = make(map[string]*layout)
	}
	ls.shapes[shape] = l
}

// Column describes one column of a Result.
type Column struct {
	Group string
	Name  string
	// Type is the feature's data type; the value is read from the dense
	// matrix of its class (FP32 for floats of up to 32 bits, FP64, INT64 for
	// signed integers and bools, UINT64) or from the row's strings.
	Type registryv1.DataType
	// VectorLength is 0 for a scalar, else the vector's length.
	VectorLength int
	// Offset is the column's first element within a row of its matrix
	// (Float32Matrix and the others), or for a string its index among the
	// row's strings.
	Offset int
}

// Result is the answer of Retrieve. Accessors take a row and a column index
// (see Index) and panic on an index out of range, like a slice.
type Result struct {
	resp    *featurev1.RetrieveResponse
	columns []Column
	byName  map[string]int
	groups  int
	rows    int
	strings int       // string elements per row, in the compact form
	mats    [4]matrix // by class
}

// compact reports whether the answer is in compact form: found flags and
// strings in the answer itself, no Row messages.
func (r *Result) compact() bool { return len(r.resp.GetFound()) > 0 }

// The matrix classes.
const (
	classF32 = iota
	classF64
	classI64
	classU64
	classString = -1
)

// newResult reads resp, the answer in either form to a request of groups
// groups, whose columns l describes.
func newResult(resp *featurev1.RetrieveResponse, l *layout, groups int) *Result {
	r := &Result{resp: resp, columns: l.columns, byName: l.byName, groups: groups}
	switch {
	case r.compact() && groups > 0:
		r.rows = len(resp.GetFound()) / groups
	default:
		r.rows = len(resp.GetRows())
	}
	if r.rows > 0 {
		r.strings = len(resp.GetStrings()) / r.rows
	}
	for _, m := range resp.GetMatrices() {
		if cl := class(m.GetType()); cl >= 0 {
			r.mats[cl] = matrix{data: m.GetData(), width: int(m.GetWidth())}
		}
	}
	return r
}

// Len is the number of rows.
func (r *Result) Len() int { return r.rows }

// Columns describes the columns, in the order of the request's groups and
// features. The slice is shared by the answers of one request shape: do not
// modify it.
func (r *Result) Columns() []Column { return r.columns }

// Revision is the registry revision the request was resolved against.
func (r *Result) Revision() uint64 { return r.resp.GetRegistryRevision() }

// Index returns the index of the column named "group.feature", or of the
// feature name alone when a single group of the answer has it.
func (r *Result) Index(name string) (int, error) {
	i, ok := r.byName[name]
	if !ok || i < 0 {
		if ok {
			return 0, fmt.Errorf("%w: %q is in several groups; write group.%s", ErrNoColumn, name, name)
		}
		return 0, fmt.Errorf("%w: %q", ErrNoColumn, name)
	}
	return i, nil
}

// Found reports whether a row of the request's group was found, unexpired,
// for the row's key; when not, its columns hold the defaults.
func (r *Result) Found(row, group int) bool {
	if r.compact() {
		if row < 0 || row >= r.rows || group < 0 || group >= r.groups {
			panic(fmt.Sprintf("sdk: Found(%d, %d) of %d rows of %d groups", row, group, r.rows, r.groups))
		}
		return r.resp.GetFound()[row*r.groups+group]
	}
	return r.resp.GetRows()[row].GetFound()[group]
}

// cell locates the first element of a column in a row.
func (r *Result) cell(row, col int) (cl, idx int) {
	c := &r.columns[col]
	cl = class(c.Type)
	if cl == classString {
		return cl, c.Offset
	}
	return cl, row*r.mats[cl].width + c.Offset
}

// Float64 returns a numeric or bool column's value (its first element for a
// vector) as a float64.
func (r *Result) Float64(row, col int) float64 {
	cl, i := r.cell(row, col)
	switch cl {
	case classF32:
		return float64(r.mats[cl].f32(i))
	case classF64:
		return r.mats[cl].f64(i)
	case classI64:
		return float64(r.mats[cl].i64(i))
	case classU64:
		return float64(r.mats[cl].u64(i))
	}
	panic(r.notNumeric(col))
}

// Float32 returns a numeric or bool column's value as a float32.
func (r *Result) Float32(row, col int) float32 {
	cl, i := r.cell(row, col)
	if cl == classF32 {
		return r.mats[cl].f32(i)
	}
	return float32(r.Float64(row, col))
}

// Int64 returns a numeric or bool column's value as an int64; floats are
// truncated toward zero.
func (r *Result) Int64(row, col int) int64 {
	cl, i := r.cell(row, col)
	switch cl {
	case classI64:
		return r.mats[cl].i64(i)
	case classU64:
		return int64(r.mats[cl].u64(i)) //nolint:gosec // documented two's complement reading of large uint64 values
	}
	return int64(r.Float64(row, col))
}

// Uint64 returns a numeric or bool column's value as a uint64.
func (r *Result) Uint64(row, col int) uint64 {
	cl, i := r.cell(row, col)
	switch cl {
	case classU64:
		return r.mats[cl].u64(i)
	case classI64:
		return uint64(r.mats[cl].i64(i)) //nolint:gosec // documented two's complement reading of negative values
	}
	return uint64(r.Float64(row, col))
}

// Bool returns whether a numeric or bool column's value is not zero.
func (r *Result) Bool(row, col int) bool { return r.Float64(row, col) != 0 }

// String returns a string column's value, or the text of a numeric one.
func (r *Result) String(row, col int) string {
	cl, i := r.cell(row, col)
	switch c := r.columns[col]; {
	case cl == classString:
		if r.compact() {
			if row < 0 || row >= r.rows {
				panic(fmt.Sprintf("sdk: row %d of %d", row, r.rows))
			}
			return r.resp.GetStrings()[row*r.strings+i]
		}
		return r.resp.GetRows()[row].GetStrings()[i]
	case c.Type == registryv1.DataType_DATA_TYPE_BOOL:
		return fmt.Sprint(r.Bool(row, col))
	case cl == classI64:
		return fmt.Sprint(r.Int64(row, col))
	case cl == classU64:
		return fmt.Sprint(r.Uint64(row, col))
	default:
		return fmt.Sprint(r.Float64(row, col))
	}
}

// Float32s returns a vector column's elements in a row (one element for a
// scalar). For a column of the FP32 matrix it is a view of the answer, not a
// copy: do not modify it.
func (r *Result) Float32s(row, col int) []float32 {
	cl, i := r.cell(row, col)
	n := max(r.columns[col].VectorLength, 1)
	if cl == classF32 && r.mats[cl].inPlace(4) {
		data, _, _ := r.Float32Matrix()
		return data[i : i+n : i+n]
	}
	out := make([]float32, n)
	for j := range out {
		switch cl {
		case classF32:
			out[j] = r.mats[cl].f32(i + j)
		case classF64:
			out[j] = float32(r.mats[cl].f64(i + j))
		case classI64:
			out[j] = float32(r.mats[cl].i64(i + j))
		case classU64:
			out[j] = float32(r.mats[cl].u64(i + j))
		default:
			panic(r.notNumeric(col))
		}
	}
	return out
}

func (r *Result) notNumeric(col int) string {
	c := r.columns[col]
	return fmt.Sprintf("sdk: column %s.%s is a %s column, not numeric", c.Group, c.Name, c.Type)
}

func class(t registryv1.DataType) int {
	switch t {
	case registryv1.DataType_DATA_TYPE_FP64:
		return classF64
	case registryv1.DataType_DATA_TYPE_FP32, registryv1.DataType_DATA_TYPE_FP16,
		registryv1.DataType_DATA_TYPE_FP8E4M3, registryv1.DataType_DATA_TYPE_FP8E5M2:
		return classF32
	case registryv1.DataType_DATA_TYPE_UINT8, registryv1.DataType_DATA_TYPE_UINT16,
		registryv1.DataType_DATA_TYPE_UINT32, registryv1.DataType_DATA_TYPE_UINT64:
		return classU64
	case registryv1.DataType_DATA_TYPE_STRING:
		return classString
	default: // bool and signed integers
		return classI64
	}
}
