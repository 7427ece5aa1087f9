package codec

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/ofstack/ofs/schema"
)

// The fuzz targets cover every decoder: blocks (header, checksum, payload,
// decompression), cache blocks, and column defaults. Their seed corpora
// under testdata/fuzz are written by TestWriteFuzzCorpus -update, from the
// golden vectors and damaged copies of them. Run one with, e.g.,
//
//	go test ./codec -run '^$' -fuzz '^FuzzOpen$' -fuzztime 60s

// fuzzProjections are projections of the golden layouts, one per version.
func fuzzProjections(t testing.TB) []*Projection {
	out := make([]*Projection, 0, 3)
	for _, name := range []string{"fp32", "all_types", "compressed"} {
		var g goldenBlock
		readJSON(t, filepath.Join("testdata", "golden", name+".json"), &g)
		l := g.layout(t)
		out = append(out, mustProjection(t, l, nil, nil))
	}
	return out
}

// FuzzOpen feeds arbitrary bytes to Open. It must never panic; a block it
// accepts must read consistently, and re-encoding what it read must give a
// block that reads the same.
func FuzzOpen(f *testing.F) {
	var projections []*Projection
	f.Fuzz(func(t *testing.T, data []byte) {
		if projections == nil {
			projections = fuzzProjections(t)
		}
		h, herr := ReadHeader(data)
		_, verr := Verify(data)
		if herr == nil && verr == nil {
			if et, err := EventTime(data); err != nil || et != h.EventTime {
				t.Fatalf("EventTime = %d, %v; header says %d", et, err, h.EventTime)
			}
		}
		var r Reader
		for _, p := range projections {
			err := r.Open(data, p, 0)
			if err != nil {
				if !isSentinel(err) {
					t.Fatalf("Open error %v is none of the package's", err)
				}
				if r.Found() {
					t.Fatal("Found after an error")
				}
				continue
			}
			if verr != nil {
				t.Fatalf("Open accepted a block Verify rejects: %v", verr)
			}
			l := p.Active()
			b := NewBuilder(l)
			vals := make([]colVals, l.Len())
			for i := range l.Len() {
				vals[i] = readVals(&r, i, l.Column(i))
				setVals(b, i, l.Column(i), vals[i])
			}
			checkDenseReads(t, &r, p)
			again, err := b.Append(nil, r.Header().EventTime, r.Header().Expiry)
			if err != nil {
				t.Fatalf("re-encoding: %v", err)
			}
			if err := r.Open(again, p, 0); err != nil {
				t.Fatalf("opening the re-encoded block: %v", err)
			}
			for i := range l.Len() {
				if got := readVals(&r, i, l.Column(i)); !sameVals(got, vals[i]) {
					t.Fatalf("column %d: %+v, then %+v", i, vals[i], got)
				}
			}
		}
	})
}

// FuzzDecompress feeds arbitrary bytes to Decompress and Compress.
func FuzzDecompress(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		plain, err := Decompress([]byte("x"), data)
		if err != nil {
			if string(plain) != "x" {
				t.Fatalf("Decompress changed dst on error: %q", plain)
			}
			if _, cerr := Compress(nil, data); cerr == nil {
				t.Fatal("Compress accepted a block Decompress rejects")
			}
			return
		}
		plain = plain[1:]
		h, err := Verify(plain)
		if err != nil || h.Compressed {
			t.Fatalf("Decompress gave a bad block: %+v, %v", h, err)
		}
		packed, err := Compress(nil, plain)
		if err != nil {
			t.Fatal(err)
		}
		again, err := Decompress(nil, packed)
		if err != nil || !bytes.Equal(again, plain) {
			t.Fatalf("Decompress(Compress(b)) != b: %v", err)
		}
	})
}

// FuzzCSDB feeds arbitrary bytes to ParseCSDB; a cache block it accepts must
// be rebuilt byte for byte from its entries.
func FuzzCSDB(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := ParseCSDB(data)
		if err != nil {
			if !isSentinel(err) {
				t.Fatalf("ParseCSDB error %v is none of the package's", err)
			}
			return
		}
		entries := make([]CSDBEntry, c.Len())
		for i := range entries {
			g, b := c.At(i)
			entries[i] = CSDBEntry{Group: g, Block: b}
			if got, ok := c.Lookup(g); !ok || !bytes.Equal(got, b) {
				t.Fatalf("Lookup(%d) disagrees with At(%d)", g, i)
			}
		}
		again, err := AppendCSDB(nil, entries)
		if err != nil || !bytes.Equal(again, data) {
			t.Fatalf("rebuilding: %v\n got %x\nwant %x", err, again, data)
		}
	})
}

