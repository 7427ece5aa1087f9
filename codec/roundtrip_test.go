package codec

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"testing"

	"github.com/ofstack/ofs/schema"
)

// TestRoundTrip is the property test of the format: for random layouts over
// every type, scalar and vector, with and without defaults, and random rows
// (some columns left at their defaults), what a Builder encodes a Reader
// reads back, compressed or not.
func TestRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 11))
	var block []byte
	var r Reader
	for iter := range 3000 {
		cols := randomColumns(rng, rng.IntN(16))
		if iter%50 == 0 {
			cols = randomColumns(rng, 200) // some wide rows, which compress
		}
		l := mustLayout(t, uint32(iter), cols)
		p := mustProjection(t, l, nil, nil)
		b := NewBuilder(l)
		want := make([]colVals, len(cols))
		for i, c := range cols {
			if rng.IntN(5) == 0 {
				want[i] = defaultVals(t, c)
				continue
			}
			want[i] = randomVals(rng, c)
			setVals(b, i, c, want[i])
		}
		eventTime, expiry := rng.Int64(), int64(0)
		var err error
		if iter%2 == 0 {
			block, err = b.Append(block[:0], eventTime, expiry)
		} else {
			block, err = b.AppendCompressed(block[:0], eventTime, expiry)
		}
		if err != nil {
			t.Fatalf("iteration %d: encode: %v", iter, err)
		}
		if err := r.Open(block, p, 0); err != nil {
			t.Fatalf("iteration %d: open: %v", iter, err)
		}
		if h := r.Header(); h.EventTime != eventTime || h.Expiry != expiry || h.SchemaVersion != uint32(iter) {
			t.Fatalf("iteration %d: header %+v", iter, h)
		}
		for i, c := range cols {
			if got, w := readVals(&r, i, c), stored(c, want[i]); !sameVals(got, w) {
				t.Fatalf("iteration %d: column %d (%s len %d): got %+v, want %+v", iter, i, c.Type, c.Len, got, w)
			}
		}
		checkDenseReads(t, &r, p)

		// Compress and Decompress convert between the forms losslessly.
		packed, err := Compress(nil, block)
		if err != nil {
			t.Fatal(err)
		}
		unpacked, err := Decompress(nil, packed)
		if err != nil {
			t.Fatal(err)
		}
		plain, err := Decompress(nil, block)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(unpacked, plain) {
			t.Fatalf("iteration %d: Decompress(Compress(b)) != Decompress(b)", iter)
		}
		if len(packed) > len(plain) {
			t.Fatalf("iteration %d: compressed block of %d bytes, plain %d", iter, len(packed), len(plain))
		}
	}
}

// checkDenseReads checks ReadFloat32s and AppendRaw against the per-column
// getters.
func checkDenseReads(t *testing.T, r *Reader, p *Projection) {
	t.Helper()
	var want []float32
	var wantRaw []byte
	dense, fixed := true, true
	for i := range p.Len() {
		c := p.Column(i)
		switch c.Type {
		case schema.String:
			dense, fixed = false, false
			continue
		case schema.Bool:
			fixed = false
		default:
			_, b, s := r.loc(i)
			wantRaw = append(wantRaw, b[s.off:s.off+c.Type.Size()*c.elems()]...)
		}
		want = r.AppendFloat32s(want, i)
	}
	row := make([]float32, p.Width())
	err := r.ReadFloat32s(row)
	switch {
	case !dense && !errors.Is(err, ErrType):
		t.Fatalf("ReadFloat32s with strings: %v, want ErrType", err)
	case dense && err != nil:
		t.Fatalf("ReadFloat32s: %v", err)
	case dense && !sameVals(colVals{f32: row}, colVals{f32: want}):
		t.Fatalf("ReadFloat32s = %v, want %v", row, want)
	}
	raw, err := r.AppendRaw(nil)
	switch {
	case !fixed && !errors.Is(err, ErrType):
		t.Fatalf("AppendRaw with bools or strings: %v, want ErrType", err)
	case fixed && err != nil:
		t.Fatalf("AppendRaw: %v", err)
	case fixed && !bytes.Equal(raw, wantRaw):
		t.Fatalf("AppendRaw = %x, want %x", raw, wantRaw)
	}
}

