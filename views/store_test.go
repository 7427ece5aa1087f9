package views

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/ofstack/ofs/codec"
	"github.com/ofstack/ofs/schema"
)

// testBlock returns a block of size bytes (at least codec.HeaderSize) with
// event time t: a PSDB header and a payload of fill bytes. The stores read
// only the header's event time, so the checksum is left zero.
func testBlock(t int64, size int, fill byte) []byte {
	b := make([]byte, size)
	b[0], b[1] = 'P', 1
	binary.LittleEndian.PutUint64(b[codec.EventTimeOffset:], uint64(t))
	binary.LittleEndian.PutUint32(b[24:], uint32(size-codec.HeaderSize))
	for i := codec.HeaderSize; i < size; i++ {
		b[i] = fill
	}
	return b
}

// blk is a Block of key k, group g, event time t, and a payload of fill.
func blk(k Key, g uint32, t int64, fill byte) Block {
	return Block{Key: k, Group: g, Data: testBlock(t, 64, fill), EventTime: t}
}

func key(entity string, values ...string) Key { return Key{Entity: entity, Values: values} }

// suiteTables are the entities the store suite uses; a Scylla store needs
// them in EnsureTables.
var suiteTables = []Table{
	{Entity: "user", Keys: []KeyColumn{{"id", schema.Int64}}},
	{Entity: "pair", Keys: []KeyColumn{{"id", schema.Int64}, {"name", schema.String}}},
	{Entity: "tag", Keys: []KeyColumn{{"a", schema.String}, {"b", schema.String}}},
	{Entity: "acct", Keys: []KeyColumn{{"region", schema.Int32}, {"uid", schema.Uint64}, {"n", schema.Uint32}}},
}

func mustWrite(t *testing.T, s Store, blocks ...Block) {
	t.Helper()
	if err := s.Write(context.Background(), blocks); err != nil {
		t.Fatalf("Write: %v", err)
	}
}

func mustRead(t *testing.T, s Store, keys []Key, groups []uint32) [][]byte {
	t.Helper()
	out, err := s.Read(context.Background(), keys, groups)
	if err != nil {
		t.Fatalf("Read: %v", err)
	}
	if len(out) != len(keys)*len(groups) {
		t.Fatalf("Read: %d blocks for %d keys × %d groups", len(out), len(keys), len(groups))
	}
	return out
}

// readOne returns the stored block of (k, g), or nil.
func readOne(t *testing.T, s Store, k Key, g uint32) []byte {
	t.Helper()
	return mustRead(t, s, []Key{k}, []uint32{g})[0]
}

func eventTimeOf(b []byte) string {
	if b == nil {
		return "none"
	}
	return fmt.Sprint(int64(binary.LittleEndian.Uint64(b[codec.EventTimeOffset:])))
}

