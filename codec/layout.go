package codec

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"slices"

	"github.com/ofstack/ofs/schema"
)

// Column is one feature of a schema version as a block stores it.
type Column struct {
	// Name identifies the feature across the versions of its group: a
	// projection reads a feature from a block when the block's version has a
	// column of the same Name, Type and Len.
	Name string
	// Type is the data type of each value.
	Type schema.DataType
	// Len is 0 for a scalar and n > 0 for a fixed-length vector of n values.
	Len int
	// Default is the value of the feature in blocks whose version lacks it,
	// encoded exactly as the column's value is in a block (see formats.md):
	// Size()·n little-endian bytes for a fixed-width type, ⌈n/8⌉ bytes of bits
	// for Bool, n uvarint-length-prefixed strings for String. Nil means the
	// zero value. The Default* functions build it.
	Default []byte
}

// elems is the number of values of the column: 1 for a scalar.
func (c Column) elems() int { return max(c.Len, 1) }

// Layout is the ordered columns of one schema version of a feature group, and
// where each sits in a block's payload. A Layout is immutable and safe for
// concurrent use; build one per schema version and share it.
//
// The logical order is the order of the columns given to NewLayout (the
// schema's feature order); column indexes everywhere refer to it. The payload
// order groups the columns by kind so that every fixed-width value is at a
// precomputed offset: first the fixed-width columns by decreasing value size
// (8, 4, 2, 1 bytes; logical order within a size, so every value is aligned
// to its size relative to the payload start), then all booleans bit-packed,
// then the strings.
type Layout struct {
	version uint32
	cols    []column
	scalars []scalarSlot // per column, for the setters' fast paths
	// fp32Run[i] is the number of scalar FP32 columns from column i on that
	// sit back to back in the payload: what SetFloat32Columns copies at once.
	fp32Run   []int
	byName    map[string]int
	fixedSize int // bytes of fixed-width values
	boolBits  int // bits of booleans
	headSize  int // fixedSize + ⌈boolBits/8⌉: where the strings start
	nStrings  int // string values, vector elements included
	// defaults holds the head of a payload (fixed-width and bool sections)
	// filled with every column's default; defStrings the string slots'.
	defaults       []byte
	defStrings     []string
	defStringBytes [][]byte // defStrings as bytes, for the Reader
	minPayload     int      // headSize plus one length byte per string
}

// scalarSlot is the compact form of a column that the scalar setters check:
// its type if it is a scalar (Invalid for a vector), and its offset.
type scalarSlot struct {
	typ schema.DataType
	off uint32
}

// column is a Column and its place in the payload.
type column struct {
	Column
	n int // values: max(Len, 1)
	// off is a byte offset in the payload for fixed-width columns, a bit
	// offset in the payload for Bool, and the first string slot for String.
	off int
}

// maxVectorLen bounds Column.Len so that sizes never overflow an int.
const maxVectorLen = 1 << 24

// NewLayout returns the layout of schema version version with the columns
// cols, in the schema's feature order. It validates the columns and their
// defaults and copies them.
func NewLayout(version uint32, cols []Column) (*Layout, error) {
	l := &Layout{
		version: version,
		cols:    make([]column, len(cols)),
		byName:  make(map[string]int, len(cols)),
	}
	for i, c := range cols {
		switch {
		case c.Name == "":
			return nil, fmt.Errorf("%w: version %d column %d has no name", ErrLayout, version, i)
		case !c.Type.Valid():
			return nil, fmt.Errorf("%w: version %d column %q has data type %v", ErrLayout, version, c.Name, c.Type)
		case c.Len < 0 || c.Len > maxVectorLen:
			return nil, fmt.Errorf("%w: version %d column %q has vector length %d", ErrLayout, version, c.Name, c.Len)
		}
		if _, dup := l.byName[c.Name]; dup {
			return nil, fmt.Errorf("%w: version %d has two columns named %q", ErrLayout, version, c.Name)
		}
		l.byName[c.Name] = i
		c.Default = slices.Clone(c.Default)
		l.cols[i] = column{Column: c, n: c.elems()}
	}

	// Fixed-width columns by decreasing size, stable in logical order.
	fixed := make([]int, 0, len(cols))
	for i, c := range l.cols {
		if c.Type.Size() > 0 {
			fixed = append(fixed, i)
		}
	}
	slices.SortStableFunc(fixed, func(a, b int) int {
		return cmp.Compare(l.cols[b].Type.Size(), l.cols[a].Type.Size())
	})
	for _, i := range fixed {
		c := &l.cols[i]
		c.off = l.fixedSize
		l.fixedSize += c.Type.Size() * c.n
	}
	for i := range l.cols {
		c := &l.cols[i]
		switch c.Type {
		case schema.Bool:
			c.off = l.fixedSize*8 + l.boolBits
			l.boolBits += c.n
		case schema.String:
			c.off = l.nStrings
			l.nStrings += c.n
		}
	}
	l.scalars = make([]scalarSlot, len(l.cols))
	for i, c := range l.cols {
		if c.Len == 0 {
			l.scalars[i] = scalarSlot{typ: c.Type, off: uint32(c.off)}
		}
	}
	l.fp32Run = make([]int, len(l.cols))
	for i := len(l.cols) - 1; i >= 0; i-- {
		c := l.cols[i]
		if c.Type != schema.FP32 || c.Len != 0 {
			continue
		}
		l.fp32Run[i] = 1
		if i+1 < len(l.cols) && l.fp32Run[i+1] > 0 && l.cols[i+1].off == c.off+4 {
			l.fp32Run[i] += l.fp32Run[i+1]
		}
	}
	l.headSize = l.fixedSize + (l.boolBits+7)/8
	l.minPayload = l.headSize + l.nStrings
	if l.minPayload > MaxPayloadSize {
		return nil, fmt.Errorf("%w: version %d needs %d bytes, more than %d", ErrLayout, version, l.minPayload, MaxPayloadSize)
	}

	l.defaults = make([]byte, l.headSize)
	l.defStrings = make([]string, l.nStrings)
	for _, c := range l.cols {
		if err := l.setDefault(c); err != nil {
			return nil, err
		}
	}
	l.defStringBytes = make([][]byte, l.nStrings)
	for k, s := range l.defStrings {
		l.defStringBytes[k] = []byte(s)
	}
	return l, nil
}

