package views

import (
	"context"
	"fmt"
	"testing"

	"github.com/ofstack/ofs/internal/testenv"
)

// BenchmarkScyllaReadStrategies reads 100 entity keys × 1 group of 50 fp32
// from Cassandra in the ways issue 13 asks to compare: one query per key
// (token-aware) at several bounds on the queries in flight, and `IN` over
// the partition key in batches of keys, 32 batches in flight (the "user"
// table has one key column, so one `IN` names the partitions); and the
// store's Read, which does the latter in batches of scyllaInBatch.
func BenchmarkScyllaReadStrategies(b *testing.B) {
	s := devScylla(b, testenv.Cassandra(b))
	const nkeys = 100
	ctx := context.Background()
	blocks := rows(nkeys)
	setTime(blocks, 1)
	if err := s.Write(ctx, blocks); err != nil {
		b.Fatal(err)
	}
	keys := make([]Key, nkeys)
	for i := range blocks {
		keys[i] = blocks[i].Key
	}
	groups := []uint32{1}
	loop := func(b *testing.B, read func() ([][]byte, error)) {
		var n int64
		for b.Loop() {
			n++
			out, err := read()
			if err != nil {
				b.Fatal(err)
			}
			for i, v := range out {
				if v == nil {
					b.Fatalf("block %d is missing", i)
				}
			}
		}
		b.ReportMetric(float64(n)*nkeys/b.Elapsed().Seconds(), "rows/s")
	}
	tables := *s.tables.Load()
	fgs := []int32{1}
	for _, c := range []int{8, 16, 32, 64, 100} {
		b.Run(fmt.Sprintf("per-key/inflight=%d", c), func(b *testing.B) {
			s.concurrency = c
			loop(b, func() ([][]byte, error) {
				out := make([][]byte, len(keys))
				err := s.each(ctx, len(keys), func(ctx context.Context, i int) error {
					tb, a, err := bind(tables, keys[i], 1)
					if err != nil {
						return err
					}
					return s.readOne(ctx, tb.query, append(a, fgs), keys[i], func(_ int32, v []byte) { out[i] = v })
				})
				return out, err
			})
		})
	}
	s.concurrency = DefaultScyllaConcurrency
	for _, batch := range []int{5, 10, 25, 100} {
		b.Run(fmt.Sprintf("in/batch=%d", batch), func(b *testing.B) {
			loop(b, func() ([][]byte, error) {
				out := make([][]byte, len(keys))
				nb := (len(keys) + batch - 1) / batch
				err := s.each(ctx, nb, func(ctx context.Context, j int) error {
					q := &readQuery{tb: tables["user"], at: map[any][]int{}}
					for p := j * batch; p < min((j+1)*batch, len(keys)); p++ {
						_, a, err := bind(tables, keys[p], 0)
						if err != nil {
							return err
						}
						q.in = append(q.in, a[0])
						q.at[a[0]] = []int{p}
					}
					return s.readIn(ctx, q, fgs, keys, func(p int, _ int32, v []byte, _ bool) { out[p] = v })
				})
				return out, err
			})
		})
	}
	b.Run("Read", func(b *testing.B) {
		loop(b, func() ([][]byte, error) { return s.Read(ctx, keys, groups) })
	})
}
