package views

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/ofstack/ofs/codec"
	"github.com/ofstack/ofs/schema"
)

// Key identifies one instance of an entity: the entity's name and its key
// values in key-column order, each in canonical text (decimal for integers,
// without sign for non-negative numbers and without leading zeros).
type Key struct {
	Entity string
	Values []string
}

// String returns the key for messages, for example user("42").
func (k Key) String() string {
	var b strings.Builder
	b.WriteString(k.Entity)
	b.WriteByte('(')
	for i, v := range k.Values {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.Quote(v))
	}
	b.WriteByte(')')
	return b.String()
}

// StoreTTL is Block.TTL for a block that expires at expiry (µs since the
// epoch, codec.NeverExpires for never), at now: the time left, and at
// least a millisecond for a block already expired, which is still written
// so that it replaces an older block of its key (readers enforce the
// expiry in the header in any case); 0 for never. Ingest, Persist and
// replay all use it.
func StoreTTL(expiry int64, now time.Time) time.Duration {
	if expiry == codec.NeverExpires {
		return 0
	}
	return max(time.Duration(expiry-now.UnixMicro())*time.Microsecond, time.Millisecond)
}

// Block is one stored block: the latest row of one feature group for one
// entity key.
type Block struct {
	Key Key
	// Group is the feature group's id.
	Group uint32
	// Data is the PSDB block (see package codec).
	Data []byte
	// EventTime is the block's event time in microseconds since the Unix
	// epoch; it must equal the one in the block header.
	EventTime int64
	// TTL is how long the store keeps the block, 0 for no expiry. Stores
	// round it up to their unit (milliseconds in Redis, seconds in Scylla).
	// It only frees space: readers enforce the expiry in the block header.
	TTL time.Duration
}

// Store is an online store of blocks, one per (entity key, feature group).
type Store interface {
	// Write stores blocks. Per (entity key, feature group) the block with the
	// latest event time wins, whatever the order of the writes: a block older
	// than the stored one is dropped. Writes are blind (no read on the
	// client), idempotent and batched. Of two different blocks with equal
	// event times the later expiry, then the greater bytes win (see Wins),
	// so the result never depends on the order of the writes. On an
	// error some blocks may have been stored; writing the whole batch again
	// is safe.
	Write(ctx context.Context, blocks []Block) error
	// Read returns, for each key and each group, the stored block or nil when
	// there is none: the block of keys[i] and groups[j] is at
	// out[i*len(groups)+j]. A store that cannot be reached gives an error
	// that wraps ErrUnavailable, never nil blocks.
	Read(ctx context.Context, keys []Key, groups []uint32) ([][]byte, error)
	// Close releases the store's connections.
	Close() error
}

// StoreResolver returns the online store that holds the blocks of a
// registry store: the processors that write blocks (ingest, replay) and the
// verification that reads them are given one. The registry names only the
// store's connection; the resolver knows where that connection goes
// (connections.Set.Resolve resolves through a process's configuration).
type StoreResolver func(s *schema.Store) (Store, error)

// Wins reports whether block a (event time ta) replaces a stored block b
// (event time tb), the one rule every store follows so that the stored
// block never depends on the order of the writes:
//
//  1. the later event time wins;
//  2. at equal event times, the block that expires beats one that never
//     does, and of two that expire the later expiry (the header's, at
//     codec.ExpiryOffset) wins;
//  3. then the block whose bytes are greater, compared unsigned and
//     lexicographically (a prefix is the smaller), wins.
//
// That is how Cassandra and ScyllaDB reconcile two cells of equal write
// timestamp (USING TIMESTAMP is the event time, the cell's expiry follows
// from USING TTL), measured in the conformance suite. A block does not
// replace itself.
func Wins(ta int64, a []byte, tb int64, b []byte) bool {
	if ta != tb {
		return ta > tb
	}
	if ea, eb := expiryOf(a), expiryOf(b); ea != eb {
		switch {
		case ea == codec.NeverExpires:
			return false
		case eb == codec.NeverExpires:
			return true
		}
		return ea > eb
	}
	return bytes.Compare(a, b) > 0
}

// expiryOf is the expiry in a block's header, NeverExpires for a block too
// short to hold one.
func expiryOf(b []byte) int64 {
	if len(b) < codec.ExpiryOffset+8 {
		return codec.NeverExpires
	}
	return int64(binary.LittleEndian.Uint64(b[codec.ExpiryOffset:]))
}

// checkKey reports whether k can be stored at all.
func checkKey(k Key) error {
	switch {
	case k.Entity == "":
		return fmt.Errorf("%w: %s: empty entity", ErrInvalidKey, k)
	case len(k.Values) == 0:
		return fmt.Errorf("%w: %s: no key values", ErrInvalidKey, k)
	}
	return nil
}

// checkBlock reports whether b can be stored: a valid key, a block whose
// header holds b.EventTime, and a TTL of at least 0.
func checkBlock(b *Block) error {
	if err := checkKey(b.Key); err != nil {
		return err
	}
	t, err := codec.EventTime(b.Data)
	switch {
	case err != nil:
		return fmt.Errorf("%w: %s group %d: %w", ErrInvalidBlock, b.Key, b.Group, err)
	case t != b.EventTime:
		return fmt.Errorf("%w: %s group %d: event time %d, the header says %d",
			ErrInvalidBlock, b.Key, b.Group, b.EventTime, t)
	case b.TTL < 0:
		return fmt.Errorf("%w: %s group %d: negative TTL %v", ErrInvalidBlock, b.Key, b.Group, b.TTL)
	}
	return nil
}

// checkBlocks checks every block before any is written, so that a bad block
// fails the batch without a partial write.
func checkBlocks(blocks []Block) error {
	for i := range blocks {
		if err := checkBlock(&blocks[i]); err != nil {
			return err
		}
	}
	return nil
}

// checkKeys checks every key of a read.
func checkKeys(keys []Key) error {
	for _, k := range keys {
		if err := checkKey(k); err != nil {
			return err
		}
	}
	return nil
}
