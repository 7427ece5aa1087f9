package codec

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/ofstack/ofs/schema"
)

// goldenFixture returns a golden vector's layout, projection and block.
func goldenFixture(t *testing.T, name string) (*Layout, *Projection, []byte) {
	t.Helper()
	var g goldenBlock
	readJSON(t, filepath.Join("testdata", "golden", name+".json"), &g)
	l := g.layout(t)
	block, err := hex.DecodeString(g.Block)
	if err != nil {
		t.Fatal(err)
	}
	return l, mustProjection(t, l, nil, nil), block
}

var sentinels = []error{
	ErrTruncated, ErrCorrupt, ErrFormat, ErrUnknownVersion, ErrExpired,
	ErrTooLarge, ErrLayout, ErrType, ErrRange, ErrLength, ErrCompressed,
}

func isSentinel(err error) bool {
	for _, s := range sentinels {
		if errors.Is(err, s) {
			return true
		}
	}
	return false
}

// TestOpenRejectsDamage cuts and flips every byte of the golden blocks: Open
// must report an error, never panic, and leave the reader on the defaults.
func TestOpenRejectsDamage(t *testing.T) {
	for _, name := range []string{"fp32", "all_types", "compressed"} {
		t.Run(name, func(t *testing.T) {
			_, p, block := goldenFixture(t, name)
			var r Reader
			check := func(what string, b []byte) {
				t.Helper()
				err := r.Open(b, p, 0)
				if err == nil || !isSentinel(err) {
					t.Fatalf("%s: Open = %v, want a codec error", what, err)
				}
				if r.Found() {
					t.Fatalf("%s: Found after an error", what)
				}
			}
			for n := range len(block) {
				check("cut to "+strconv.Itoa(n)+" bytes", block[:n])
			}
			check("a byte more", append(block[:len(block):len(block)], 0))
			for i := range block {
				for bit := range 8 {
					b := append([]byte(nil), block...)
					b[i] ^= 1 << bit
					check("bit "+strconv.Itoa(bit)+" of byte "+strconv.Itoa(i)+" flipped", b)
				}
			}
		})
	}
}

// resealed returns block with f applied and a valid checksum: damage that
// only the layout checks can find.
func resealed(block []byte, f func(b []byte) []byte) []byte {
	b := f(append([]byte(nil), block...))
	if len(b) >= HeaderSize {
		binary.LittleEndian.PutUint32(b[payloadLenOffset:], uint32(len(b)-HeaderSize))
		seal(b)
	}
	return b
}