// testStore runs the behaviour every Store shares. minTime is the earliest
// event time the store takes.
func testStore(t *testing.T, s Store, minTime int64) {
	t.Run("RoundTrip", func(t *testing.T) {
		k := key("user", "42")
		b1, b2 := blk(k, 1, 1000, 0xa1), blk(k, 2, 2000, 0xa2)
		b2.Data = testBlock(2000, 232, 0xa2)
		mustWrite(t, s, b1, b2)
		out := mustRead(t, s, []Key{k}, []uint32{1, 2})
		if !bytes.Equal(out[0], b1.Data) || !bytes.Equal(out[1], b2.Data) {
			t.Fatalf("read %x, %x; want the written blocks", out[0], out[1])
		}
		// A group asked for twice is in both places; one never written is nil.
		out = mustRead(t, s, []Key{k}, []uint32{2, 3, 2})
		if !bytes.Equal(out[0], b2.Data) || out[1] != nil || !bytes.Equal(out[2], b2.Data) {
			t.Fatalf("groups 2, 3, 2: read %x, %x, %x", out[0], out[1], out[2])
		}
	})

	t.Run("LatestWins", func(t *testing.T) {
		tests := []struct{ older, newer int64 }{
			{1000, 2000},
			{1 << 53, 1<<53 + 1}, // a double cannot tell these apart
			{1<<62 - 1, 1 << 62},
			{255, 256}, // a carry into the second byte
			{0x00ff_ffff_ffff_ffff, 0x0100_0000_0000_0000}, // into the top byte
			{-1, 0},
			{-(1 << 53) - 1, -(1 << 53)},
			{minTime, math.MaxInt64},
			{-1, 1},
		}
		for i, tc := range tests {
			for _, newerFirst := range []bool{false, true} {
				k := key("user", fmt.Sprint(100+i))
				g := uint32(1)
				if newerFirst {
					g = 2
				}
				older, newer := blk(k, g, tc.older, 0x01), blk(k, g, tc.newer, 0x02)
				if newerFirst {
					mustWrite(t, s, newer)
					mustWrite(t, s, older)
				} else {
					mustWrite(t, s, older)
					mustWrite(t, s, newer)
				}
				if got := readOne(t, s, k, g); !bytes.Equal(got, newer.Data) {
					t.Errorf("%d then %d (newer first: %v): stored event time %s, want %d",
						tc.older, tc.newer, newerFirst, eventTimeOf(got), tc.newer)
				}
			}
		}
	})

	t.Run("OneBatchBothOrders", func(t *testing.T) {
		k := key("user", "7")
		older, newer := blk(k, 1, 10, 0x01), blk(k, 1, 20, 0x02)
		mustWrite(t, s, newer, older)
		if got := readOne(t, s, k, 1); !bytes.Equal(got, newer.Data) {
			t.Fatalf("stored event time %s, want 20", eventTimeOf(got))
		}
		k2 := key("user", "8")
		older.Key, newer.Key = k2, k2
		mustWrite(t, s, older, newer)
		if got := readOne(t, s, k2, 1); !bytes.Equal(got, newer.Data) {
			t.Fatalf("stored event time %s, want 20", eventTimeOf(got))
		}
	})

	t.Run("EqualTimeGreaterBytesWin", func(t *testing.T) {
		// 0x80 is greater than 0x7f unsigned, smaller signed: the rule is
		// unsigned. Both orders, in two writes and in one batch.
		for i, sep := range []bool{true, false} {
			for j, smallFirst := range []bool{true, false} {
				k := key("user", fmt.Sprint(200+2*i+j))
				small, big := blk(k, 1, 5000, 0x7f), blk(k, 1, 5000, 0x80)
				first, second := big, small
				if smallFirst {
					first, second = small, big
				}
				if sep {
					mustWrite(t, s, first)
					mustWrite(t, s, second)
				} else {
					mustWrite(t, s, first, second)
				}
				if got := readOne(t, s, k, 1); !bytes.Equal(got, big.Data) {
					t.Errorf("separate writes %v, small first %v: stored %x..., want the greater block", sep, smallFirst, got[len(got)-4:])
				}
			}
		}
	})

	t.Run("EqualTimeLaterExpiryWins", func(t *testing.T) {
		now := time.Now()
		expiring := func(b Block, ttl time.Duration) Block {
			binary.LittleEndian.PutUint64(b.Data[codec.ExpiryOffset:], uint64(now.Add(ttl).UnixMicro()))
			b.TTL = ttl
			return b
		}
		for i, tc := range []struct {
			name        string
			winner, los func(k Key) Block
		}{
			{"expiring beats never", func(k Key) Block { return expiring(blk(k, 1, 6000, 0x01), 2*time.Hour) },
				func(k Key) Block { return blk(k, 1, 6000, 0x02) }},
			{"later expiry beats greater bytes", func(k Key) Block { return expiring(blk(k, 1, 6000, 0x01), 2*time.Hour) },
				func(k Key) Block { return expiring(blk(k, 1, 6000, 0x02), time.Hour) }},
		} {
			for j, winnerFirst := range []bool{true, false} {
				k := key("user", fmt.Sprint(210+2*i+j))
				w, l := tc.winner(k), tc.los(k)
				first, second := l, w
				if winnerFirst {
					first, second = w, l
				}
				mustWrite(t, s, first)
				mustWrite(t, s, second)
				if got := readOne(t, s, k, 1); !bytes.Equal(got, w.Data) {
					t.Errorf("%s, winner first %v: the other block stayed", tc.name, winnerFirst)
				}
			}
		}
	})

	t.Run("EqualIsIdempotent", func(t *testing.T) {
		k := key("user", "9")
		b := blk(k, 3, 5000, 0x33)
		for range 3 {
			mustWrite(t, s, b, b)
			if got := readOne(t, s, k, 3); !bytes.Equal(got, b.Data) {
				t.Fatalf("stored %x, want %x", got, b.Data)
			}
		}
	})

	t.Run("ManyKeysAndGroups", func(t *testing.T) {
		const written = 50
		keys := make([]Key, 0, written+2)
		for i := range written {
			keys = append(keys, key("user", fmt.Sprint(1000+i)))
		}
		keys = append(keys, key("user", "99999"), key("pair", "1", "nobody")) // never written
		groups := []uint32{1, 5, 9, 4294967295}
		var blocks []Block
		want := make([][]byte, len(keys)*len(groups))
		for i, k := range keys[:written] {
			for j, g := range groups {
				if (i+j)%3 == 0 { // the others stay missing
					b := blk(k, g, int64(i*10+j), byte(i))
					blocks = append(blocks, b)
					want[i*len(groups)+j] = b.Data
				}
			}
		}
		mustWrite(t, s, blocks...)
		got := mustRead(t, s, keys, groups)
		for i := range want {
			if !bytes.Equal(got[i], want[i]) || (got[i] == nil) != (want[i] == nil) {
				t.Errorf("key %s group %d: got event time %s, want %s",
					keys[i/len(groups)], groups[i%len(groups)], eventTimeOf(got[i]), eventTimeOf(want[i]))
			}
		}
		if out := mustRead(t, s, nil, groups); len(out) != 0 {
			t.Errorf("no keys: %d blocks", len(out))
		}
		if out := mustRead(t, s, keys, nil); len(out) != 0 {
			t.Errorf("no groups: %d blocks", len(out))
		}
	})

	t.Run("CompositeKeys", func(t *testing.T) {
		// Keys whose values hold the separator, braces and the escape
		// character; pairs that would collide without escaping.
		keys := []Key{
			key("pair", "-5", "alice"),
			key("pair", "5", "alice"),
			key("pair", "5", "alice|5"),
			key("pair", "5", "{alice}"),
			key("pair", "5", "%7C"),
			key("pair", "5", "|"),
			key("pair", "5", ""),
			key("pair", "9223372036854775807", "Zoë 😀"),
			key("tag", "a|b", "c"),
			key("tag", "a", "b|c"),
			key("tag", "a%7Cb", "c"),
			key("tag", "}", "{"),
			key("tag", "", ""),
			key("acct", "-2147483648", "18446744073709551615", "4294967295"),
			key("acct", "7", "9223372036854775808", "0"),
			key("acct", "7", "0", "0"),
		}
		blocks := make([]Block, len(keys))
		for i, k := range keys {
			blocks[i] = blk(k, 1, int64(i+1), byte(i))
		}
		mustWrite(t, s, blocks...)
		got := mustRead(t, s, keys, []uint32{1})
		for i, b := range blocks {
			if !bytes.Equal(got[i], b.Data) {
				t.Errorf("%s: got event time %s, want %d", keys[i], eventTimeOf(got[i]), i+1)
			}
		}
	})

	t.Run("Invalid", func(t *testing.T) {
		k := key("user", "77")
		good := blk(k, 1, 10, 1)
		wrongTime := blk(k, 2, 10, 1)
		wrongTime.EventTime = 11
		notBlock := Block{Key: k, Group: 3, Data: []byte("not a block at all, though long enough"), EventTime: 0}
		negTTL := blk(k, 4, 10, 1)
		negTTL.TTL = -time.Second
		tests := []struct {
			name string
			b    Block
			want error
		}{
			{"event time", wrongTime, ErrInvalidBlock},
			{"not a block", notBlock, ErrInvalidBlock},
			{"short", Block{Key: k, Data: []byte{'P', 1}}, ErrInvalidBlock},
			{"negative TTL", negTTL, ErrInvalidBlock},
			{"no entity", blk(key("", "1"), 1, 10, 1), ErrInvalidKey},
			{"no values", blk(key("user"), 1, 10, 1), ErrInvalidKey},
		}
		for _, tc := range tests {
			// The good block comes first: a bad batch must store nothing.
			err := s.Write(context.Background(), []Block{good, tc.b})
			if !errors.Is(err, tc.want) {
				t.Errorf("%s: Write error %v, want %v", tc.name, err, tc.want)
			}
		}
		if got := readOne(t, s, k, 1); got != nil {
			t.Errorf("a batch with a bad block stored a block")
		}
		if _, err := s.Read(context.Background(), []Key{k, key("", "1")}, []uint32{1}); !errors.Is(err, ErrInvalidKey) {
			t.Errorf("Read of a key without entity: %v, want ErrInvalidKey", err)
		}
	})

	t.Run("CanceledContext", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		k := key("user", "1")
		if err := s.Write(ctx, []Block{blk(k, 1, 1, 1)}); !errors.Is(err, context.Canceled) || errors.Is(err, ErrUnavailable) {
			t.Errorf("Write: %v, want context.Canceled and not ErrUnavailable", err)
		}
		if _, err := s.Read(ctx, []Key{k}, []uint32{1}); !errors.Is(err, context.Canceled) || errors.Is(err, ErrUnavailable) {
			t.Errorf("Read: %v, want context.Canceled and not ErrUnavailable", err)
		}
	})
}

