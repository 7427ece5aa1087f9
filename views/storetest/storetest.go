// Package storetest is the conformance suite of views.Store: the rules every
// online store must keep, run against each real store by its own tests
// (Redis standalone and Cluster, Cassandra for ScyllaDB, Pebble).
//
// Run checks: write and read back, the latest event time wins in any write
// order, the tie rule of equal event times (views.Wins), the store's TTL
// (blocks go once it passes, where the store keeps TTLs), missing keys read
// as nil, batches of 1 to 10,000 keys, the largest block the store takes,
// blocks of several schema versions side by side, and, with an Outage, a
// store that goes away (every call wraps views.ErrUnavailable, never
// returns empty blocks) and comes back with its data.
package storetest

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/ofstack/ofs/codec"
	"github.com/ofstack/ofs/schema"
	"github.com/ofstack/ofs/views"
)

// Tables are the entities the suite writes; a store that needs tables
// (views.Scylla) must know them.
var Tables = []views.Table{
	{Entity: "user", Keys: []views.KeyColumn{{Name: "id", Type: schema.Int64}}},
	{Entity: "pair", Keys: []views.KeyColumn{{Name: "id", Type: schema.Int64}, {Name: "name", Type: schema.String}}},
}

// Harness is how the suite reaches one kind of store.
type Harness struct {
	// Open returns an empty store of the test's own (a key prefix or a
	// keyspace of its own), closed by the test's cleanup.
	Open func(t *testing.T) views.Store
	// KeepsTTL says the store drops a block once its TTL passed (Redis,
	// Scylla); a store that does not (Pebble) leaves that to readers.
	KeepsTTL bool
	// MaxBlock is the largest block the store must take, in bytes.
	MaxBlock int
	// Outage, when set, returns a store of the test's own and two functions
	// that make it unreachable and reachable again.
	Outage func(t *testing.T) (s views.Store, down, up func())
}

// Block returns a block of size bytes (at least codec.HeaderSize) for the
// key k and group g: a PSDB header with event time at, expiry exp and
// schema version, and a payload of fill. Stores read only the header's
// event time and expiry; the checksum is left zero.
func Block(k views.Key, g uint32, at, exp int64, version uint32, size int, fill byte) views.Block {
	b := make([]byte, size)
	b[0], b[1] = 'P', 1
	binary.LittleEndian.PutUint64(b[codec.EventTimeOffset:], uint64(at))
	binary.LittleEndian.PutUint64(b[codec.ExpiryOffset:], uint64(exp))
	binary.LittleEndian.PutUint32(b[codec.SchemaVersionOffset:], version)
	binary.LittleEndian.PutUint32(b[28:], uint32(size-codec.HeaderSize))
	for i := codec.HeaderSize; i < size; i++ {
		b[i] = fill
	}
	return views.Block{Key: k, Group: g, Data: b, EventTime: at}
}

func user(i int) views.Key { return views.Key{Entity: "user", Values: []string{fmt.Sprint(i)}} }

func small(k views.Key, g uint32, at int64, fill byte) views.Block {
	return Block(k, g, at, codec.NeverExpires, 1, 64, fill)
}

func write(t *testing.T, s views.Store, blocks ...views.Block) {
	t.Helper()
	if err := s.Write(context.Background(), blocks); err != nil {
		t.Fatalf("Write of %d blocks: %v", len(blocks), err)
	}
}

func read(t *testing.T, s views.Store, keys []views.Key, groups []uint32) [][]byte {
	t.Helper()
	out, err := s.Read(context.Background(), keys, groups)
	if err != nil {
		t.Fatalf("Read of %d keys: %v", len(keys), err)
	}
	if len(out) != len(keys)*len(groups) {
		t.Fatalf("Read: %d blocks for %d keys × %d groups", len(out), len(keys), len(groups))
	}
	return out
}

func one(t *testing.T, s views.Store, k views.Key, g uint32) []byte {
	t.Helper()
	return read(t, s, []views.Key{k}, []uint32{g})[0]
}

// Run runs the suite on the stores h opens.
func Run(t *testing.T, h Harness) {
	s := h.Open(t)
	t.Run("WriteRead", func(t *testing.T) { writeRead(t, s) })
	t.Run("LatestWins", func(t *testing.T) { latestWins(t, s) })
	t.Run("TieRule", func(t *testing.T) { tieRule(t, s) })
	t.Run("MissingKeys", func(t *testing.T) { missing(t, s) })
	t.Run("Batches", func(t *testing.T) { batches(t, s) })
	t.Run("LargestBlock", func(t *testing.T) { largest(t, s, h.MaxBlock) })
	t.Run("SchemaVersions", func(t *testing.T) { versions(t, s) })
	t.Run("TTL", func(t *testing.T) { ttl(t, s, h.KeepsTTL) })
	if h.Outage != nil {
		t.Run("Outage", func(t *testing.T) { outage(t, h) })
	}
}

