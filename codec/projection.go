package codec

import (
	"cmp"
	"fmt"
	"slices"

	"github.com/ofstack/ofs/schema"
)

// Projection is a prepared read of some columns of a feature group's active
// schema version from blocks written with any of the group's versions. It
// maps each wanted column onto every version's layout once, so that reading
// a block costs no lookups: a column present in the block's version is read
// at a precomputed offset, a column absent from it reads as the active
// version's default.
//
// A column is present in a version when that version has a column of the
// same Name, Type and Len; a column whose type or length changed between
// versions reads as the default, never as reinterpreted bytes.
//
// A Projection is immutable and safe for concurrent use.
type Projection struct {
	active *Layout
	cols   []int // wanted columns of active, in output order
	width  int   // values of all wanted columns, vectors flattened
	dense  bool  // no String column: ReadFloat32s works
	fixed  bool  // only fixed-width columns: AppendRaw works
	plans  []plan
	defs   plan // every column from the defaults
}

// plan is where each wanted column of a projection is in blocks of one
// schema version.
type plan struct {
	layout *Layout // the block's layout; nil in the defaults plan
	srcs   []source
	runs   []run // the fixed-width and bool columns, merged where contiguous
}

// source is where a wanted column's values are.
type source struct {
	buf int // fromBlock or fromDefaults
	// off is as column.off, in the block's layout or the active one.
	off int
}

const (
	fromBlock    = 0
	fromDefaults = 1
)

// run is a stretch of values of one type that are contiguous both in a
// buffer and in a dense row.
type run struct {
	buf  int
	typ  schema.DataType
	off  int // byte offset, or bit offset for Bool
	dst  int // index of the first value in the row
	n    int // values
	size int // bytes per value, 0 for Bool
}

// NewProjection prepares reads of the columns cols (indexes into active, in
// the order the reads return them; nil for all) from blocks written with
// active or any of versions. versions may include active.
func NewProjection(active *Layout, versions []*Layout, cols []int) (*Projection, error) {
	if cols == nil {
		cols = make([]int, active.Len())
		for i := range cols {
			cols[i] = i
		}
	}
	p := &Projection{active: active, cols: slices.Clone(cols), dense: true, fixed: true}
	for _, ci := range p.cols {
		if ci < 0 || ci >= active.Len() {
			return nil, fmt.Errorf("%w: projection of column %d, version %d has %d", ErrLayout, ci, active.version, active.Len())
		}
		c := active.cols[ci]
		p.width += c.n
		p.dense = p.dense && c.Type != schema.String
		p.fixed = p.fixed && c.Type.Size() > 0
	}

	layouts := append([]*Layout{active}, versions...)
	slices.SortStableFunc(layouts, func(a, b *Layout) int { return cmp.Compare(a.version, b.version) })
	for i, l := range layouts {
		if i > 0 && l.version == layouts[i-1].version {
			if l != layouts[i-1] {
				return nil, fmt.Errorf("%w: two layouts of version %d", ErrLayout, l.version)
			}
			continue
		}
		p.plans = append(p.plans, p.plan(l))
	}
	p.defs = p.plan(nil)
	return p, nil
}

// plan maps the wanted columns onto blocks of layout l (nil: none, all
// defaults).
func (p *Projection) plan(l *Layout) plan {
	pl := plan{layout: l, srcs: make([]source, len(p.cols))}
	dst := 0
	for i, ci := range p.cols {
		c := p.active.cols[ci]
		s := source{buf: fromDefaults, off: c.off}
		if l != nil {
			if j, ok := l.byName[c.Name]; ok && l.cols[j].Type == c.Type && l.cols[j].Len == c.Len {
				s = source{buf: fromBlock, off: l.cols[j].off}
			}
		}
		pl.srcs[i] = s
		if c.Type != schema.String {
			r := run{buf: s.buf, typ: c.Type, off: s.off, dst: dst, n: c.n, size: c.Type.Size()}
			if k := len(pl.runs) - 1; k >= 0 && pl.runs[k].follows(r) {
				pl.runs[k].n += r.n
			} else {
				pl.runs = append(pl.runs, r)
			}
		}
		dst += c.n
	}
	return pl
}

// follows reports whether r continues q in both the buffer and the row.
func (q run) follows(r run) bool {
	end := q.off + q.n*q.size
	if q.typ == schema.Bool {
		end = q.off + q.n
	}
	return q.buf == r.buf && q.typ == r.typ && end == r.off && q.dst+q.n == r.dst
}

// find returns the plan for blocks of schema version v.
func (p *Projection) find(v uint32) *plan {
	// Groups have few versions: a linear scan beats a map.
	for i := range p.plans {
		if p.plans[i].layout.version == v {
			return &p.plans[i]
		}
	}
	return nil
}

// Active returns the layout whose columns the projection reads.
func (p *Projection) Active() *Layout { return p.active }

// Len returns the number of projected columns.
func (p *Projection) Len() int { return len(p.cols) }

// Column returns the active column of projected column i.
func (p *Projection) Column(i int) Column { return p.active.cols[p.cols[i]].Column }

// Width returns the number of values of all projected columns, vectors
// flattened: the length of a row for Reader.ReadFloat32s.
func (p *Projection) Width() int { return p.width }
