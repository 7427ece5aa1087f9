package codec

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"

	"github.com/ofstack/ofs/schema"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden from the vectors in golden_test.go")

// A golden PSDB vector, as stored in testdata/golden/NAME.json. The JSON is
// the reference for other implementations of the format: it gives a layout,
// the values of a row, and the exact block bytes.
type goldenBlock struct {
	Comment    string         `json:"comment"`
	Version    uint32         `json:"schema_version"`
	Columns    []goldenColumn `json:"columns"`
	EventTime  int64          `json:"event_time"`
	Expiry     int64          `json:"expiry"`
	Compressed bool           `json:"compressed"`
	// Values has one entry per column: its values in the type's text form
	// (see formatVals), or null for a column left at its default. Reading
	// the block gives Values with the nulls replaced by the defaults: Read.
	Values [][]string `json:"values"`
	Read   [][]string `json:"read"`
	Block  string     `json:"block"`
}

type goldenColumn struct {
	Name    string `json:"name"`
	Type    string `json:"type"`
	Len     int    `json:"len,omitempty"`
	Default string `json:"default,omitempty"` // hex of Column.Default
}

// A golden CSDB vector: the blocks of some groups and the cache block.
type goldenCSDB struct {
	Comment string        `json:"comment"`
	Entries []goldenEntry `json:"entries"`
	CSDB    string        `json:"csdb"`
}

type goldenEntry struct {
	Group uint32 `json:"group"`
	Block string `json:"block"` // hex; empty for a cached miss
}

// goldenVectors defines the vectors that -update writes.
func goldenVectors() map[string]goldenBlock {
	c := func(name string, t schema.DataType, n int, def []byte) goldenColumn {
		return goldenColumn{Name: name, Type: t.String(), Len: n, Default: hex.EncodeToString(def)}
	}
	nan, inf, negZero := math.NaN(), math.Inf(1), math.Copysign(0, -1)
	f := func(v ...float64) []string {
		out := make([]string, len(v))
		for i, x := range v {
			out[i] = strconv.FormatFloat(x, 'g', -1, 64)
		}
		return out
	}
	s := func(v ...string) []string { return v }
	long := string(bytes.Repeat([]byte("abcdefghij"), 13)) // 130 bytes: a two-byte length
	return map[string]goldenBlock{
		"fp32": {
			Comment:   "Three fp32 scalars, the smallest useful block; docs/formats.md walks through its bytes.",
			Version:   7,
			Columns:   []goldenColumn{c("ctr", schema.FP32, 0, nil), c("age_days", schema.FP32, 0, nil), c("score", schema.FP32, 0, nil)},
			EventTime: 1_700_000_000_000_000, // 2023-11-14T22:13:20Z
			Expiry:    1_700_086_400_000_000, // a day later
			Values:    [][]string{f(0.5), f(-2), f(3.25)},
		},
		"all_types": {
			Comment: "Every data type, scalar and vector, with and without defaults, some columns at their defaults; bools straddle a byte boundary, strings have lengths of one and two uvarint bytes, floats include NaN, Inf, subnormals and rounding.",
			Version: 3,
			Columns: []goldenColumn{
				c("b", schema.Bool, 0, nil),
				c("bv", schema.Bool, 11, DefaultBools(true, false, true, false, true, false, true, false, true, false, true)),
				c("i8", schema.Int8, 0, nil),
				c("i16v", schema.Int16, 2, nil),
				c("i32", schema.Int32, 0, must(DefaultInts(schema.Int32, -7))),
				c("i64", schema.Int64, 0, nil),
				c("u8", schema.Uint8, 0, nil),
				c("u16", schema.Uint16, 0, nil),
				c("u32v", schema.Uint32, 3, nil),
				c("u64", schema.Uint64, 0, nil),
				c("e4m3v", schema.FP8E4M3, 4, nil),
				c("e5m2", schema.FP8E5M2, 0, must(DefaultFloats(schema.FP8E5M2, -0.5))),
				c("fp16v", schema.FP16, 4, nil),
				c("fp32", schema.FP32, 0, nil),
				c("fp64", schema.FP64, 0, nil),
				c("s", schema.String, 0, DefaultStrings("unknown")),
				c("sv", schema.String, 3, nil),
				c("unset_fp32v", schema.FP32, 2, must(DefaultFloats(schema.FP32, 1, 2))),
				c("unset_s", schema.String, 0, DefaultStrings("fallback")),
				c("unset_b", schema.Bool, 0, DefaultBools(true)),
			},
			EventTime: -1, // event times before 1970 are fine
			Expiry:    NeverExpires,
			Values: [][]string{
				s("true"),
				s("true", "true", "false", "false", "true", "true", "false", "false", "true", "true", "true"),
				s("-128"),
				s("32767", "-1"),
				s("2147483647"),
				s("-9223372036854775808"),
				s("255"),
				s("4660"),
				s("0", "1", "4294967295"),
				s("18446744073709551615"),
				f(448, -0.001953125, 0.1015625, negZero),
				f(57344),
				f(65504, 5.960464477539063e-08, -inf, nan),
				f(3.4028234663852886e+38),
				f(-5e-324),
				s(""),
				s("héllo", long, "x"),
				nil,
				nil,
				nil,
			},
		},
		"compressed": {
			Comment:   "A row that zstd shrinks: 64 fp32 features of few distinct values and a repetitive string.",
			Version:   1,
			Columns:   []goldenColumn{c("v", schema.FP32, 64, nil), c("tags", schema.String, 0, nil)},
			EventTime: 1_700_000_000_123_456,
			Expiry:    4_102_444_800_000_000, // 2100-01-01, far past any 32-bit seconds limit
			Values: [][]string{
				f(slices.Repeat([]float64{0, 1, 0.5, 0, 0, 2, 0, 0.25}, 8)...),
				s(string(bytes.Repeat([]byte("sports,news,"), 10))),
			},
		},
	}
}

