package codec

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/ofstack/ofs/schema"
)

// Reader reads the projected columns of one block at a time. Open checks a
// block whole (header, checksum, and that the payload matches its version's
// layout), so the getters that follow cannot fail on the block's bytes. They
// read only the values asked for, and never allocate except String and
// AppendStrings.
//
// Getters take the index of a projected column (0 to Projection.Len()-1).
// They panic, as reflect.Value's do, when asked for a type the column cannot
// give (Float32 of a String column) or for a scalar of a vector column;
// which calls are valid follows from the projection's columns alone, never
// from a block.
//
// A Reader is not safe for concurrent use. Keep one per goroutine and reuse
// it: it keeps a decompression buffer and a string index between blocks.
type Reader struct {
	p       *Projection
	plan    *plan
	hdr     Header
	found   bool
	bufs    [2][]byte // the block's payload and the active layout's defaults
	strs    []uint32  // start and end in the payload of each string of the block
	scratch []byte    // the block's payload, decompressed
}

// Open sets r to read the projection p from block. On success the getters
// return the block's values, and the active defaults for the columns its
// version lacks.
//
// If the block is expired at now (microseconds since the Unix epoch), Open
// returns ErrExpired; a tool that shows expired blocks passes math.MinInt64. On that and on every other error r serves all of p's
// defaults, as OpenDefaults does, so a caller may serve defaults for a
// missing, expired or bad block alike after counting the error.
func (r *Reader) Open(block []byte, p *Projection, now int64) error {
	return r.open(block, p, now, Verify)
}

// OpenVerified is Open for a block whose checksum the caller has verified
// already (a cache that verifies blocks on their way in): it checks the
// header but not the checksum.
func (r *Reader) OpenVerified(block []byte, p *Projection, now int64) error {
	return r.open(block, p, now, ReadHeader)
}

func (r *Reader) open(block []byte, p *Projection, now int64, header func([]byte) (Header, error)) error {
	r.OpenDefaults(p)
	h, err := header(block)
	if err != nil {
		return err
	}
	r.hdr = h
	if h.Expired(now) {
		return ErrExpired
	}
	pl := p.find(h.SchemaVersion)
	if pl == nil {
		return fmt.Errorf("%w: block has version %d, the active version is %d", ErrUnknownVersion, h.SchemaVersion, p.active.version)
	}
	payload := block[HeaderSize:]
	if h.Compressed {
		if r.scratch, err = decompressPayload(r.scratch[:0], payload); err != nil {
			return err
		}
		payload = r.scratch
	}
	if err := r.index(pl.layout, payload); err != nil {
		return fmt.Errorf("version %d: %w", h.SchemaVersion, err)
	}
	r.plan, r.bufs[fromBlock], r.found = pl, payload, true
	return nil
}

// OpenDefaults sets r to serve the defaults of every column of p, as for a
// key that has no block.
func (r *Reader) OpenDefaults(p *Projection) {
	r.p, r.plan, r.hdr, r.found = p, &p.defs, Header{}, false
	r.bufs = [2][]byte{nil, p.active.defaults}
}

// index checks that payload is a valid payload of layout l and records where
// its strings are.
func (r *Reader) index(l *Layout, payload []byte) error {
	if len(payload) < l.minPayload {
		return fmt.Errorf("%w: payload of %d bytes, the layout needs at least %d", ErrCorrupt, len(payload), l.minPayload)
	}
	if rem := l.boolBits % 8; rem != 0 && payload[l.headSize-1]>>rem != 0 {
		return fmt.Errorf("%w: padding bits set after the booleans", ErrCorrupt)
	}
	r.strs = r.strs[:0]
	pos := l.headSize
	for k := range l.nStrings {
		// Most strings are shorter than 128 bytes: a one-byte length.
		if pos < len(payload) && payload[pos] < 0x80 && pos+1+int(payload[pos]) <= len(payload) {
			end := pos + 1 + int(payload[pos])
			r.strs = append(r.strs, uint32(pos+1), uint32(end))
			pos = end
			continue
		}
		s, _, err := readString(payload[pos:])
		if err != nil {
			return fmt.Errorf("string %d: %w", k, err)
		}
		start := pos + uvarintLen(uint64(len(s))) // readString takes only the shortest length
		r.strs = append(r.strs, uint32(start), uint32(start+len(s)))
		pos = start + len(s)
	}
	if pos != len(payload) {
		return fmt.Errorf("%w: %d bytes after the last value", ErrCorrupt, len(payload)-pos)
	}
	return nil
}

// Header returns the header of the block of the last Open once its checksum
// verified, even if Open then failed (ErrExpired, ErrUnknownVersion), and the
// zero Header otherwise.
func (r *Reader) Header() Header { return r.hdr }

