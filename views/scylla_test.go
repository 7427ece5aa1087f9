package views

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ofstack/ofs/codec"
	"github.com/ofstack/ofs/internal/testenv"
	"github.com/ofstack/ofs/internal/tlsconf"
	"github.com/ofstack/ofs/schema"
)

// devScylla returns a store on the dev Cassandra in a keyspace of the
// test's own, dropped at the end, with the suite's tables.
func devScylla(t testing.TB, hosts []string, opts ...ScyllaOption) *Scylla {
	t.Helper()
	ks := testenv.Name(t)
	// DDL on a shared two-core machine can take seconds.
	opts = append([]ScyllaOption{ScyllaKeyspace(ks), ScyllaTimeout(30 * time.Second),
		ScyllaAuth(testenv.CassandraUser, testenv.CassandraPassword)}, opts...)
	s, err := OpenScylla(hosts, opts...)
	if err != nil {
		t.Fatalf("OpenScylla(%v): %v", hosts, err)
	}
	t.Cleanup(func() {
		if err := s.session.Query(`DROP KEYSPACE IF EXISTS ` + quote(ks)).Exec(); err != nil {
			t.Errorf("drop keyspace %s: %v", ks, err)
		}
		s.Close()
	})
	if err := s.EnsureTables(context.Background(), suiteTables...); err != nil {
		t.Fatalf("EnsureTables: %v", err)
	}
	return s
}

func TestScylla(t *testing.T) {
	s := devScylla(t, testenv.Cassandra(t))
	// CQL reserves math.MinInt64 for "no timestamp".
	testStore(t, s, math.MinInt64+1)
}

// TestScyllaTimestampAndTTL checks what the database holds: the write time
// of each cell is the block's event time (also within one batch), and its
// TTL the block's, rounded up to seconds.
func TestScyllaTimestampAndTTL(t *testing.T) {
	s := devScylla(t, testenv.Cassandra(t))
	k := key("user", "1")
	b1, b2, b3 := blk(k, 1, 1_700_000_000_000_001, 1), blk(k, 2, 1_700_000_000_000_002, 2), blk(k, 3, 3, 3)
	b1.TTL = time.Hour
	b2.TTL = 1500 * time.Millisecond
	mustWrite(t, s, b1, b2, b3)
	for _, b := range []Block{b1, b2, b3} {
		var (
			ttl       *int
			writeTime int64
		)
		q := `SELECT TTL("v"), WRITETIME("v") FROM ` + quote(s.keyspace) + `."user" WHERE "id" = 1 AND "fg" = ?`
		if err := s.session.Query(q, int32(b.Group)).Scan(&ttl, &writeTime); err != nil {
			t.Fatalf("group %d: %v", b.Group, err)
		}
		if writeTime != b.EventTime {
			t.Errorf("group %d: WRITETIME %d, want the event time %d", b.Group, writeTime, b.EventTime)
		}
		want := ttlSeconds(b.TTL)
		if want > 0 {
			want++ // one second for Cassandra's truncated now
		}
		switch {
		case want == 0 && ttl != nil:
			t.Errorf("group %d: TTL %d, want none", b.Group, *ttl)
		case want > 0 && (ttl == nil || *ttl <= 0 || int64(*ttl) > want):
			t.Errorf("group %d: TTL %v, want within (0, %d]", b.Group, ttl, want)
		}
	}
}

func TestScyllaEnsureTables(t *testing.T) {
	s := devScylla(t, testenv.Cassandra(t))
	ctx := context.Background()
	if err := s.EnsureTables(ctx, suiteTables...); err != nil {
		t.Fatalf("EnsureTables again: %v", err)
	}
	changed := Table{Entity: "user", Keys: []KeyColumn{{"id", schema.String}}}
	if err := s.EnsureTables(ctx, changed); !errors.Is(err, ErrTableMismatch) {
		t.Fatalf("a changed key type: %v, want ErrTableMismatch", err)
	}
	renamed := Table{Entity: "user", Keys: []KeyColumn{{"uid", schema.Int64}}}
	if err := s.EnsureTables(ctx, renamed); !errors.Is(err, ErrTableMismatch) {
		t.Fatalf("a renamed key column: %v, want ErrTableMismatch", err)
	}
	// The failed calls left the known definition as it was.
	mustWrite(t, s, blk(key("user", "5"), 1, 1, 1))

	long := Table{Entity: strings.Repeat("e", 60), Keys: []KeyColumn{{"id", schema.Uint32}}}
	if err := s.EnsureTables(ctx, long); err != nil {
		t.Fatalf("an entity name longer than a table name: %v", err)
	}
	k := key(long.Entity, "4294967295")
	b := blk(k, 9, 9, 9)
	mustWrite(t, s, b)
	if got := readOne(t, s, k, 9); string(got) != string(b.Data) {
		t.Fatalf("long entity: read %x", got)
	}
}