// layout builds the vector's layout.
func (g goldenBlock) layout(t testing.TB) *Layout {
	cols := make([]Column, len(g.Columns))
	for i, gc := range g.Columns {
		typ, err := schema.ParseDataType(gc.Type)
		if err != nil {
			t.Fatal(err)
		}
		def, err := hex.DecodeString(gc.Default)
		if err != nil {
			t.Fatal(err)
		}
		cols[i] = Column{Name: gc.Name, Type: typ, Len: gc.Len, Default: def}
	}
	return mustLayout(t, g.Version, cols)
}

// encode builds the vector's block from its values.
func (g goldenBlock) encode(t *testing.T, l *Layout) []byte {
	b := NewBuilder(l)
	for i, vals := range g.Values {
		if vals != nil {
			setVals(b, i, l.Column(i), parseVals(t, l.Column(i), vals))
		}
	}
	var block []byte
	var err error
	if g.Compressed {
		block, err = b.AppendCompressed(nil, g.EventTime, g.Expiry)
	} else {
		block, err = b.Append(nil, g.EventTime, g.Expiry)
	}
	if err != nil {
		t.Fatal(err)
	}
	return block
}

// decode reads every column of block in text form.
func (g goldenBlock) decode(t *testing.T, l *Layout, block []byte) [][]string {
	var r Reader
	if err := r.Open(block, mustProjection(t, l, nil, nil), math.MinInt64); err != nil {
		t.Fatalf("open: %v", err)
	}
	if h := r.Header(); h.EventTime != g.EventTime || h.Expiry != g.Expiry || h.SchemaVersion != g.Version || h.Compressed != g.Compressed {
		t.Errorf("header %+v, want event time %d, expiry %d, version %d, compressed %t", h, g.EventTime, g.Expiry, g.Version, g.Compressed)
	}
	out := make([][]string, l.Len())
	for i := range out {
		out[i] = formatVals(readVals(&r, i, l.Column(i)))
	}
	return out
}

// parseVals parses a column's values from text: "true"/"false", decimal
// integers, Go float syntax (NaN, +Inf, -Inf), strings as they are.
func parseVals(t *testing.T, c Column, text []string) colVals {
	v := colVals{set: true}
	for _, s := range text {
		var err error
		switch {
		case c.Type == schema.Bool:
			var x bool
			x, err = strconv.ParseBool(s)
			v.bools = append(v.bools, x)
		case c.Type == schema.String:
			v.strs = append(v.strs, s)
		case c.Type.IsSigned():
			var x int64
			x, err = strconv.ParseInt(s, 10, 64)
			v.ints = append(v.ints, x)
		case c.Type.IsUnsigned():
			var x uint64
			x, err = strconv.ParseUint(s, 10, 64)
			v.uints = append(v.uints, x)
		case c.Type == schema.FP64:
			var x float64
			x, err = strconv.ParseFloat(s, 64)
			v.f64 = append(v.f64, x)
		default:
			var x float64
			x, err = strconv.ParseFloat(s, 64)
			v.f32 = append(v.f32, float32(x)) // exact: golden values are representable
		}
		if err != nil {
			t.Fatalf("column %q: %v", c.Name, err)
		}
	}
	return v
}