// FuzzLayoutDefaults feeds arbitrary default bytes to NewLayout; a default it
// accepts must read back as the values that encode to the same bytes.
func FuzzLayoutDefaults(f *testing.F) {
	f.Fuzz(func(t *testing.T, typ uint8, n uint8, def []byte) {
		c := Column{Name: "x", Type: schema.DataType(typ), Len: int(n), Default: def}
		l, err := NewLayout(1, []Column{c})
		if err != nil {
			if !errors.Is(err, ErrLayout) {
				t.Fatalf("NewLayout error %v is not ErrLayout", err)
			}
			return
		}
		got := defaultVals(t, c)
		// Every byte string a layout accepts is the encoding of its values,
		// but for NaN payloads, which float conversions need not keep.
		if len(def) > 0 && !hasNaN(got) && !bytes.Equal(encodeVals(c, got), def) {
			t.Fatalf("default %x reads as %+v, which encodes to %x", def, got, encodeVals(c, got))
		}
		b := NewBuilder(l)
		block, err := b.Append(nil, 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		var r Reader
		if err := r.Open(block, mustProjection(t, l, nil, nil), 0); err != nil {
			t.Fatal(err)
		}
		if v := readVals(&r, 0, c); !sameVals(v, got) {
			t.Fatalf("a block of defaults reads %+v, the defaults %+v", v, got)
		}
	})
}

func hasNaN(v colVals) bool {
	for _, x := range v.f32 {
		if isNaN32(x) {
			return true
		}
	}
	for _, x := range v.f64 {
		if x != x {
			return true
		}
	}
	return false
}

// FuzzRoundTrip is TestRoundTrip with the fuzzer choosing the random seeds.
func FuzzRoundTrip(f *testing.F) {
	f.Fuzz(func(t *testing.T, seed1, seed2 uint64, compress bool) {
		rng := rand.New(rand.NewPCG(seed1, seed2))
		cols := randomColumns(rng, rng.IntN(24))
		l := mustLayout(t, 1, cols)
		b := NewBuilder(l)
		want := make([]colVals, len(cols))
		for i, c := range cols {
			want[i] = randomVals(rng, c)
			setVals(b, i, c, want[i])
		}
		var block []byte
		var err error
		if compress {
			block, err = b.AppendCompressed(nil, 1, 0)
		} else {
			block, err = b.Append(nil, 1, 0)
		}
		if err != nil {
			t.Fatal(err)
		}
		var r Reader
		if err := r.Open(block, mustProjection(t, l, nil, nil), 0); err != nil {
			t.Fatal(err)
		}
		for i, c := range cols {
			if got, w := readVals(&r, i, c), stored(c, want[i]); !sameVals(got, w) {
				t.Fatalf("column %d (%s len %d): got %+v, want %+v", i, c.Type, c.Len, got, w)
			}
		}
	})
}

// TestWriteFuzzCorpus writes the seed corpora with -update, and otherwise
// checks that they exist and match the golden vectors. After changing the
// golden vectors, update them first:
//
//	go test ./codec -run Golden -update && go test ./codec -run WriteFuzzCorpus -update
func TestWriteFuzzCorpus(t *testing.T) {
	blocks := make([][]byte, 0, 3)
	for _, name := range []string{"fp32", "all_types", "compressed"} {
		_, _, b := goldenFixture(t, name)
		blocks = append(blocks, b)
	}
	var cs goldenCSDB
	readJSON(t, filepath.Join("testdata", "golden", "csdb.json"), &cs)
	csdb := must(AppendCSDB(nil, cs.entries(t)))
	damaged := func(b []byte) [][]byte {
		flip := append([]byte(nil), b...)
		flip[len(flip)/2] ^= 0x10
		return [][]byte{b[:len(b)/2], flip, nil, b[:HeaderSize]}
	}
	bytesFile := func(b []byte) string { return fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", b) }
	corpus := map[string][]string{}
	for i, b := range blocks {
		corpus["FuzzOpen"] = append(corpus["FuzzOpen"], bytesFile(b))
		corpus["FuzzDecompress"] = append(corpus["FuzzDecompress"], bytesFile(b))
		for _, d := range damaged(b) {
			corpus["FuzzOpen"] = append(corpus["FuzzOpen"], bytesFile(d))
		}
		if i == 2 {
			corpus["FuzzDecompress"] = append(corpus["FuzzDecompress"], bytesFile(damaged(b)[1]))
		}
	}
	corpus["FuzzCSDB"] = append(corpus["FuzzCSDB"], bytesFile(csdb))
	for _, d := range damaged(csdb) {
		corpus["FuzzCSDB"] = append(corpus["FuzzCSDB"], bytesFile(d))
	}
	for _, s := range []struct {
		typ schema.DataType
		n   uint8
		def []byte
	}{
		{schema.FP16, 2, must(DefaultFloats(schema.FP16, 1, -2))},
		{schema.Bool, 11, DefaultBools(true, false, true, false, true, false, true, false, true, false, true)},
		{schema.String, 2, DefaultStrings("a", "bc")},
		{schema.Int32, 0, must(DefaultInts(schema.Int32, -7))},
		{schema.String, 0, []byte{0x80, 0x00}},
	} {
		corpus["FuzzLayoutDefaults"] = append(corpus["FuzzLayoutDefaults"],
			fmt.Sprintf("go test fuzz v1\nuint8(%d)\nuint8(%d)\n[]byte(%q)\n", s.typ, s.n, s.def))
	}
	corpus["FuzzRoundTrip"] = []string{
		"go test fuzz v1\nuint64(1)\nuint64(2)\nbool(false)\n",
		"go test fuzz v1\nuint64(3)\nuint64(4)\nbool(true)\n",
	}
	for target, files := range corpus {
		dir := filepath.Join("testdata", "fuzz", target)
		for i, content := range files {
			path := filepath.Join(dir, fmt.Sprintf("seed%02d", i))
			if *update {
				if err := os.MkdirAll(dir, 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
					t.Fatal(err)
				}
				continue
			}
			if got, err := os.ReadFile(path); err != nil || string(got) != content {
				t.Errorf("%s is missing or stale (go test -run WriteFuzzCorpus -update): %v", path, err)
			}
		}
	}
}