func TestScyllaUnreachable(t *testing.T) {
	if testing.Short() {
		t.Skip("dials the network")
	}
	addr := "127.0.0.1:" + strconv.Itoa(testenv.FreePort(t))
	_, err := OpenScylla([]string{addr}, ScyllaTimeout(time.Second))
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("OpenScylla(%s): %v, want ErrUnavailable", addr, err)
	}
}

// TestScyllaStopped: the cluster goes away under a working store (the store
// talks to Cassandra through a TCP proxy, which the test stops).
func TestScyllaStopped(t *testing.T) {
	hosts := testenv.Cassandra(t)
	direct := devScylla(t, hosts) // makes the keyspace and drops it at the end
	p := startProxy(t, hosts[0])
	s, err := OpenScylla([]string{p.addr()}, ScyllaKeyspace(direct.keyspace), ScyllaTimeout(2*time.Second),
		ScyllaAuth(testenv.CassandraUser, testenv.CassandraPassword))
	if err != nil {
		t.Fatalf("OpenScylla through the proxy: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	if err := s.EnsureTables(context.Background(), suiteTables...); err != nil {
		t.Fatal(err)
	}
	k := key("user", "1")
	mustWrite(t, s, blk(k, 1, 1, 1))
	if readOne(t, s, k, 1) == nil {
		t.Fatal("nothing stored")
	}
	p.stop()
	checkUnavailable(t, s, s.Ping)
}

// proxy forwards TCP connections from a loopback port to a target.
type proxy struct {
	target  string
	l       net.Listener
	mu      sync.Mutex
	stopped bool
	conns   []net.Conn
}

func startProxy(t *testing.T, target string) *proxy {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{target: target, l: l}
	t.Cleanup(p.stop)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			u, err := net.Dial("tcp", p.target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			if p.stopped {
				c.Close()
				u.Close()
			}
			p.conns = append(p.conns, c, u)
			p.mu.Unlock()
			go func() { _, _ = io.Copy(u, c); u.Close() }() // a proxy: errors end the copy
			go func() { _, _ = io.Copy(c, u); c.Close() }()
		}
	}()
	return p
}

func (p *proxy) addr() string { return p.l.Addr().String() }

// stop closes the listener and every connection.
func (p *proxy) stop() {
	p.l.Close()
	p.mu.Lock()
	defer p.mu.Unlock()
	p.stopped = true
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

// TestScyllaAuthAndTLS: the dev Cassandra wants a password, as managed
// ScyllaDB and Cassandra do; the store connects with it, over TLS verified
// against the node's CA, and writes and reads a block. Without the
// password, or with a wrong one, it does not connect.
func TestScyllaAuthAndTLS(t *testing.T) {
	hosts := testenv.Cassandra(t)
	ca := testenv.CassandraCA(t)
	tlsCfg, err := tlsconf.Client(tlsconf.Files{CAFile: ca}, "")
	if err != nil {
		t.Fatal(err)
	}
	s := devScylla(t, hosts, ScyllaTLS(tlsCfg))
	k := key("user", "7")
	b := blk(k, 3, 1, 2)
	mustWrite(t, s, b)
	if got := readOne(t, s, k, 3); string(got) != string(b.Data) {
		t.Fatalf("over TLS: read %x", got)
	}

	for name, opts := range map[string][]ScyllaOption{
		"no password":    nil,
		"wrong password": {ScyllaAuth(testenv.CassandraUser, "wrong")},
	} {
		st, err := OpenScylla(hosts, append([]ScyllaOption{ScyllaKeyspace(s.keyspace), ScyllaTimeout(10 * time.Second)}, opts...)...)
		switch {
		case err == nil:
			st.Close()
			t.Errorf("%s: connected", name)
		case !strings.Contains(err.Error(), "authentication required") && !strings.Contains(err.Error(), "password are incorrect"):
			t.Errorf("%s: %v, want the cause named", name, err)
		}
	}
}

// TestScyllaTablesOnFirstUse: a store with a resolver serves an entity
// whose table nobody created, from several goroutines at once, and an
// entity the resolver does not know stays ErrUnknownEntity.
func TestScyllaTablesOnFirstUse(t *testing.T) {
	hosts := testenv.Cassandra(t)
	ks := testenv.Name(t)
	var resolved atomic.Int32
	resolve := func(entity string) (Table, bool) {
		resolved.Add(1)
		for _, tb := range suiteTables {
			if tb.Entity == entity {
				return tb, true
			}
		}
		return Table{}, false
	}
	s, err := OpenScylla(hosts, ScyllaKeyspace(ks), ScyllaTimeout(30*time.Second),
		ScyllaAuth(testenv.CassandraUser, testenv.CassandraPassword), ScyllaTables(resolve))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.session.Query(`DROP KEYSPACE IF EXISTS ` + quote(ks)).Exec(); err != nil {
			t.Errorf("drop keyspace %s: %v", ks, err)
		}
		s.Close()
	})
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make([]error, 6)
	for i := range errs {
		wg.Go(func() {
			_, errs[i] = s.Read(ctx, []Key{key("user", strconv.Itoa(i))}, []uint32{1})
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("Read %d on a fresh keyspace: %v", i, err)
		}
	}
	b := blk(key("pair", "1", "a"), 3, 10, 1)
	mustWrite(t, s, b)
	if got := readOne(t, s, b.Key, 3); !bytes.Equal(got, b.Data) {
		t.Fatalf("read back %x, want %x", got, b.Data)
	}
	if _, err := s.Read(ctx, []Key{key("nobody", "1")}, []uint32{1}); !errors.Is(err, ErrUnknownEntity) {
		t.Errorf("Read of an unknown entity: %v, want ErrUnknownEntity", err)
	}
}

