package codec

import (
	"encoding/binary"
	"fmt"
	"math"
	"slices"

	"github.com/ofstack/ofs/schema"
)

// Builder assembles the values of one row of a layout and encodes them as a
// PSDB block. It starts with every column at its default.
//
// The setters take a column index in the layout's logical order. A setter
// given a bad column, a value of the wrong type or range, or a vector of the
// wrong length records the first such error and ignores the rest of the
// calls' effects on that column; Err and Append report it. This keeps the hot
// path free of error checks per value, as bufio.Writer does.
//
// A Builder keeps references to the strings it is given until Reset or the
// next set of the same column. It is not safe for concurrent use; reuse one
// per goroutine with Reset.
type Builder struct {
	l       *Layout
	scalars []scalarSlot // l.scalars
	head    []byte       // fixed-width and bool sections
	strs    []string     // one per string slot
	err     error
}

// NewBuilder returns a Builder for rows of l, every column at its default.
func NewBuilder(l *Layout) *Builder {
	return &Builder{l: l, scalars: l.scalars, head: slices.Clone(l.defaults), strs: slices.Clone(l.defStrings)}
}

// Layout returns the builder's layout.
func (b *Builder) Layout() *Layout { return b.l }

// Reset sets every column back to its default and clears the error.
func (b *Builder) Reset() {
	copy(b.head, b.l.defaults)
	copy(b.strs, b.l.defStrings)
	b.err = nil
}

// Err returns the first error of a setter since the last Reset.
func (b *Builder) Err() error { return b.err }

// column returns column col if it exists, has a type of kind k and has n
// values; otherwise it records the error and returns nil.
func (b *Builder) column(col int, n int, k kind) *column {
	if col < 0 || col >= len(b.l.cols) {
		b.fail(fmt.Errorf("%w: column %d of %d", ErrLayout, col, len(b.l.cols)))
		return nil
	}
	c := &b.l.cols[col]
	switch {
	case kindOf(c.Type) != k:
		b.fail(fmt.Errorf("column %q: %w", c.Name, typeError(c.Type, k.goType())))
		return nil
	case n != c.n:
		b.fail(fmt.Errorf("%w: column %q has %d values, got %d", ErrLength, c.Name, c.n, n))
		return nil
	}
	return c
}

// scalarOff returns the offset of column col if it is a scalar of type t:
// the fast path of the scalar setters, small enough to inline.
func (b *Builder) scalarOff(col int, t schema.DataType) (int, bool) {
	if uint(col) < uint(len(b.scalars)) && b.scalars[col].typ == t {
		return int(b.scalars[col].off), true
	}
	return 0, false
}

// The scalar setters check b.scalars, one small entry per column, and write
// the value; anything unusual (an error, a vector of one) takes the checked
// path of the vector setters.

// kind is what the setters accept: every integer type takes int64 and
// uint64 values, every float type float32 and float64 values.
type kind uint8

const (
	kindBool kind = iota
	kindInt
	kindFloat
	kindString
)

func kindOf(t schema.DataType) kind {
	switch {
	case t == schema.Bool:
		return kindBool
	case t == schema.String:
		return kindString
	case t.IsFloat():
		return kindFloat
	}
	return kindInt
}

func (k kind) goType() string {
	return [...]string{kindBool: "bool", kindInt: "integer", kindFloat: "float", kindString: "string"}[k]
}

func (b *Builder) fail(err error) {
	if b.err == nil {
		b.err = err
	}
}

// SetBool sets a Bool column.
func (b *Builder) SetBool(col int, v bool) {
	if off, ok := b.scalarOff(col, schema.Bool); ok {
		setBit(b.head, off, v)
		return
	}
	if c := b.column(col, 1, kindBool); c != nil {
		setBit(b.head, c.off, v) // a vector of one
	}
}

// SetBools sets a Bool column to the len(v) values of v.
func (b *Builder) SetBools(col int, v []bool) {
	if c := b.column(col, len(v), kindBool); c != nil {
		for k, x := range v {
			setBit(b.head, c.off+k, x)
		}
	}
}

// SetInt64 sets an integer column (signed or unsigned) to v, or records
// ErrRange if v does not fit the column's type.
func (b *Builder) SetInt64(col int, v int64) {
	if uint(col) < uint(len(b.scalars)) {
		if s := b.scalars[col]; isInt(s.typ) {
			if lo, hi := s.typ.IntRange(); v >= lo && (v < 0 || uint64(v) <= hi) {
				putInt(s.typ, b.head[s.off:], uint64(v))
				return
			}
		}
	}
	b.SetInt64s(col, []int64{v}) // errors, and vectors of one
}

// SetInt64s sets an integer column to the values of v.
func (b *Builder) SetInt64s(col int, v []int64) {
	if c := b.column(col, len(v), kindInt); c != nil {
		if err := encodeInt64s(c.Type, b.head[c.off:], v); err != nil {
			b.fail(fmt.Errorf("column %q: %w", c.Name, err))
		}
	}
}

// SetUint64 sets an integer column (signed or unsigned) to v, or records
// ErrRange if v does not fit the column's type.
func (b *Builder) SetUint64(col int, v uint64) {
	if uint(col) < uint(len(b.scalars)) {
		if s := b.scalars[col]; isInt(s.typ) {
			if _, hi := s.typ.IntRange(); v <= hi {
				putInt(s.typ, b.head[s.off:], v)
				return
			}
		}
	}
	b.SetUint64s(col, []uint64{v})
}

