package views

import (
	"bytes"
	"context"
	"fmt"

	"github.com/ofstack/ofs/schema"
)

// scyllaInBatch is the most distinct entity keys that one read query of an
// entity with one key column names in its IN list. Ten measured best for
// 100 keys (docs/benchmarks.md): fewer queries than one a key, each still
// small enough that the coordinator's fan-out stays short.
const scyllaInBatch = 10

// readQuery is one query of a Read: for an entity of one key column, up to
// scyllaInBatch distinct key values (in, with the positions of each in the
// Read's keys); otherwise one key (args).
type readQuery struct {
	tb   *table
	args []any         // one key: its values and the groups
	in   []any         // IN: the distinct key values
	at   map[any][]int // IN: the positions of each value in the Read's keys
	pos  int           // one key: its position
}

// Read queries the groups of the keys: the keys of an entity with one key
// column in batches of up to scyllaInBatch partitions, one
// `"<key>" IN ? AND "fg" IN ?` query a batch (a batch of one is a query of
// one partition, routed token-aware); the keys of other entities one query
// a key (one partition, token-aware). Queries run concurrently, up to the
// store's concurrency.
func (s *Scylla) Read(ctx context.Context, keys []Key, groups []uint32) ([][]byte, error) {
	out := make([][]byte, len(keys)*len(groups))
	if len(out) == 0 {
		return out, nil
	}
	if err := checkKeys(keys); err != nil {
		return nil, err
	}
	fgs := make([]int32, len(groups))
	for j, g := range groups {
		fgs[j] = int32(g) // group ids are stored as CQL int by reinterpretation
	}
	tables, err := s.tablesFor(ctx, len(keys), func(i int) string { return keys[i].Entity })
	if err != nil {
		return nil, err
	}
	var (
		queries []*readQuery
		open    = map[*table]*readQuery{} // the IN batch of each table still taking keys
	)
	for i, k := range keys {
		tb, a, err := bind(tables, k, 1)
		if err != nil {
			return nil, err
		}
		if len(tb.Keys) > 1 {
			queries = append(queries, &readQuery{tb: tb, args: append(a, fgs), pos: i})
			continue
		}
		v := a[0]
		q := open[tb]
		if q == nil || (len(q.in) == scyllaInBatch && q.at[v] == nil) {
			q = &readQuery{tb: tb, at: map[any][]int{}}
			open[tb] = q
			queries = append(queries, q)
		}
		if q.at[v] == nil {
			q.in = append(q.in, v)
		}
		q.at[v] = append(q.at[v], i)
	}
	ng := len(groups)
	put := func(pos int, g int32, v []byte, clone bool) {
		for j, want := range fgs {
			if want == g {
				if clone {
					v = bytes.Clone(v)
				}
				out[pos*ng+j] = v
			}
		}
	}
	err = s.each(ctx, len(queries), func(ctx context.Context, i int) error {
		q := queries[i]
		if q.in == nil {
			return s.readOne(ctx, q.tb.query, q.args, keys[q.pos], func(g int32, v []byte) { put(q.pos, g, v, false) })
		}
		if len(q.in) == 1 {
			pos := q.at[q.in[0]]
			return s.readOne(ctx, q.tb.query, []any{q.in[0], fgs}, keys[pos[0]], func(g int32, v []byte) {
				for n, p := range pos {
					put(p, g, v, n > 0)
				}
			})
		}
		return s.readIn(ctx, q, fgs, keys, put)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// readOne runs a query of one partition (of key) and gives found each row.
func (s *Scylla) readOne(ctx context.Context, stmt string, args []any, key Key, found func(g int32, v []byte)) error {
	sc := s.session.Query(stmt, args...).WithContext(ctx).Idempotent(true).Iter().Scanner()
	for sc.Next() {
		var (
			g int32
			v []byte
		)
		if err := sc.Scan(&g, &v); err != nil {
			return fmt.Errorf("views: scylla: read %s: %w", key, err)
		}
		found(g, v)
	}
	if err := sc.Err(); err != nil {
		return s.fail(ctx, "read "+key.String(), err)
	}
	return nil
}

// readIn runs the IN query of a batch and puts each row at the positions of
// its key value.
func (s *Scylla) readIn(ctx context.Context, q *readQuery, fgs []int32, keys []Key, put func(pos int, g int32, v []byte, clone bool)) error {
	var (
		str      string
		n32      int32
		n64      int64
		dst      any
		first    = keys[q.at[q.in[0]][0]]
		what     = fmt.Sprintf("read %s and %d more keys", first, len(q.in)-1)
		keyValue func() any
	)
	switch q.tb.Keys[0].Type {
	case schema.String:
		dst, keyValue = &str, func() any { return str }
	case schema.Int32:
		dst, keyValue = &n32, func() any { return n32 }
	default: // bigint: see cqlType
		dst, keyValue = &n64, func() any { return n64 }
	}
	sc := s.session.Query(q.tb.queryIn, q.in, fgs).WithContext(ctx).Idempotent(true).Iter().Scanner()
	for sc.Next() {
		var (
			g int32
			v []byte // nil: the driver would reuse a buffer
		)
		if err := sc.Scan(dst, &g, &v); err != nil {
			return fmt.Errorf("views: scylla: %s: %w", what, err)
		}
		for n, p := range q.at[keyValue()] {
			put(p, g, v, n > 0)
		}
	}
	if err := sc.Err(); err != nil {
		return s.fail(ctx, what, err)
	}
	return nil
}