// Found reports whether r reads a block, false if it serves defaults only
// (after OpenDefaults or a failed Open).
func (r *Reader) Found() bool { return r.found }

// Projection returns the projection r reads.
func (r *Reader) Projection() *Projection { return r.p }

// loc returns projected column i's active column, the buffer of its values
// and its offset there (a bit offset for Bool, a string index for String).
func (r *Reader) loc(i int) (*column, []byte, source) {
	c := &r.p.active.cols[r.p.cols[i]]
	s := r.plan.srcs[i]
	return c, r.bufs[s.buf], s
}

// scalar is loc for the scalar getters.
func (r *Reader) scalar(i int, getter string) (*column, []byte, source) {
	c, b, s := r.loc(i)
	if c.Len != 0 {
		panic(fmt.Sprintf("codec: Reader.%s of vector column %q", getter, c.Name))
	}
	return c, b, s
}

func badType(getter string, c *column) string {
	return fmt.Sprintf("codec: Reader.%s of %s column %q", getter, c.Type, c.Name)
}

// Bool returns the value of a scalar Bool column.
func (r *Reader) Bool(i int) bool {
	c, b, s := r.scalar(i, "Bool")
	if c.Type != schema.Bool {
		panic(badType("Bool", c))
	}
	return getBit(b, s.off)
}

// Int64 returns the value of a scalar integer column, converted as Go
// converts (a Uint64 above math.MaxInt64 wraps).
func (r *Reader) Int64(i int) int64 {
	c, b, s := r.scalar(i, "Int64")
	if !isInt(c.Type) {
		panic(badType("Int64", c))
	}
	return getInt(c.Type, b[s.off:], 0)
}

// Uint64 returns the value of a scalar integer column, converted as Go
// converts (a negative value wraps).
func (r *Reader) Uint64(i int) uint64 {
	c, b, s := r.scalar(i, "Uint64")
	if !isInt(c.Type) {
		panic(badType("Uint64", c))
	}
	return uint64(getInt(c.Type, b[s.off:], 0))
}

// Float32 returns the value of a scalar numeric or Bool column as a float32
// (true is 1).
func (r *Reader) Float32(i int) float32 {
	c, b, s := r.scalar(i, "Float32")
	switch c.Type {
	case schema.FP32:
		return math.Float32frombits(binary.LittleEndian.Uint32(b[s.off:]))
	case schema.FP16:
		return fp16ToFloat32(binary.LittleEndian.Uint16(b[s.off:]))
	case schema.FP64:
		return float32(math.Float64frombits(binary.LittleEndian.Uint64(b[s.off:])))
	case schema.FP8E4M3:
		return e4m3Table[b[s.off]]
	case schema.FP8E5M2:
		return e5m2Table[b[s.off]]
	case schema.Bool:
		return float32(b[s.off>>3] >> (s.off & 7) & 1)
	case schema.String:
		panic(badType("Float32", c))
	}
	if c.Type.IsSigned() {
		return float32(getInt(c.Type, b[s.off:], 0))
	}
	return float32(getUint(c.Type, b[s.off:], 0))
}

// Float64 returns the value of a scalar numeric or Bool column as a float64.
func (r *Reader) Float64(i int) float64 {
	c, b, s := r.scalar(i, "Float64")
	switch c.Type {
	case schema.FP64:
		return math.Float64frombits(binary.LittleEndian.Uint64(b[s.off:]))
	case schema.FP32:
		return float64(math.Float32frombits(binary.LittleEndian.Uint32(b[s.off:])))
	case schema.FP16:
		return float64(fp16ToFloat32(binary.LittleEndian.Uint16(b[s.off:])))
	case schema.FP8E4M3:
		return float64(e4m3Table[b[s.off]])
	case schema.FP8E5M2:
		return float64(e5m2Table[b[s.off]])
	case schema.Bool:
		return float64(b[s.off>>3] >> (s.off & 7) & 1)
	case schema.String:
		panic(badType("Float64", c))
	}
	if c.Type.IsSigned() {
		return float64(getInt(c.Type, b[s.off:], 0))
	}
	return float64(getUint(c.Type, b[s.off:], 0))
}

// Bytes returns the value of a scalar String column without copying: it
// shares memory with the block (with r's buffer if the block was compressed,
// until the next Open; with the layout for a default) and must not be
// modified.
func (r *Reader) Bytes(i int) []byte {
	c, _, s := r.scalar(i, "Bytes")
	if c.Type != schema.String {
		panic(badType("Bytes", c))
	}
	return r.str(s, 0)
}

// String returns the value of a scalar String column as a new string.
func (r *Reader) String(i int) string { return string(r.Bytes(i)) }