func writeRead(t *testing.T, s views.Store) {
	k := views.Key{Entity: "pair", Values: []string{"-5", "a|{b}%"}}
	a, b := small(k, 1, 10, 1), Block(k, 4294967295, 20, codec.NeverExpires, 1, 300, 2)
	write(t, s, a, b)
	out := read(t, s, []views.Key{k}, []uint32{4294967295, 1, 2})
	if !bytes.Equal(out[0], b.Data) || !bytes.Equal(out[1], a.Data) || out[2] != nil {
		t.Fatalf("read back the wrong blocks")
	}
}

func latestWins(t *testing.T, s views.Store) {
	for i, tc := range []struct{ older, newer int64 }{
		{1, 2}, {1 << 53, 1<<53 + 1}, {-1, 0}, {255, 256}, {-(1 << 40), 1 << 40},
	} {
		for j, newerFirst := range []bool{false, true} {
			k := user(100 + 2*i + j)
			o, n := small(k, 1, tc.older, 1), small(k, 1, tc.newer, 2)
			if newerFirst {
				write(t, s, n)
				write(t, s, o)
			} else {
				write(t, s, o)
				write(t, s, n)
			}
			if !bytes.Equal(one(t, s, k, 1), n.Data) {
				t.Errorf("%d then %d (newer first %v): the older block stayed", tc.older, tc.newer, newerFirst)
			}
			// In one batch, in both orders.
			k2 := user(200 + 2*i + j)
			o.Key, n.Key = k2, k2
			if newerFirst {
				write(t, s, n, o)
			} else {
				write(t, s, o, n)
			}
			if !bytes.Equal(one(t, s, k2, 1), n.Data) {
				t.Errorf("%d and %d in one batch (newer first %v): the older block stayed", tc.older, tc.newer, newerFirst)
			}
		}
	}
}

// tieRule writes pairs of blocks of equal event time in both orders; the
// winner is views.Wins's.
func tieRule(t *testing.T, s views.Store) {
	now := time.Now()
	in := func(d time.Duration) int64 { return now.Add(d).UnixMicro() }
	type pair struct {
		name          string
		winner, loser views.Block
		wTTL, lTTL    time.Duration
	}
	at := int64(1_700_000_000_000_000)
	mk := func(exp int64, fill byte) views.Block { return Block(views.Key{}, 1, at, exp, 1, 64, fill) }
	pairs := []pair{
		{"greater bytes, unsigned", mk(0, 0x80), mk(0, 0x7f), 0, 0},
		{"longer block", Block(views.Key{}, 1, at, 0, 1, 65, 0x01), mk(0, 0x01), 0, 0},
		{"expiring beats never", mk(in(2*time.Hour), 0x01), mk(0, 0x02), 2 * time.Hour, 0},
		{"later expiry", mk(in(2*time.Hour), 0x01), mk(in(time.Hour), 0x02), 2 * time.Hour, time.Hour},
	}
	for i, p := range pairs {
		if !views.Wins(p.winner.EventTime, p.winner.Data, p.loser.EventTime, p.loser.Data) {
			t.Fatalf("%s: the suite's winner does not win by views.Wins", p.name)
		}
		for j, winnerFirst := range []bool{true, false} {
			for b, batch := range []bool{false, true} {
				k := user(300 + 4*i + 2*j + b)
				w, l := p.winner, p.loser
				w.Key, l.Key, w.TTL, l.TTL = k, k, p.wTTL, p.lTTL
				first, second := l, w
				if winnerFirst {
					first, second = w, l
				}
				if batch {
					write(t, s, first, second)
				} else {
					write(t, s, first)
					write(t, s, second)
				}
				if !bytes.Equal(one(t, s, k, 1), w.Data) {
					t.Errorf("%s (winner first %v, one batch %v): the losing block stayed", p.name, winnerFirst, batch)
				}
			}
		}
	}
	// The same block again changes nothing.
	k := user(399)
	b := small(k, 1, at, 9)
	write(t, s, b, b)
	write(t, s, b)
	if !bytes.Equal(one(t, s, k, 1), b.Data) {
		t.Errorf("a block written again is not the stored one")
	}
}

func missing(t *testing.T, s views.Store) {
	k := user(500)
	write(t, s, small(k, 2, 1, 1))
	out := read(t, s, []views.Key{user(501), k, {Entity: "pair", Values: []string{"1", "nobody"}}}, []uint32{1, 2})
	for i, b := range out {
		if (b != nil) != (i == 3) {
			t.Errorf("block %d: present %v", i, b != nil)
		}
	}
}

