package codec_test

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/ofstack/ofs/codec"
	"github.com/ofstack/ofs/codec/internal/benchpb"
	"github.com/ofstack/ofs/schema"
)

// The benchmarks encode and decode the same rows as PSDB blocks and as a
// protobuf message (benchpb.Row, packed repeated fields per value kind), in
// the same run, so that their ratio means something on a noisy machine:
//
//	go test ./codec -run '^$' -bench 'Encode|Decode' -count 5 -benchmem
//
// Encode is from the row's values to the stored bytes: for PSDB the
// Builder's setters and Append, for protobuf filling the message (slice
// assignments) and MarshalAppend. Decode is from the stored bytes to every
// value in the caller's hands: for PSDB Open and the getters (a dense
// float32 row where the row is numeric), for protobuf Unmarshal and a pass
// over the fields.

const (
	benchEventTime = 1_700_000_000_000_000
	benchExpiry    = codec.NeverExpires
)

// benchRow is one benchmark case: a layout, the values of a row in the Go
// types a writer has them in, and the same values as a protobuf message.
type benchRow struct {
	name   string
	layout *codec.Layout
	set    func(b *codec.Builder) // sets every column
	read   func(r *codec.Reader, row []float32) float64
	msg    func() *benchpb.Row // fills a message
	pbRead func(m *benchpb.Row, row []float32) float64
}

func benchRows(tb testing.TB) []benchRow {
	rng := rand.New(rand.NewPCG(42, 42))
	return []benchRow{
		fp32Row(tb, rng, 50),
		fp32Row(tb, rng, 500),
		mixedRow(tb, rng),
		fp16VectorRow(tb, rng, 128),
		stringsRow(tb, rng, 20),
	}
}

func layoutOf(tb testing.TB, cols []codec.Column) *codec.Layout {
	l, err := codec.NewLayout(1, cols)
	if err != nil {
		tb.Fatal(err)
	}
	return l
}

// readDense reads a numeric row the hot-path way: one dense float32 row.
func readDense(r *codec.Reader, row []float32) float64 {
	if err := r.ReadFloat32s(row); err != nil {
		panic(err)
	}
	return float64(row[0])
}

func fp32Row(tb testing.TB, rng *rand.Rand, n int) benchRow {
	cols := make([]codec.Column, n)
	vals := make([]float32, n)
	for i := range cols {
		cols[i] = codec.Column{Name: fmt.Sprintf("f%d", i), Type: schema.FP32}
		vals[i] = float32(rng.NormFloat64())
	}
	return benchRow{
		name:   fmt.Sprintf("fp32x%d", n),
		layout: layoutOf(tb, cols),
		set:    func(b *codec.Builder) { b.SetFloat32Columns(0, vals) },
		read:   readDense,
		msg:    func() *benchpb.Row { return &benchpb.Row{Fp32: vals} },
		pbRead: func(m *benchpb.Row, row []float32) float64 {
			copy(row, m.Fp32)
			return float64(row[0])
		},
	}
}

func fp16VectorRow(tb testing.TB, rng *rand.Rand, n int) benchRow {
	vals := make([]float32, n)
	for i := range vals {
		vals[i] = float32(rng.NormFloat64() * 0.1)
	}
	return benchRow{
		name:   fmt.Sprintf("fp16vec%d", n),
		layout: layoutOf(tb, []codec.Column{{Name: "embedding", Type: schema.FP16, Len: n}}),
		set:    func(b *codec.Builder) { b.SetFloat32s(0, vals) },
		read:   readDense,
		// protobuf has no fp16: the vector is a repeated float.
		msg: func() *benchpb.Row { return &benchpb.Row{Fp32: vals} },
		pbRead: func(m *benchpb.Row, row []float32) float64 {
			copy(row, m.Fp32)
			return float64(row[0])
		},
	}
}

func stringsRow(tb testing.TB, rng *rand.Rand, n int) benchRow {
	cols := make([]codec.Column, n)
	vals := make([]string, n)
	words := []string{"sports", "news", "android", "de-DE", "premium", "campaign-2024-q3", "checkout"}
	for i := range cols {
		cols[i] = codec.Column{Name: fmt.Sprintf("s%d", i), Type: schema.String}
		vals[i] = words[rng.IntN(len(words))]
	}
	return benchRow{
		name:   fmt.Sprintf("stringx%d", n),
		layout: layoutOf(tb, cols),
		set: func(b *codec.Builder) {
			for i, v := range vals {
				b.SetString(i, v)
			}
		},
		// Bytes is the zero-copy read: a sub-slice of the block.
		read: func(r *codec.Reader, _ []float32) float64 {
			n := 0
			for i := range r.Projection().Len() {
				n += len(r.Bytes(i))
			}
			return float64(n)
		},
		msg: func() *benchpb.Row { return &benchpb.Row{Strings: vals} },
		pbRead: func(m *benchpb.Row, _ []float32) float64 {
			n := 0
			for _, s := range m.Strings {
				n += len(s)
			}
			return float64(n)
		},
	}
}