func TestOpenErrors(t *testing.T) {
	boolLayout := mustLayout(t, 1, []Column{{Name: "b", Type: schema.Bool, Len: 3}, {Name: "s", Type: schema.String}})
	boolProj := mustProjection(t, boolLayout, nil, nil)
	b := NewBuilder(boolLayout)
	b.SetBools(0, []bool{true, true, true})
	b.SetString(1, "abc")
	boolBlock := must(b.Append(nil, 1, 0))
	_, fp32Proj, fp32Block := goldenFixture(t, "fp32")
	_, compProj, compBlock := goldenFixture(t, "compressed")
	payloadStart := HeaderSize

	tests := []struct {
		name  string
		block []byte
		p     *Projection
		want  error
	}{
		{"empty", nil, fp32Proj, ErrTruncated},
		{"short header", fp32Block[:HeaderSize-1], fp32Proj, ErrTruncated},
		{"wrong magic", resealed(fp32Block, func(b []byte) []byte { b[0] = 'C'; return b }), fp32Proj, ErrFormat},
		{"format version 2", resealed(fp32Block, func(b []byte) []byte { b[1] = 2; return b }), fp32Proj, ErrFormat},
		{"unknown compression", resealed(fp32Block, func(b []byte) []byte { b[flagsOffset] = 2; return b }), fp32Proj, ErrFormat},
		{"unknown payload layout", resealed(fp32Block, func(b []byte) []byte { b[flagsOffset] = 4; return b }), fp32Proj, ErrFormat},
		{"reserved byte set", resealed(fp32Block, func(b []byte) []byte { b[flagsOffset+1] = 1; return b }), fp32Proj, ErrFormat},
		{"checksum", func() []byte { b := append([]byte(nil), fp32Block...); b[len(b)-1] ^= 1; return b }(), fp32Proj, ErrCorrupt},
		{"unknown schema version", resealed(fp32Block, func(b []byte) []byte { b[SchemaVersionOffset] = 8; return b }), fp32Proj, ErrUnknownVersion},
		{"payload too short for the layout", resealed(fp32Block, func(b []byte) []byte { return b[:len(b)-1] }), fp32Proj, ErrCorrupt},
		{"bytes after the values", resealed(fp32Block, func(b []byte) []byte { return append(b, 0) }), fp32Proj, ErrCorrupt},
		{"bool padding bits set", resealed(boolBlock, func(b []byte) []byte { b[payloadStart] |= 0x80; return b }), boolProj, ErrCorrupt},
		{"string longer than the payload", resealed(boolBlock, func(b []byte) []byte { b[payloadStart+1] = 9; return b }), boolProj, ErrCorrupt},
		{"string length not minimal", resealed(boolBlock, func(b []byte) []byte {
			return append(b[:payloadStart+1], 0x83, 0x00, 'a', 'b', 'c')
		}), boolProj, ErrCorrupt},
		{"compressed garbage", resealed(compBlock, func(b []byte) []byte { b[payloadStart+5] ^= 0xff; return b }), compProj, ErrCorrupt},
		{"compressed length too large", resealed(compBlock, func(b []byte) []byte {
			return append(binary.AppendUvarint(b[:payloadStart], MaxPayloadSize+1), b[payloadStart+2:]...)
		}), compProj, ErrCorrupt},
		{"compressed length too small", resealed(compBlock, func(b []byte) []byte {
			n, k := binary.Uvarint(b[payloadStart:])
			return append(binary.AppendUvarint(b[:payloadStart], n-1), b[payloadStart+k:]...)
		}), compProj, ErrCorrupt},
		{"compressed length too large by one", resealed(compBlock, func(b []byte) []byte {
			n, k := binary.Uvarint(b[payloadStart:])
			return append(binary.AppendUvarint(b[:payloadStart], n+1), b[payloadStart+k:]...)
		}), compProj, ErrCorrupt},
		{"expired", resealed(fp32Block, func(b []byte) []byte {
			binary.LittleEndian.PutUint64(b[ExpiryOffset:], 5)
			return b
		}), fp32Proj, ErrExpired},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var r Reader
			err := r.Open(tc.block, tc.p, 10)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Open = %v, want %v", err, tc.want)
			}
			if r.Found() {
				t.Fatal("Found after an error")
			}
		})
	}
}

func TestExpiry(t *testing.T) {
	tests := []struct {
		expiry, now int64
		expired     bool
	}{
		{NeverExpires, 0, false},
		{NeverExpires, 1 << 62, false},
		{100, 99, false},
		{100, 100, true},
		{100, 101, true},
		{-5, 0, true},
		{1 << 62, 1<<62 - 1, false}, // about the year 148,000: no year-2500 limit
	}
	l := mustLayout(t, 1, []Column{{Name: "x", Type: schema.FP32, Default: must(DefaultFloats(schema.FP32, 9))}})
	p := mustProjection(t, l, nil, nil)
	for _, tc := range tests {
		b := NewBuilder(l)
		b.SetFloat32(0, 1)
		block := must(b.Append(nil, 0, tc.expiry))
		if got := (Header{Expiry: tc.expiry}).Expired(tc.now); got != tc.expired {
			t.Errorf("expiry %d at %d: Expired = %t, want %t", tc.expiry, tc.now, got, tc.expired)
		}
		var r Reader
		err := r.Open(block, p, tc.now)
		want := float32(1)
		if tc.expired {
			want = 9
		}
		if errors.Is(err, ErrExpired) != tc.expired || r.Float32(0) != want {
			t.Errorf("expiry %d at %d: Open = %v, value %g; want expired %t, value %g", tc.expiry, tc.now, err, r.Float32(0), tc.expired, want)
		}
	}
}

