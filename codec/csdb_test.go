package codec

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"testing"

	"github.com/ofstack/ofs/schema"
)

func TestCSDBRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 9))
	for iter := range 300 {
		n := rng.IntN(20)
		entries := make([]CSDBEntry, 0, n)
		seen := map[uint32]bool{}
		for len(entries) < n {
			g := rng.Uint32N(50)
			if seen[g] {
				continue
			}
			seen[g] = true
			var block []byte
			if rng.IntN(5) != 0 {
				cols := randomColumns(rng, rng.IntN(6))
				b := NewBuilder(mustLayout(t, g, cols))
				for i, c := range cols {
					setVals(b, i, c, randomVals(rng, c))
				}
				block = must(b.Append(nil, rng.Int64(), 0))
			}
			entries = append(entries, CSDBEntry{Group: g, Block: block})
		}
		c, err := AppendCSDB([]byte("prefix"), entries)
		if err != nil {
			t.Fatalf("iteration %d: %v", iter, err)
		}
		cs, err := ParseCSDB(c[len("prefix"):])
		if err != nil {
			t.Fatalf("iteration %d: %v", iter, err)
		}
		if cs.Len() != n {
			t.Fatalf("Len() = %d, want %d", cs.Len(), n)
		}
		for _, e := range entries {
			got, ok := cs.Lookup(e.Group)
			if !ok || !bytes.Equal(got, e.Block) {
				t.Fatalf("iteration %d: Lookup(%d) = %x, %t; want %x", iter, e.Group, got, ok, e.Block)
			}
			if len(got) > 0 {
				if _, err := Verify(got); err != nil {
					t.Fatalf("iteration %d: group %d: %v", iter, e.Group, err)
				}
			}
		}
		for g := range uint32(50) {
			if _, ok := cs.Lookup(g); ok != seen[g] {
				t.Fatalf("iteration %d: Lookup(%d) found %t, want %t", iter, g, ok, seen[g])
			}
		}
		prev := int64(-1)
		for i := range cs.Len() {
			g, _ := cs.At(i)
			if int64(g) <= prev {
				t.Fatalf("At(%d) = group %d after %d", i, g, prev)
			}
			prev = int64(g)
		}
	}
}

// TestCSDBLookupShares checks that a lookup returns a sub-slice of the cache
// block, not a copy, capped so that an append cannot overwrite a neighbour.
func TestCSDBLookupShares(t *testing.T) {
	_, _, block := goldenFixture(t, "fp32")
	c := must(AppendCSDB(nil, []CSDBEntry{{Group: 1, Block: block}, {Group: 2, Block: block}}))
	cs := must(ParseCSDB(c))
	got, _ := cs.Lookup(1)
	if &got[0] != &c[csdbHeaderSize+2*csdbEntrySize] {
		t.Error("Lookup copied the block")
	}
	if cap(got) != len(got) {
		t.Errorf("cap %d, len %d: an append would overwrite the next body", cap(got), len(got))
	}
}

func TestCSDBErrors(t *testing.T) {
	_, _, block := goldenFixture(t, "fp32")
	_, _, compressed := goldenFixture(t, "compressed")
	if _, err := AppendCSDB(nil, []CSDBEntry{{Group: 1, Block: block}, {Group: 1}}); !errors.Is(err, ErrLayout) {
		t.Errorf("duplicate group: %v", err)
	}
	if _, err := AppendCSDB(nil, []CSDBEntry{{Group: 1, Block: compressed}}); !errors.Is(err, ErrCompressed) {
		t.Errorf("compressed body: %v", err)
	}
	if _, err := AppendCSDB(nil, []CSDBEntry{{Group: 1, Block: block[:20]}}); !errors.Is(err, ErrTruncated) {
		t.Errorf("truncated body: %v", err)
	}

	good := must(AppendCSDB(nil, []CSDBEntry{{Group: 1, Block: block}, {Group: 7}, {Group: 9, Block: block}}))
	// reindex rewrites the index with f and fixes the index checksum.
	reindex := func(f func(b []byte)) []byte {
		b := append([]byte(nil), good...)
		f(b)
		binary.LittleEndian.PutUint32(b[2:], csdbChecksum(b, min(3, int(binary.LittleEndian.Uint32(b[8:])))))
		return b
	}
	entry := func(b []byte, i, field int) []byte { return b[csdbHeaderSize+csdbEntrySize*i+4*field:] }
	tests := []struct {
		name string
		b    []byte
		want error
	}{
		{"empty", nil, ErrTruncated},
		{"short", good[:11], ErrTruncated},
		{"a PSDB", block, ErrFormat},
		{"version 2", reindex(func(b []byte) { b[1] = 2 }), ErrFormat},
		{"reserved", reindex(func(b []byte) { b[6] = 1 }), ErrFormat},
		{"index checksum", func() []byte { b := append([]byte(nil), good...); b[13] ^= 1; return b }(), ErrCorrupt},
		{"count too large", reindex(func(b []byte) { binary.LittleEndian.PutUint32(b[8:], 1<<30) }), ErrTruncated},
		{"unsorted", reindex(func(b []byte) { binary.LittleEndian.PutUint32(entry(b, 1, 0), 20) }), ErrCorrupt},
		{"duplicate", reindex(func(b []byte) { binary.LittleEndian.PutUint32(entry(b, 1, 0), 1) }), ErrCorrupt},
		{"gap", reindex(func(b []byte) { binary.LittleEndian.PutUint32(entry(b, 0, 1), 49) }), ErrCorrupt},
		{"body past the end", reindex(func(b []byte) { binary.LittleEndian.PutUint32(entry(b, 2, 2), 1000) }), ErrTruncated},
		{"body cut", reindex(func(b []byte) {
			binary.LittleEndian.PutUint32(entry(b, 0, 2), 40)
			binary.LittleEndian.PutUint32(entry(b, 1, 1), 48+40)
			binary.LittleEndian.PutUint32(entry(b, 2, 1), 48+40)
		}), ErrTruncated},
		{"trailing bytes", append(append([]byte(nil), good...), 0), ErrCorrupt},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := ParseCSDB(tc.b); !errors.Is(err, tc.want) {
				t.Fatalf("ParseCSDB = %v, want %v", err, tc.want)
			}
		})
	}
	for n := range len(good) {
		if _, err := ParseCSDB(good[:n]); err == nil {
			t.Fatalf("cut to %d bytes: no error", n)
		}
	}
}

// TestCSDBReadPath is the cache read path: parse, look up, open in place.
func TestCSDBReadPath(t *testing.T) {
	l := mustLayout(t, 1, []Column{{Name: "x", Type: schema.FP32, Default: must(DefaultFloats(schema.FP32, -1))}})
	p := mustProjection(t, l, nil, nil)
	b := NewBuilder(l)
	b.SetFloat32(0, 42)
	block := must(b.Append(nil, 1, 0))
	c := must(AppendCSDB(nil, []CSDBEntry{{Group: 5, Block: block}, {Group: 6}}))
	cs := must(ParseCSDB(c))
	var r Reader
	for g, want := range map[uint32]float32{5: 42, 6: -1} {
		body, ok := cs.Lookup(g)
		if !ok {
			t.Fatalf("group %d missing", g)
		}
		if len(body) == 0 {
			r.OpenDefaults(p)
		} else if err := r.Open(body, p, 0); err != nil {
			t.Fatal(err)
		}
		if got := r.Float32(0); got != want {
			t.Errorf("group %d: %g, want %g", g, got, want)
		}
	}
}