// SetUint64s sets an integer column to the values of v.
func (b *Builder) SetUint64s(col int, v []uint64) {
	if c := b.column(col, len(v), kindInt); c != nil {
		if err := encodeUint64s(c.Type, b.head[c.off:], v); err != nil {
			b.fail(fmt.Errorf("column %q: %w", c.Name, err))
		}
	}
}

// SetFloat32 sets a floating-point column (FP8E4M3, FP8E5M2, FP16, FP32,
// FP64) to v, rounded to nearest even for the narrow types.
func (b *Builder) SetFloat32(col int, v float32) {
	if uint(col) < uint(len(b.scalars)) {
		s := b.scalars[col]
		switch s.typ {
		case schema.FP32:
			binary.LittleEndian.PutUint32(b.head[s.off:], math.Float32bits(v))
			return
		case schema.FP16:
			binary.LittleEndian.PutUint16(b.head[s.off:], float32ToFP16(v))
			return
		case schema.FP64:
			binary.LittleEndian.PutUint64(b.head[s.off:], math.Float64bits(float64(v)))
			return
		case schema.FP8E4M3:
			b.head[s.off] = float32ToE4M3(v)
			return
		case schema.FP8E5M2:
			b.head[s.off] = float32ToE5M2(v)
			return
		}
	}
	b.SetFloat32s(col, []float32{v})
}

// SetFloat32s sets a floating-point column to the values of v.
func (b *Builder) SetFloat32s(col int, v []float32) {
	if c := b.column(col, len(v), kindFloat); c != nil {
		encodeFloat32s(c.Type, b.head[c.off:], v)
	}
}

// SetFloat32Columns sets the len(v) scalar floating-point columns first,
// first+1, ... to the values of v: a row of numeric features, in schema
// order, in one call. Runs of FP32 columns are copied without per-column
// checks.
func (b *Builder) SetFloat32Columns(first int, v []float32) {
	if first >= 0 && first < len(b.l.fp32Run) && b.l.fp32Run[first] >= len(v) {
		putFloat32s(b.head[b.l.cols[first].off:], v)
		return
	}
	for i, x := range v {
		b.SetFloat32(first+i, x)
	}
}

// SetFloat64 sets a floating-point column to v, rounded to the column's type.
func (b *Builder) SetFloat64(col int, v float64) {
	if uint(col) < uint(len(b.scalars)) {
		if s := b.scalars[col]; s.typ.IsFloat() {
			encodeFloat64s(s.typ, b.head[s.off:], []float64{v})
			return
		}
	}
	b.SetFloat64s(col, []float64{v})
}

// SetFloat64s sets a floating-point column to the values of v.
func (b *Builder) SetFloat64s(col int, v []float64) {
	if c := b.column(col, len(v), kindFloat); c != nil {
		encodeFloat64s(c.Type, b.head[c.off:], v)
	}
}

// SetString sets a String column. The string holds any bytes.
func (b *Builder) SetString(col int, v string) {
	if off, ok := b.scalarOff(col, schema.String); ok {
		b.strs[off] = v
		return
	}
	if c := b.column(col, 1, kindString); c != nil {
		b.strs[c.off] = v // a vector of one
	}
}

// SetStrings sets a String column to the values of v.
func (b *Builder) SetStrings(col int, v []string) {
	if c := b.column(col, len(v), kindString); c != nil {
		copy(b.strs[c.off:], v)
	}
}

// payloadLen is the length of the uncompressed payload.
func (b *Builder) payloadLen() int {
	n := len(b.head)
	for _, s := range b.strs {
		n += uvarintLen(uint64(len(s))) + len(s)
	}
	return n
}

// appendPayload appends the uncompressed payload.
func (b *Builder) appendPayload(dst []byte) []byte {
	dst = append(dst, b.head...)
	for _, s := range b.strs {
		dst = binary.AppendUvarint(dst, uint64(len(s)))
		dst = append(dst, s...)
	}
	return dst
}

// Append appends to dst the uncompressed block of the row, with the given
// event time and expiry (microseconds since the Unix epoch; expiry
// NeverExpires for none), and returns the extended slice. It returns the
// first setter error, if any, and dst unchanged.
func (b *Builder) Append(dst []byte, eventTime, expiry int64) ([]byte, error) {
	if b.err != nil {
		return dst, b.err
	}
	n := b.payloadLen()
	if n > MaxPayloadSize {
		return dst, fmt.Errorf("%w: payload of %d bytes, limit %d", ErrTooLarge, n, MaxPayloadSize)
	}
	start := len(dst)
	dst = slices.Grow(dst, HeaderSize+n)[:start+HeaderSize]
	dst = b.appendPayload(dst)
	block := dst[start:]
	putHeader(block, compressionNone, b.l.version, eventTime, expiry, n)
	seal(block)
	return dst, nil
}

// AppendCompressed is Append with the payload compressed by zstd when that
// makes the block smaller; see Compress for when compression is tried.
func (b *Builder) AppendCompressed(dst []byte, eventTime, expiry int64) ([]byte, error) {
	if b.err != nil {
		return dst, b.err
	}
	n := b.payloadLen()
	if n < CompressThreshold {
		return b.Append(dst, eventTime, expiry)
	}
	if n > MaxPayloadSize {
		return dst, fmt.Errorf("%w: payload of %d bytes, limit %d", ErrTooLarge, n, MaxPayloadSize)
	}
	buf := bufPool.Get()
	defer bufPool.Put(buf)
	buf.B = b.appendPayload(buf.B[:0])
	return appendBlock(dst, b.l.version, eventTime, expiry, buf.B)
}