func TestHeaderAccessors(t *testing.T) {
	_, _, block := goldenFixture(t, "fp32")
	h, err := ReadHeader(block)
	if err != nil {
		t.Fatal(err)
	}
	want := Header{SchemaVersion: 7, EventTime: 1_700_000_000_000_000, Expiry: 1_700_086_400_000_000, PayloadLen: 12}
	if h != want {
		t.Fatalf("ReadHeader = %+v, want %+v", h, want)
	}
	if v, err := EventTime(block); v != want.EventTime || err != nil {
		t.Errorf("EventTime = %d, %v", v, err)
	}
	if v, err := Expiry(block); v != want.Expiry || err != nil {
		t.Errorf("Expiry = %d, %v", v, err)
	}
	if v, err := SchemaVersion(block); v != want.SchemaVersion || err != nil {
		t.Errorf("SchemaVersion = %d, %v", v, err)
	}
	// The fixed offsets that other components (the Redis script) rely on.
	if got := int64(binary.LittleEndian.Uint64(block[EventTimeOffset:])); got != want.EventTime || EventTimeOffset != 8 {
		t.Errorf("event time at offset %d = %d", EventTimeOffset, got)
	}
	for _, short := range [][]byte{nil, block[:1], block[:HeaderSize-1]} {
		if _, err := EventTime(short); !errors.Is(err, ErrTruncated) {
			t.Errorf("EventTime of %d bytes: %v", len(short), err)
		}
		if _, err := Expiry(short); !errors.Is(err, ErrTruncated) {
			t.Errorf("Expiry of %d bytes: %v", len(short), err)
		}
		if _, err := SchemaVersion(short); !errors.Is(err, ErrTruncated) {
			t.Errorf("SchemaVersion of %d bytes: %v", len(short), err)
		}
	}
	if _, err := EventTime([]byte("{\"json\": true}........................")); !errors.Is(err, ErrFormat) {
		t.Errorf("EventTime of JSON: %v", err)
	}
}

func TestLayoutErrors(t *testing.T) {
	tests := []struct {
		name string
		cols []Column
	}{
		{"no name", []Column{{Type: schema.FP32}}},
		{"invalid type", []Column{{Name: "a", Type: schema.Invalid}}},
		{"unknown type", []Column{{Name: "a", Type: 200}}},
		{"negative length", []Column{{Name: "a", Type: schema.FP32, Len: -1}}},
		{"huge length", []Column{{Name: "a", Type: schema.FP32, Len: 1 << 30}}},
		{"too large", []Column{{Name: "a", Type: schema.FP64, Len: 1 << 23}, {Name: "b", Type: schema.FP64, Len: 1 << 23}}},
		{"duplicate name", []Column{{Name: "a", Type: schema.FP32}, {Name: "a", Type: schema.Int8}}},
		{"fixed default too short", []Column{{Name: "a", Type: schema.FP32, Default: []byte{1, 2, 3}}}},
		{"fixed default too long", []Column{{Name: "a", Type: schema.Int8, Default: []byte{1, 2}}}},
		{"bool default too long", []Column{{Name: "a", Type: schema.Bool, Default: []byte{1, 0}}}},
		{"bool default bits past the end", []Column{{Name: "a", Type: schema.Bool, Len: 3, Default: []byte{0x08}}}},
		{"string default cut", []Column{{Name: "a", Type: schema.String, Default: []byte{5, 'a'}}}},
		{"string default too many", []Column{{Name: "a", Type: schema.String, Default: DefaultStrings("a", "b")}}},
		{"string default too few", []Column{{Name: "a", Type: schema.String, Len: 3, Default: DefaultStrings("a", "b")}}},
		{"string default non-minimal", []Column{{Name: "a", Type: schema.String, Default: []byte{0x80, 0x00}}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := NewLayout(1, tc.cols); !errors.Is(err, ErrLayout) {
				t.Fatalf("NewLayout = %v, want ErrLayout", err)
			}
		})
	}
}

func TestDefaultHelpersErrors(t *testing.T) {
	if _, err := DefaultInts(schema.FP32, 1); !errors.Is(err, ErrType) {
		t.Errorf("DefaultInts(fp32): %v", err)
	}
	if _, err := DefaultInts(schema.Uint8, -1); !errors.Is(err, ErrRange) {
		t.Errorf("DefaultInts(uint8, -1): %v", err)
	}
	if _, err := DefaultUints(schema.String, 1); !errors.Is(err, ErrType) {
		t.Errorf("DefaultUints(string): %v", err)
	}
	if _, err := DefaultUints(schema.Int64, 1<<63); !errors.Is(err, ErrRange) {
		t.Errorf("DefaultUints(int64, 2^63): %v", err)
	}
	if _, err := DefaultFloats(schema.Int32, 1); !errors.Is(err, ErrType) {
		t.Errorf("DefaultFloats(int32): %v", err)
	}
}