// str returns string k of the column at s.
func (r *Reader) str(s source, k int) []byte {
	if s.buf == fromDefaults {
		return r.p.active.defStringBytes[s.off+k]
	}
	j := 2 * (s.off + k)
	start, end := r.strs[j], r.strs[j+1]
	return r.bufs[fromBlock][start:end:end]
}

// AppendBools appends the values of a Bool column to dst.
func (r *Reader) AppendBools(dst []bool, i int) []bool {
	c, b, s := r.loc(i)
	if c.Type != schema.Bool {
		panic(badType("AppendBools", c))
	}
	for k := range c.n {
		dst = append(dst, getBit(b, s.off+k))
	}
	return dst
}

// AppendInt64s appends the values of an integer column to dst.
func (r *Reader) AppendInt64s(dst []int64, i int) []int64 {
	c, b, s := r.loc(i)
	if !isInt(c.Type) {
		panic(badType("AppendInt64s", c))
	}
	for k := range c.n {
		dst = append(dst, getInt(c.Type, b[s.off:], k))
	}
	return dst
}

// AppendUint64s appends the values of an integer column to dst.
func (r *Reader) AppendUint64s(dst []uint64, i int) []uint64 {
	c, b, s := r.loc(i)
	if !isInt(c.Type) {
		panic(badType("AppendUint64s", c))
	}
	for k := range c.n {
		dst = append(dst, uint64(getInt(c.Type, b[s.off:], k)))
	}
	return dst
}

// AppendFloat32s appends the values of a numeric or Bool column to dst,
// converted to float32.
func (r *Reader) AppendFloat32s(dst []float32, i int) []float32 {
	c, b, s := r.loc(i)
	switch c.Type {
	case schema.Bool:
		return appendBoolsAsFloat32(dst, b, s.off, c.n)
	case schema.String:
		panic(badType("AppendFloat32s", c))
	}
	return appendFloat32s(dst, c.Type, b[s.off:], c.n)
}

// AppendFloat64s appends the values of a numeric or Bool column to dst,
// converted to float64.
func (r *Reader) AppendFloat64s(dst []float64, i int) []float64 {
	c, b, s := r.loc(i)
	switch c.Type {
	case schema.Bool:
		for k := range c.n {
			dst = append(dst, float64(b[(s.off+k)>>3]>>((s.off+k)&7)&1))
		}
		return dst
	case schema.String:
		panic(badType("AppendFloat64s", c))
	}
	return appendFloat64s(dst, c.Type, b[s.off:], c.n)
}

// AppendBytes appends the values of a String column to dst without copying,
// as Bytes does.
func (r *Reader) AppendBytes(dst [][]byte, i int) [][]byte {
	c, _, s := r.loc(i)
	if c.Type != schema.String {
		panic(badType("AppendBytes", c))
	}
	for k := range c.n {
		dst = append(dst, r.str(s, k))
	}
	return dst
}

// AppendStrings appends the values of a String column to dst as new strings.
func (r *Reader) AppendStrings(dst []string, i int) []string {
	c, _, s := r.loc(i)
	if c.Type != schema.String {
		panic(badType("AppendStrings", c))
	}
	for k := range c.n {
		dst = append(dst, string(r.str(s, k)))
	}
	return dst
}

// ReadFloat32s writes every projected column, vectors flattened and
// converted to float32 (Bool as 0 or 1), into dst: one row of a dense
// matrix. len(dst) must be the projection's Width. It returns ErrType if a
// projected column is a String.
func (r *Reader) ReadFloat32s(dst []float32) error {
	switch {
	case !r.p.dense:
		return fmt.Errorf("%w: a dense row of a projection with String columns", ErrType)
	case len(dst) != r.p.width:
		return fmt.Errorf("%w: row of %d values, the projection has %d", ErrLength, len(dst), r.p.width)
	}
	for _, ru := range r.plan.runs {
		b := r.bufs[ru.buf]
		d := dst[ru.dst : ru.dst+ru.n]
		if ru.typ == schema.Bool {
			for k := range d {
				o := ru.off + k
				d[k] = float32(b[o>>3] >> (o & 7) & 1)
			}
			continue
		}
		readFloat32s(d, ru.typ, b[ru.off:])
	}
	return nil
}

// AppendRaw appends the values of every projected column to dst, in their
// block encoding (little-endian, the column's own type), and returns the
// extended slice: one row of a dense matrix of bytes. It returns ErrType if
// a projected column is a Bool or a String, which have no fixed width.
func (r *Reader) AppendRaw(dst []byte) ([]byte, error) {
	if !r.p.fixed {
		return dst, fmt.Errorf("%w: a raw row of a projection with Bool or String columns", ErrType)
	}
	for _, ru := range r.plan.runs {
		dst = append(dst, r.bufs[ru.buf][ru.off:ru.off+ru.n*ru.size]...)
	}
	return dst, nil
}