func TestCheckBlock(t *testing.T) {
	k := key("user", "1")
	ok := blk(k, 1, 42, 0)
	ok.TTL = time.Hour
	if err := checkBlock(&ok); err != nil {
		t.Fatalf("valid block: %v", err)
	}
	wrongMagic := blk(k, 1, 42, 0)
	wrongMagic.Data[0] = 'C'
	if err := checkBlock(&wrongMagic); !errors.Is(err, ErrInvalidBlock) || !errors.Is(err, codec.ErrFormat) {
		t.Errorf("wrong magic: %v, want ErrInvalidBlock and codec.ErrFormat", err)
	}
	short := Block{Key: k, Data: testBlock(42, 64, 0)[:20], EventTime: 42}
	if err := checkBlock(&short); !errors.Is(err, ErrInvalidBlock) || !errors.Is(err, codec.ErrTruncated) {
		t.Errorf("short block: %v, want ErrInvalidBlock and codec.ErrTruncated", err)
	}
}

func TestWins(t *testing.T) {
	hdr := func(exp int64, tail string) []byte {
		b := make([]byte, 24, 24+len(tail))
		binary.LittleEndian.PutUint64(b[codec.ExpiryOffset:], uint64(exp))
		return append(b, tail...)
	}
	tests := []struct {
		name  string
		ta    int64
		a     []byte
		tb    int64
		b     []byte
		aWins bool
	}{
		{"later", 2, hdr(0, "a"), 1, hdr(0, "b"), true},
		{"earlier", 1, hdr(0, "b"), 2, hdr(0, "a"), false},
		{"greater bytes", 1, hdr(0, "b"), 1, hdr(0, "a"), true},
		{"smaller bytes", 1, hdr(0, "a"), 1, hdr(0, "b"), false},
		{"unsigned", 1, hdr(0, "\x80"), 1, hdr(0, "\x7f"), true},
		{"longer", 1, hdr(0, "ab"), 1, hdr(0, "a"), true},
		{"prefix", 1, hdr(0, "a"), 1, hdr(0, "ab"), false},
		{"itself", 1, hdr(0, "a"), 1, hdr(0, "a"), false},
		{"expiring beats never", 1, hdr(5, "a"), 1, hdr(0, "b"), true},
		{"never loses to expiring", 1, hdr(0, "b"), 1, hdr(5, "a"), false},
		{"later expiry", 1, hdr(6, "a"), 1, hdr(5, "b"), true},
		{"earlier expiry", 1, hdr(5, "b"), 1, hdr(6, "a"), false},
		{"negative expiry", 1, hdr(1, "a"), 1, hdr(-1, "b"), true},
	}
	for _, tc := range tests {
		if got := Wins(tc.ta, tc.a, tc.tb, tc.b); got != tc.aWins {
			t.Errorf("%s: Wins = %v", tc.name, got)
		}
	}
}