// TestProjectionAcrossVersions writes blocks with one version and reads
// them with a projection of a later one that dropped, added, retyped and
// reordered columns.
func TestProjectionAcrossVersions(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 5))
	for iter := range 500 {
		old := randomColumns(rng, 1+rng.IntN(12))
		// The new version: a shuffled subset of the old columns, some
		// retyped or resized (so absent), plus new ones (absent).
		var cur []Column
		for _, c := range old {
			if rng.IntN(4) == 0 {
				continue // dropped
			}
			switch rng.IntN(6) {
			case 0:
				c.Len++ // resized
				c.Default = encodeVals(c, randomVals(rng, c))
			case 1:
				types := schema.DataTypes()
				c.Type = types[rng.IntN(len(types))] // retyped, perhaps not
				c.Default = encodeVals(c, randomVals(rng, c))
			}
			cur = append(cur, c)
		}
		for i, c := range randomColumns(rng, rng.IntN(4)) {
			c.Name = "new" + c.Name + string(rune('a'+i))
			cur = append(cur, c)
		}
		rng.Shuffle(len(cur), func(i, j int) { cur[i], cur[j] = cur[j], cur[i] })

		v1 := mustLayout(t, 1, old)
		v2 := mustLayout(t, 2, cur)
		// Read a random selection, in random order, of the new columns.
		var sel []int
		for i := range cur {
			if rng.IntN(3) != 0 {
				sel = append(sel, i)
			}
		}
		rng.Shuffle(len(sel), func(i, j int) { sel[i], sel[j] = sel[j], sel[i] })
		p := mustProjection(t, v2, []*Layout{v1, v2}, sel)

		b := NewBuilder(v1)
		written := make(map[string]colVals)
		for i, c := range old {
			v := randomVals(rng, c)
			setVals(b, i, c, v)
			written[c.Name] = stored(c, v)
		}
		block, err := b.AppendCompressed(nil, 100, 200)
		if err != nil {
			t.Fatal(err)
		}
		var r Reader
		if err := r.Open(block, p, 150); err != nil {
			t.Fatalf("iteration %d: %v", iter, err)
		}
		for i, ci := range sel {
			c := cur[ci]
			want := defaultVals(t, c)
			if j, ok := v1.Index(c.Name); ok && old[j].Type == c.Type && old[j].Len == c.Len {
				want = written[c.Name]
			}
			if got := readVals(&r, i, c); !sameVals(got, want) {
				t.Fatalf("iteration %d: column %q: got %+v, want %+v", iter, c.Name, got, want)
			}
		}
		checkDenseReads(t, &r, p)

		// At its expiry the block reads as the defaults.
		if err := r.Open(block, p, 200); !errors.Is(err, ErrExpired) {
			t.Fatalf("open at expiry: %v, want ErrExpired", err)
		}
		if r.Found() {
			t.Fatal("Found after ErrExpired")
		}
		for i, ci := range sel {
			if got, want := readVals(&r, i, cur[ci]), defaultVals(t, cur[ci]); !sameVals(got, want) {
				t.Fatalf("expired: column %q: got %+v, want default %+v", cur[ci].Name, got, want)
			}
		}
	}
}

func TestBuilderErrors(t *testing.T) {
	l := mustLayout(t, 1, []Column{
		{Name: "i8", Type: schema.Int8},
		{Name: "u16", Type: schema.Uint16},
		{Name: "f", Type: schema.FP32, Len: 3},
		{Name: "s", Type: schema.String},
		{Name: "b", Type: schema.Bool},
	})
	tests := []struct {
		name string
		set  func(b *Builder)
		want error
	}{
		{"int8 too big", func(b *Builder) { b.SetInt64(0, 128) }, ErrRange},
		{"int8 too small", func(b *Builder) { b.SetInt64(0, -129) }, ErrRange},
		{"uint16 negative", func(b *Builder) { b.SetInt64(1, -1) }, ErrRange},
		{"uint16 too big", func(b *Builder) { b.SetUint64(1, 1<<16) }, ErrRange},
		{"int8 from uint64 too big", func(b *Builder) { b.SetUint64(0, 200) }, ErrRange},
		{"float into int", func(b *Builder) { b.SetFloat32(0, 1) }, ErrType},
		{"int into float", func(b *Builder) { b.SetInt64s(2, []int64{1, 2, 3}) }, ErrType},
		{"short vector", func(b *Builder) { b.SetFloat32s(2, []float32{1, 2}) }, ErrLength},
		{"scalar into vector", func(b *Builder) { b.SetFloat64(2, 1) }, ErrLength},
		{"string into bool", func(b *Builder) { b.SetString(4, "x") }, ErrType},
		{"bool into string", func(b *Builder) { b.SetBool(3, true) }, ErrType},
		{"no such column", func(b *Builder) { b.SetBool(5, true) }, ErrLayout},
		{"negative column", func(b *Builder) { b.SetString(-1, "") }, ErrLayout},
		{"first error sticks", func(b *Builder) { b.SetInt64(0, 1000); b.SetBool(3, true) }, ErrRange},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := NewBuilder(l)
			tc.set(b)
			if !errors.Is(b.Err(), tc.want) {
				t.Fatalf("Err() = %v, want %v", b.Err(), tc.want)
			}
			out, err := b.Append([]byte("keep"), 1, 0)
			if !errors.Is(err, tc.want) || string(out) != "keep" {
				t.Fatalf("Append = %q, %v; want dst unchanged and %v", out, err, tc.want)
			}
			b.Reset()
			if _, err := b.Append(nil, 1, 0); err != nil {
				t.Fatalf("after Reset: %v", err)
			}
		})
	}
}

func TestBuilderReset(t *testing.T) {
	l := mustLayout(t, 4, []Column{
		{Name: "f", Type: schema.FP32, Default: must(DefaultFloats(schema.FP32, 0.5))},
		{Name: "s", Type: schema.String, Default: DefaultStrings("none")},
	})
	b := NewBuilder(l)
	fresh, err := b.Append(nil, 1, 0)
	if err != nil {
		t.Fatal(err)
	}
	b.SetFloat32(0, 2)
	b.SetString(1, "x")
	changed, _ := b.Append(nil, 1, 0)
	b.Reset()
	again, _ := b.Append(nil, 1, 0)
	if bytes.Equal(fresh, changed) || !bytes.Equal(fresh, again) {
		t.Fatalf("Reset does not restore the defaults:\nfresh %x\nset   %x\nreset %x", fresh, changed, again)
	}
}

func TestEmptyLayout(t *testing.T) {
	l := mustLayout(t, 1, nil)
	block, err := NewBuilder(l).Append(nil, 5, 0)
	if err != nil || len(block) != HeaderSize {
		t.Fatalf("empty row: %x, %v", block, err)
	}
	var r Reader
	if err := r.Open(block, mustProjection(t, l, nil, nil), 0); err != nil {
		t.Fatal(err)
	}
	if err := r.ReadFloat32s(nil); err != nil {
		t.Fatal(err)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