// mixedRow is 50 features of every kind: 25 floats (fp32, fp64, fp16, fp8),
// 19 integers of 8 to 64 bits, 4 bools, 2 strings.
func mixedRow(tb testing.TB, rng *rand.Rand) benchRow {
	counts := []struct {
		t schema.DataType
		n int
	}{
		{schema.FP32, 10}, {schema.FP64, 5}, {schema.FP16, 5}, {schema.FP8E4M3, 3}, {schema.FP8E5M2, 2},
		{schema.Int64, 5}, {schema.Int32, 3}, {schema.Int16, 2}, {schema.Int8, 2},
		{schema.Uint64, 3}, {schema.Uint32, 2}, {schema.Uint16, 1}, {schema.Uint8, 1},
		{schema.Bool, 4}, {schema.String, 2},
	}
	var cols []codec.Column
	for _, c := range counts {
		for range c.n {
			cols = append(cols, codec.Column{Name: fmt.Sprintf("f%d", len(cols)), Type: c.t})
		}
	}
	var (
		f32   []float32 // fp32, fp16, fp8 values
		f64   []float64
		ints  []int64
		uints []uint64
		bools []bool
		strs  []string
	)
	// ops says which setter and which value each column takes: what an
	// ingest prepares once per schema version.
	ops := make([]mixedOp, len(cols))
	for i, c := range cols {
		switch {
		case c.Type == schema.FP64:
			ops[i] = mixedOp{opFloat64, len(f64)}
			f64 = append(f64, rng.NormFloat64()*1e6)
		case c.Type.IsFloat():
			ops[i] = mixedOp{opFloat32, len(f32)}
			f32 = append(f32, float32(rng.NormFloat64()))
		case c.Type.IsSigned():
			ops[i] = mixedOp{opInt, len(ints)}
			ints = append(ints, rng.Int64N(100))
		case c.Type.IsUnsigned():
			ops[i] = mixedOp{opUint, len(uints)}
			uints = append(uints, rng.Uint64N(200))
		case c.Type == schema.Bool:
			ops[i] = mixedOp{opBool, len(bools)}
			bools = append(bools, rng.IntN(2) == 0)
		default:
			ops[i] = mixedOp{opString, len(strs)}
			strs = append(strs, []string{"android", "de-DE"}[len(strs)])
		}
	}
	return benchRow{
		name:   "mixed50",
		layout: layoutOf(tb, cols),
		set: func(b *codec.Builder) {
			for i, op := range ops {
				switch op.kind {
				case opFloat64:
					b.SetFloat64(i, f64[op.idx])
				case opFloat32:
					b.SetFloat32(i, f32[op.idx])
				case opInt:
					b.SetInt64(i, ints[op.idx])
				case opUint:
					b.SetUint64(i, uints[op.idx])
				case opBool:
					b.SetBool(i, bools[op.idx])
				default:
					b.SetString(i, strs[op.idx])
				}
			}
		},
		read: func(r *codec.Reader, _ []float32) float64 {
			var sum float64
			for i, op := range ops {
				switch op.kind {
				case opFloat64:
					sum += r.Float64(i)
				case opFloat32:
					sum += float64(r.Float32(i))
				case opInt:
					sum += float64(r.Int64(i))
				case opUint:
					sum += float64(r.Uint64(i))
				case opBool:
					if r.Bool(i) {
						sum++
					}
				default:
					sum += float64(len(r.Bytes(i)))
				}
			}
			return sum
		},
		msg: func() *benchpb.Row {
			return &benchpb.Row{Fp32: f32, Fp64: f64, Ints: ints, Uints: uints, Bools: bools, Strings: strs}
		},
		pbRead: func(m *benchpb.Row, _ []float32) float64 {
			var sum float64
			for _, v := range m.Fp32 {
				sum += float64(v)
			}
			for _, v := range m.Fp64 {
				sum += v
			}
			for _, v := range m.Ints {
				sum += float64(v)
			}
			for _, v := range m.Uints {
				sum += float64(v)
			}
			for _, v := range m.Bools {
				if v {
					sum++
				}
			}
			for _, s := range m.Strings {
				sum += float64(len(s))
			}
			return sum
		},
	}
}

