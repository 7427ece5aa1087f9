package views

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"github.com/cockroachdb/pebble/v2"

	"github.com/ofstack/ofs/codec"
)

// Pebble is an online store embedded in the process: a Pebble database (a
// real LSM on local disk) holding the same keys as Redis would. It is the
// store of `ofs dev`, where no Redis or Scylla is needed; it is not shared
// between processes.
//
// Last writer wins as in every store: a block older than the stored one is
// dropped, and of two blocks with the same event time the one with the
// greater bytes wins (see Wins).
// Writes are serialized (the comparison reads the stored block) and written
// to Pebble's log. TTLs are not kept: readers enforce the expiry in the
// block header, and an expired block stays until it is overwritten.
type Pebble struct {
	db *pebble.DB
	mu sync.Mutex // serializes writes: read-compare-write per key
}

// OpenPebble opens (creating if needed) the store in dir; Pebble's own
// messages go to log (informational ones at Debug).
func OpenPebble(dir string, log *slog.Logger) (*Pebble, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	db, err := pebble.Open(dir, &pebble.Options{Logger: storeLogger{log.With("store", dir)}})
	if err != nil {
		return nil, fmt.Errorf("views: open pebble store in %s: %w", dir, err)
	}
	return &Pebble{db: db}, nil
}

// Write stores blocks, last writer wins by event time.
func (p *Pebble) Write(ctx context.Context, blocks []Block) error {
	if err := checkBlocks(blocks); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	// The winner of each (key, group) within the batch first.
	winners := make(map[string]int, len(blocks))
	order := make([]string, 0, len(blocks))
	for i := range blocks {
		k := string(appendRedisKey(nil, "", blocks[i].Key, blocks[i].Group))
		w, seen := winners[k]
		switch {
		case !seen:
			order = append(order, k)
			winners[k] = i
		case Wins(blocks[i].EventTime, blocks[i].Data, blocks[w].EventTime, blocks[w].Data):
			winners[k] = i
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	b := p.db.NewBatch()
	defer b.Close()
	for _, k := range order {
		blk := &blocks[winners[k]]
		old, closer, err := p.db.Get([]byte(k))
		switch {
		case errors.Is(err, pebble.ErrNotFound):
		case err != nil:
			return fmt.Errorf("views: pebble read %s: %w", blk.Key, err)
		default:
			t, terr := codec.EventTime(old)
			keep := terr == nil && !Wins(blk.EventTime, blk.Data, t, old)
			if cerr := closer.Close(); cerr != nil {
				return fmt.Errorf("views: pebble read %s: %w", blk.Key, cerr)
			}
			if keep {
				continue
			}
		}
		if err := b.Set([]byte(k), blk.Data, nil); err != nil {
			return fmt.Errorf("views: pebble write %s: %w", blk.Key, err)
		}
	}
	if err := b.Commit(pebble.Sync); err != nil {
		return fmt.Errorf("views: pebble commit: %w", err)
	}
	return nil
}

// Read returns the stored blocks, out[i*len(groups)+j] for keys[i], groups[j].
func (p *Pebble) Read(ctx context.Context, keys []Key, groups []uint32) ([][]byte, error) {
	if err := checkKeys(keys); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	out := make([][]byte, len(keys)*len(groups))
	var key []byte
	for i, k := range keys {
		for j, g := range groups {
			key = appendRedisKey(key[:0], "", k, g)
			v, closer, err := p.db.Get(key)
			if errors.Is(err, pebble.ErrNotFound) {
				continue
			}
			if err != nil {
				return nil, fmt.Errorf("views: pebble read %s: %w", k, err)
			}
			out[i*len(groups)+j] = bytes.Clone(v)
			if err := closer.Close(); err != nil {
				return nil, fmt.Errorf("views: pebble read %s: %w", k, err)
			}
		}
	}
	return out, nil
}

// Close closes the database.
func (p *Pebble) Close() error { return p.db.Close() }

// storeLogger sends Pebble's messages to a slog.Logger.
type storeLogger struct{ l *slog.Logger }

func (s storeLogger) Infof(format string, args ...any) {
	if s.l.Enabled(context.Background(), slog.LevelDebug) {
		s.l.Debug("pebble: " + fmt.Sprintf(format, args...))
	}
}

func (s storeLogger) Errorf(format string, args ...any) {
	s.l.Error("pebble: " + fmt.Sprintf(format, args...))
}

// Fatalf logs and panics: the store cannot go on, and unlike the cache's L2
// it has no degraded mode to fall back to.
func (s storeLogger) Fatalf(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	s.l.Error("pebble: " + msg)
	panic("views: pebble store: " + msg)
}