// setDefault validates c.Default and writes it into l's defaults.
func (l *Layout) setDefault(c column) error {
	d := c.Default
	if len(d) == 0 {
		return nil // the zero value, already there
	}
	bad := func(why string) error {
		return fmt.Errorf("%w: version %d column %q: default %s", ErrLayout, l.version, c.Name, why)
	}
	switch c.Type {
	case schema.Bool:
		if len(d) != (c.n+7)/8 {
			return bad(fmt.Sprintf("has %d bytes, want %d", len(d), (c.n+7)/8))
		}
		if c.n%8 != 0 && d[len(d)-1]>>(c.n%8) != 0 {
			return bad("has bits set past its length")
		}
		for k := range c.n {
			setBit(l.defaults, c.off+k, getBit(d, k))
		}
	case schema.String:
		for k := range c.n {
			s, rest, err := readString(d)
			if err != nil {
				return bad(fmt.Sprintf("element %d: %v", k, err))
			}
			l.defStrings[c.off+k] = string(s)
			d = rest
		}
		if len(d) != 0 {
			return bad(fmt.Sprintf("has %d bytes after its %d strings", len(d), c.n))
		}
	default:
		if want := c.Type.Size() * c.n; len(d) != want {
			return bad(fmt.Sprintf("has %d bytes, want %d", len(d), want))
		}
		copy(l.defaults[c.off:], d)
	}
	return nil
}

// Version returns the schema version the layout describes.
func (l *Layout) Version() uint32 { return l.version }

// Len returns the number of columns.
func (l *Layout) Len() int { return len(l.cols) }

// Column returns column i (in logical order). The Default shares memory with
// the layout and must not be modified.
func (l *Layout) Column(i int) Column { return l.cols[i].Column }

// Index returns the index of the column named name.
func (l *Layout) Index(name string) (int, bool) {
	i, ok := l.byName[name]
	return i, ok
}

// readString reads one uvarint-length-prefixed string from the start of b and
// returns it and the rest of b. It accepts only the shortest encoding of the
// length, so that every string has exactly one encoding.
func readString(b []byte) (s, rest []byte, err error) {
	n, k := binary.Uvarint(b)
	switch {
	case k == 0:
		return nil, nil, fmt.Errorf("%w: string length cut short", ErrCorrupt)
	case k < 0 || n > MaxPayloadSize:
		return nil, nil, fmt.Errorf("%w: string length overflows", ErrCorrupt)
	case k != uvarintLen(n):
		return nil, nil, fmt.Errorf("%w: string length %d not minimally encoded", ErrCorrupt, n)
	case n > uint64(len(b)-k):
		return nil, nil, fmt.Errorf("%w: string of %d bytes, %d left", ErrCorrupt, n, len(b)-k)
	}
	end := k + int(n)
	return b[k:end:end], b[end:], nil
}

// uvarintLen is the length of the shortest uvarint encoding of v.
func uvarintLen(v uint64) int {
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}

// Helpers that encode Column.Default values. Each returns the bytes that a
// Builder writes for the same values, so a default reads back exactly.

// DefaultBools encodes the default of a Bool column (one value per element).
func DefaultBools(v ...bool) []byte {
	b := make([]byte, (len(v)+7)/8)
	for k, x := range v {
		setBit(b, k, x)
	}
	return b
}

// DefaultInts encodes the default of a signed or unsigned integer column of
// type t. It returns ErrRange if a value does not fit t.
func DefaultInts(t schema.DataType, v ...int64) ([]byte, error) {
	if !isInt(t) {
		return nil, typeError(t, "int64")
	}
	b := make([]byte, t.Size()*len(v))
	if err := encodeInt64s(t, b, v); err != nil {
		return nil, err
	}
	return b, nil
}

// DefaultUints encodes the default of an integer column of type t from
// unsigned values (for Uint64 values above math.MaxInt64).
func DefaultUints(t schema.DataType, v ...uint64) ([]byte, error) {
	if !isInt(t) {
		return nil, typeError(t, "uint64")
	}
	b := make([]byte, t.Size()*len(v))
	if err := encodeUint64s(t, b, v); err != nil {
		return nil, err
	}
	return b, nil
}

// DefaultFloats encodes the default of a floating-point column of type t,
// rounding as a Builder does.
func DefaultFloats(t schema.DataType, v ...float64) ([]byte, error) {
	if !t.IsFloat() {
		return nil, typeError(t, "float64")
	}
	b := make([]byte, t.Size()*len(v))
	encodeFloat64s(t, b, v)
	return b, nil
}

// DefaultStrings encodes the default of a String column.
func DefaultStrings(v ...string) []byte {
	var b []byte
	for _, s := range v {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	return b
}

func typeError(t schema.DataType, goType string) error {
	return fmt.Errorf("%w: %s value for a %s column", ErrType, goType, t)
}

func rangeError[T int64 | uint64](t schema.DataType, v T) error {
	return fmt.Errorf("%w: %d does not fit %s", ErrRange, v, t)
}