// formatVals is the inverse of parseVals.
func formatVals(v colVals) []string {
	out := make([]string, 0, len(v.bools)+len(v.ints)+len(v.uints)+len(v.f32)+len(v.f64)+len(v.strs))
	for _, x := range v.bools {
		out = append(out, strconv.FormatBool(x))
	}
	for _, x := range v.ints {
		out = append(out, strconv.FormatInt(x, 10))
	}
	for _, x := range v.uints {
		out = append(out, strconv.FormatUint(x, 10))
	}
	for _, x := range v.f32 {
		out = append(out, strconv.FormatFloat(float64(x), 'g', -1, 64))
	}
	for _, x := range v.f64 {
		out = append(out, strconv.FormatFloat(x, 'g', -1, 64))
	}
	return append(out, v.strs...)
}

func writeJSON(t *testing.T, path string, v any) {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
}

func readJSON(t testing.TB, path string, v any) {
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -run Golden -update to create it)", err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// TestGoldenBlocks checks the golden vectors both ways: encoding the values
// gives the bytes, decoding the bytes gives the values.
func TestGoldenBlocks(t *testing.T) {
	dir := filepath.Join("testdata", "golden")
	for name, g := range goldenVectors() {
		path := filepath.Join(dir, name+".json")
		if *update {
			if name == "compressed" {
				g.Compressed = true
			}
			l := g.layout(t)
			block := g.encode(t, l)
			g.Block = hex.EncodeToString(block)
			g.Read = g.decode(t, l, block)
			writeJSON(t, path, g)
		}
	}
	paths, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no golden files in %s: %v", dir, err)
	}
	for _, path := range paths {
		if filepath.Base(path) == "csdb.json" {
			continue
		}
		t.Run(filepath.Base(path), func(t *testing.T) {
			var g goldenBlock
			readJSON(t, path, &g)
			l := g.layout(t)
			want, err := hex.DecodeString(g.Block)
			if err != nil {
				t.Fatal(err)
			}
			// Encoding. A zstd upgrade may change the compressed bytes but
			// must not change what they decode to, checked below; rewrite
			// the file with -update only if that holds.
			if got := g.encode(t, l); !bytes.Equal(got, want) {
				t.Errorf("encoding the values:\n got %x\nwant %x", got, want)
			}
			// Decoding.
			if got := g.decode(t, l, want); fmt.Sprint(got) != fmt.Sprint(g.Read) {
				t.Errorf("decoding the block:\n got %q\nwant %q", got, g.Read)
			}
			for i, vals := range g.Values {
				if vals != nil && fmt.Sprint(vals) != fmt.Sprint(g.Read[i]) {
					t.Errorf("column %d: read %q, set %q", i, g.Read[i], vals)
				}
			}
		})
	}
}

func TestGoldenCSDB(t *testing.T) {
	path := filepath.Join("testdata", "golden", "csdb.json")
	if *update {
		var g goldenCSDB
		g.Comment = "The blocks of the fp32 and all_types vectors (groups 12 and 3) and a cached miss (group 40)."
		for _, e := range []struct {
			group uint32
			name  string
		}{{12, "fp32"}, {3, "all_types"}, {40, ""}} {
			var block string
			if e.name != "" {
				var b goldenBlock
				readJSON(t, filepath.Join("testdata", "golden", e.name+".json"), &b)
				block = b.Block
			}
			g.Entries = append(g.Entries, goldenEntry{Group: e.group, Block: block})
		}
		c, err := AppendCSDB(nil, g.entries(t))
		if err != nil {
			t.Fatal(err)
		}
		g.CSDB = hex.EncodeToString(c)
		writeJSON(t, path, g)
	}
	var g goldenCSDB
	readJSON(t, path, &g)
	want, err := hex.DecodeString(g.CSDB)
	if err != nil {
		t.Fatal(err)
	}
	entries := g.entries(t)
	got, err := AppendCSDB(nil, entries)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("encoding:\n got %x\nwant %x", got, want)
	}
	c, err := ParseCSDB(want)
	if err != nil {
		t.Fatal(err)
	}
	if c.Len() != len(entries) {
		t.Errorf("Len() = %d, want %d", c.Len(), len(entries))
	}
	for _, e := range entries {
		if b, ok := c.Lookup(e.Group); !ok || !bytes.Equal(b, e.Block) {
			t.Errorf("Lookup(%d) = %x, %t; want %x", e.Group, b, ok, e.Block)
		}
	}
}

func (g goldenCSDB) entries(t *testing.T) []CSDBEntry {
	out := make([]CSDBEntry, len(g.Entries))
	for i, e := range g.Entries {
		b, err := hex.DecodeString(e.Block)
		if err != nil {
			t.Fatal(err)
		}
		out[i] = CSDBEntry{Group: e.Group, Block: b}
	}
	return out
}