func batches(t *testing.T, s views.Store) {
	const n = 10_000
	blocks := make([]views.Block, n)
	for i := range blocks {
		blocks[i] = small(user(10_000+i), 7, int64(i+1), byte(i))
	}
	write(t, s, blocks...)
	for _, size := range []int{1, 10, 100, 1000, n} {
		keys := make([]views.Key, size)
		for i := range keys {
			// Every fourth key is one never written.
			if i%4 == 3 {
				keys[i] = user(30_000 + i)
			} else {
				keys[i] = user(10_000 + (i*7919)%n)
			}
		}
		out := read(t, s, keys, []uint32{7})
		for i, b := range out {
			want := []byte(nil)
			if i%4 != 3 {
				want = blocks[(i*7919)%n].Data
			}
			if !bytes.Equal(b, want) || (b == nil) != (want == nil) {
				t.Fatalf("batch of %d: key %d: wrong block", size, i)
			}
		}
	}
}

func largest(t *testing.T, s views.Store, size int) {
	if size < codec.HeaderSize {
		t.Fatalf("Harness.MaxBlock %d is smaller than a header", size)
	}
	k := user(600)
	b := Block(k, 1, 5, codec.NeverExpires, 1, size, 0xee)
	write(t, s, b)
	if !bytes.Equal(one(t, s, k, 1), b.Data) {
		t.Fatalf("a block of %d bytes did not read back", size)
	}
}

func versions(t *testing.T, s views.Store) {
	k := user(700)
	var blocks []views.Block
	for v := uint32(1); v <= 4; v++ {
		blocks = append(blocks, Block(k, v, int64(v), codec.NeverExpires, v, 40+int(v)*8, byte(v)))
	}
	write(t, s, blocks...)
	out := read(t, s, []views.Key{k}, []uint32{1, 2, 3, 4})
	for i, b := range blocks {
		if !bytes.Equal(out[i], b.Data) {
			t.Errorf("group %d: the block of schema version %d did not read back", b.Group, i+1)
		}
	}
	// A later event of a newer version replaces one of an older version.
	nb := Block(k, 1, 100, codec.NeverExpires, 9, 64, 9)
	write(t, s, nb)
	if !bytes.Equal(one(t, s, k, 1), nb.Data) {
		t.Errorf("a later block of a newer schema version did not replace the older one")
	}
}

func ttl(t *testing.T, s views.Store, keeps bool) {
	k := user(800)
	exp := time.Now().Add(time.Second)
	b := Block(k, 1, 5, exp.UnixMicro(), 1, 64, 1)
	b.TTL = time.Second
	forever := small(k, 2, 5, 2)
	write(t, s, b, forever)
	deadline := time.Now().Add(15 * time.Second)
	for {
		out := read(t, s, []views.Key{k}, []uint32{1, 2})
		if !bytes.Equal(out[1], forever.Data) {
			t.Fatalf("the block without TTL is gone")
		}
		if !keeps {
			if !bytes.Equal(out[0], b.Data) && time.Now().Before(exp) {
				t.Fatalf("a store that keeps no TTL lost a block before its expiry")
			}
			return
		}
		if out[0] == nil {
			if time.Now().Before(exp) {
				t.Fatalf("the block went before its TTL")
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the block is still there 15 s after its 1 s TTL")
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func outage(t *testing.T, h Harness) {
	s, down, up := h.Outage(t)
	k := user(900)
	b := small(k, 1, 5, 5)
	write(t, s, b)
	down()
	call := func(what string, f func(ctx context.Context) error) {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err := f(ctx); !errors.Is(err, views.ErrUnavailable) {
			t.Errorf("%s while the store is away: %v, want views.ErrUnavailable", what, err)
		}
	}
	call("Read", func(ctx context.Context) error {
		out, err := s.Read(ctx, []views.Key{k}, []uint32{1})
		if err == nil && out != nil {
			t.Errorf("Read while the store is away returned blocks")
		}
		return err
	})
	call("Write", func(ctx context.Context) error { return s.Write(ctx, []views.Block{small(k, 2, 6, 6)}) })
	up()
	deadline := time.Now().Add(60 * time.Second)
	for {
		out, err := s.Read(context.Background(), []views.Key{k}, []uint32{1})
		if err == nil {
			if !bytes.Equal(out[0], b.Data) {
				t.Fatalf("after the outage the block is not the one written before")
			}
			return
		}
		if !errors.Is(err, views.ErrUnavailable) {
			t.Fatalf("Read after the store came back: %v", err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("the store is still unavailable 60 s after it came back: %v", err)
		}
		time.Sleep(500 * time.Millisecond)
	}
}