func TestKeyString(t *testing.T) {
	if got, want := key("pair", "5", `a"b`).String(), `pair("5","a\"b")`; got != want {
		t.Errorf("String = %s, want %s", got, want)
	}
}

func TestTTLRounding(t *testing.T) {
	tests := []struct {
		d          time.Duration
		ms, second int64
	}{
		{0, 0, 0},
		{time.Nanosecond, 1, 1},
		{time.Millisecond, 1, 1},
		{time.Millisecond + 1, 2, 1},
		{time.Second, 1000, 1},
		{time.Second + time.Millisecond, 1001, 2},
		{24 * time.Hour, 86_400_000, 86_400},
	}
	for _, tc := range tests {
		if got := ttlMillis(tc.d); got != tc.ms {
			t.Errorf("ttlMillis(%v) = %d, want %d", tc.d, got, tc.ms)
		}
		if got := ttlSeconds(tc.d); got != tc.second {
			t.Errorf("ttlSeconds(%v) = %d, want %d", tc.d, got, tc.second)
		}
	}
}

// TestStoreTTL: the time left until the expiry, at least a millisecond for
// a block already expired, none for a block that never expires.
func TestStoreTTL(t *testing.T) {
	now := time.UnixMicro(1_700_000_000_000_000)
	for _, c := range []struct {
		expiry int64
		want   time.Duration
	}{
		{codec.NeverExpires, 0},
		{now.UnixMicro() + 90_000_000, 90 * time.Second},
		{now.UnixMicro() + 1, time.Millisecond},
		{now.UnixMicro(), time.Millisecond},
		{now.UnixMicro() - 3_600_000_000, time.Millisecond},
	} {
		if got := StoreTTL(c.expiry, now); got != c.want {
			t.Errorf("StoreTTL(%d, now) = %v, want %v", c.expiry-now.UnixMicro(), got, c.want)
		}
	}
}