// TestLayoutOrder checks the payload order: fixed-width columns by
// decreasing size, then bools, then strings.
func TestLayoutOrder(t *testing.T) {
	l := mustLayout(t, 1, []Column{
		{Name: "s", Type: schema.String},
		{Name: "u8", Type: schema.Uint8},
		{Name: "b1", Type: schema.Bool},
		{Name: "f32", Type: schema.FP32, Len: 2},
		{Name: "f64", Type: schema.FP64},
		{Name: "f16", Type: schema.FP16},
		{Name: "b2", Type: schema.Bool, Len: 9},
		{Name: "i32", Type: schema.Int32},
	})
	want := map[string]int{"f64": 0, "f32": 8, "i32": 16, "f16": 20, "u8": 22, "b1": 23 * 8, "b2": 23*8 + 1, "s": 0}
	for i := range l.Len() {
		c := l.cols[i]
		if c.off != want[c.Name] {
			t.Errorf("column %q at %d, want %d", c.Name, c.off, want[c.Name])
		}
	}
	if l.fixedSize != 23 || l.headSize != 25 || l.nStrings != 1 {
		t.Errorf("fixed %d head %d strings %d, want 23 25 1", l.fixedSize, l.headSize, l.nStrings)
	}
}

func TestProjectionErrors(t *testing.T) {
	l1 := mustLayout(t, 1, []Column{{Name: "a", Type: schema.FP32}})
	other1 := mustLayout(t, 1, []Column{{Name: "b", Type: schema.FP32}})
	if _, err := NewProjection(l1, nil, []int{1}); !errors.Is(err, ErrLayout) {
		t.Errorf("column out of range: %v", err)
	}
	if _, err := NewProjection(l1, nil, []int{-1}); !errors.Is(err, ErrLayout) {
		t.Errorf("negative column: %v", err)
	}
	if _, err := NewProjection(l1, []*Layout{other1}, nil); !errors.Is(err, ErrLayout) {
		t.Errorf("two layouts of one version: %v", err)
	}
	if _, err := NewProjection(l1, []*Layout{l1, l1}, nil); err != nil {
		t.Errorf("the same layout twice: %v", err)
	}
}

func TestReaderPanicsOnMisuse(t *testing.T) {
	l := mustLayout(t, 1, []Column{{Name: "s", Type: schema.String}, {Name: "v", Type: schema.FP32, Len: 2}})
	var r Reader
	r.OpenDefaults(mustProjection(t, l, nil, nil))
	for name, f := range map[string]func(){
		"Float32 of a string":  func() { r.Float32(0) },
		"Int64 of a string":    func() { r.Int64(0) },
		"Bytes of a vector":    func() { r.Bytes(1) },
		"Float32 of a vector":  func() { r.Float32(1) },
		"Bool of a float":      func() { r.AppendBools(nil, 1) },
		"column out of range":  func() { r.Float64(2) },
		"strings of a float":   func() { r.AppendStrings(nil, 1) },
		"uint64s of a float":   func() { r.AppendUint64s(nil, 1) },
		"float64s of a string": func() { r.AppendFloat64s(nil, 0) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: no panic", name)
				}
			}()
			f()
		}()
	}
}

// TestReadsDoNotAllocate checks the hot paths: Open of an uncompressed or
// (with a warm buffer) compressed block, dense reads, scalar getters, and
// encoding into a reused buffer.
func TestReadsDoNotAllocate(t *testing.T) {
	l, p, block := goldenFixture(t, "all_types")
	cl, _, cblock := goldenFixture(t, "compressed")
	cp := mustProjection(t, cl, nil, []int{0}) // the fp32 vector alone: dense
	var r Reader
	if err := r.Open(cblock, cp, 0); err != nil {
		t.Fatal(err)
	}
	row := make([]float32, cp.Width())
	b := NewBuilder(l)
	out := make([]byte, 0, 1024)
	f32 := []float32{1, 2, 3, 4}
	checks := map[string]func(){
		"open": func() {
			if err := r.Open(block, p, 0); err != nil {
				t.Fatal(err)
			}
			_ = r.Int64(2) + int64(r.Uint64(9)) + int64(r.Float32(13)) + int64(len(r.Bytes(15)))
		},
		"open compressed and read a row": func() {
			if err := r.Open(cblock, cp, 0); err != nil {
				t.Fatal(err)
			}
			if err := r.ReadFloat32s(row); err != nil {
				t.Fatal(err)
			}
		},
		"encode": func() {
			b.SetFloat32s(12, f32)
			b.SetInt64(2, 5)
			b.SetString(15, "abc")
			var err error
			if out, err = b.Append(out[:0], 1, 2); err != nil {
				t.Fatal(err)
			}
		},
	}
	for name, f := range checks {
		if n := testing.AllocsPerRun(100, f); n != 0 {
			t.Errorf("%s: %g allocations, want 0", name, n)
		}
	}
}