// TestScyllaReadBatches reads keys of entities of one key column (IN
// batches of scyllaInBatch) and of several (a query each) in one Read:
// more keys than a batch, keys twice (also in two batches), missing keys,
// groups in another order than written; each answer in its place, and a
// key asked twice gets two blocks that share no memory.
func TestScyllaReadBatches(t *testing.T) {
	s := devScylla(t, testenv.Cassandra(t))
	if err := s.EnsureTables(context.Background(), Table{Entity: "label", Keys: []KeyColumn{{"name", schema.String}}}); err != nil {
		t.Fatal(err)
	}
	want := map[string][]byte{} // by key and group
	id := func(k Key, g uint32) string { return k.String() + "/" + strconv.Itoa(int(g)) }
	var blocks []Block
	add := func(k Key, g uint32, fill byte) {
		b := Block{Key: k, Group: g, EventTime: 5, Data: testBlock(5, codec.HeaderSize+8, fill)}
		blocks = append(blocks, b)
		want[id(k, g)] = b.Data
	}
	var keys []Key
	for i := range 25 {
		k := key("user", strconv.Itoa(i))
		add(k, 1, byte(i))
		if i%2 == 0 {
			add(k, 2, byte(100+i))
		}
		keys = append(keys, k)
	}
	for i := range 12 {
		k := key("label", "l"+strconv.Itoa(i))
		add(k, 2, byte(50+i))
		keys = append(keys, k)
	}
	for i := range 3 {
		k := key("pair", strconv.Itoa(i), "p")
		add(k, 1, byte(200+i))
		keys = append(keys, k)
	}
	mustWrite(t, s, blocks...)
	// Twice: user 3 in the first batch and again after ten more users, label
	// l0 in one batch; missing: user 999, label "none", pair 9.
	keys = append(keys, key("user", "3"), key("user", "999"), key("label", "l0"), key("label", "none"), key("pair", "9", "p"), key("pair", "1", "p"))
	keys = append([]Key{key("label", "l0")}, keys...)
	groups := []uint32{2, 1}
	out := mustRead(t, s, keys, groups)
	for i, k := range keys {
		for j, g := range groups {
			if got := out[i*len(groups)+j]; !bytes.Equal(got, want[id(k, g)]) {
				t.Errorf("%s group %d: %x, want %x", k, g, got, want[id(k, g)])
			}
		}
	}
	first, again := out[0*len(groups)+0], out[(len(keys)-4)*len(groups)+0] // label l0, group 2
	if first == nil || again == nil || &first[0] == &again[0] {
		t.Errorf("label l0 asked twice: blocks %p and %p, want two copies", first, again)
	}
}

// TestScyllaReadBatchOfLargestBlocks reads one IN batch whose answer is
// ten blocks of 8 MiB, the largest the conformance suite writes to
// Cassandra: 80 MiB in one query.
func TestScyllaReadBatchOfLargestBlocks(t *testing.T) {
	s := devScylla(t, testenv.Cassandra(t))
	keys := make([]Key, 0, scyllaInBatch)
	blocks := make([]Block, 0, scyllaInBatch)
	for i := range scyllaInBatch {
		k := key("user", strconv.Itoa(i))
		keys = append(keys, k)
		blocks = append(blocks, Block{Key: k, Group: 1, EventTime: 5, Data: testBlock(5, 8<<20, byte(i))})
	}
	for _, b := range blocks {
		mustWrite(t, s, b)
	}
	out, err := s.Read(context.Background(), keys, []uint32{1})
	if err != nil {
		t.Fatal(err)
	}
	for i := range out {
		if !bytes.Equal(out[i], blocks[i].Data) {
			t.Fatalf("%s: %d bytes, not the block of %d bytes written", keys[i], len(out[i]), len(blocks[i].Data))
		}
	}
}