// mixedOp is the setter (and getter) of a column of the mixed row and the
// index of its value in the slice of its Go type.
type mixedOp struct {
	kind int
	idx  int
}

const (
	opFloat32 = iota
	opFloat64
	opInt
	opUint
	opBool
	opString
)

func pbMessage(row benchRow) *benchpb.Row {
	m := row.msg()
	m.SchemaVersion, m.EventTime, m.Expiry = 1, benchEventTime, benchExpiry
	return m
}

var sink float64

func BenchmarkEncode(b *testing.B) {
	for _, row := range benchRows(b) {
		b.Run(row.name+"/format=ofs", func(b *testing.B) {
			bld := codec.NewBuilder(row.layout)
			var buf []byte
			b.ReportAllocs()
			for b.Loop() {
				row.set(bld)
				var err error
				if buf, err = bld.Append(buf[:0], benchEventTime, benchExpiry); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(len(buf)), "bytes/row")
		})
		b.Run(row.name+"/format=protobuf", func(b *testing.B) {
			var buf []byte
			b.ReportAllocs()
			for b.Loop() {
				m := pbMessage(row)
				var err error
				if buf, err = (proto.MarshalOptions{}).MarshalAppend(buf[:0], m); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(len(buf)), "bytes/row")
		})
	}
}

func BenchmarkDecode(b *testing.B) {
	for _, row := range benchRows(b) {
		bld := codec.NewBuilder(row.layout)
		row.set(bld)
		block, err := bld.Append(nil, benchEventTime, benchExpiry)
		if err != nil {
			b.Fatal(err)
		}
		p, err := codec.NewProjection(row.layout, nil, nil)
		if err != nil {
			b.Fatal(err)
		}
		dense := make([]float32, p.Width())
		b.Run(row.name+"/format=ofs", func(b *testing.B) {
			var r codec.Reader
			b.ReportAllocs()
			for b.Loop() {
				if err := r.Open(block, p, benchEventTime); err != nil {
					b.Fatal(err)
				}
				sink += row.read(&r, dense)
			}
		})
		msg, err := proto.Marshal(pbMessage(row))
		if err != nil {
			b.Fatal(err)
		}
		b.Run(row.name+"/format=protobuf", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				var m benchpb.Row
				if err := proto.Unmarshal(msg, &m); err != nil {
					b.Fatal(err)
				}
				sink += row.pbRead(&m, dense)
			}
		})
	}
}

// BenchmarkDecodeCompressed is Decode of the rows stored compressed where
// that wins (the blocks an L2 or L3 miss reads).
func BenchmarkDecodeCompressed(b *testing.B) {
	for _, row := range benchRows(b) {
		bld := codec.NewBuilder(row.layout)
		row.set(bld)
		block, err := bld.AppendCompressed(nil, benchEventTime, benchExpiry)
		if err != nil {
			b.Fatal(err)
		}
		h, err := codec.ReadHeader(block)
		if err != nil {
			b.Fatal(err)
		}
		if !h.Compressed {
			continue
		}
		p, err := codec.NewProjection(row.layout, nil, nil)
		if err != nil {
			b.Fatal(err)
		}
		dense := make([]float32, p.Width())
		b.Run(row.name, func(b *testing.B) {
			var r codec.Reader
			b.ReportAllocs()
			for b.Loop() {
				if err := r.Open(block, p, benchEventTime); err != nil {
					b.Fatal(err)
				}
				sink += row.read(&r, dense)
			}
			b.ReportMetric(float64(len(block)), "bytes/row")
		})
	}
}

// BenchmarkCSDBLookup is the cache read path for one group of ten.
func BenchmarkCSDBLookup(b *testing.B) {
	row := benchRows(b)[0]
	bld := codec.NewBuilder(row.layout)
	row.set(bld)
	block, err := bld.Append(nil, benchEventTime, benchExpiry)
	if err != nil {
		b.Fatal(err)
	}
	entries := make([]codec.CSDBEntry, 0, 10)
	for g := range uint32(10) {
		entries = append(entries, codec.CSDBEntry{Group: g * 3, Block: block})
	}
	c, err := codec.AppendCSDB(nil, entries)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		cs, err := codec.ParseCSDB(c)
		if err != nil {
			b.Fatal(err)
		}
		body, ok := cs.Lookup(21)
		if !ok {
			b.Fatal("missing")
		}
		sink += float64(len(body))
	}
}
