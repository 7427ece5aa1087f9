package ingest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/lovoo/goka"

	"github.com/ofstack/ofs/internal/backoff"
	"github.com/ofstack/ofs/internal/events"
	featurev1 "github.com/ofstack/ofs/proto/ofs/feature/v1"
	"github.com/ofstack/ofs/schema"
	"github.com/ofstack/ofs/topics"
	"github.com/ofstack/ofs/views"
)

// The flusher of a lane: it writes each batch's blocks into their stores,
// retrying while a store is unavailable and isolating by halving the blocks a
// store refuses for good (they go to the dead letters), then emits the
// batch's invalidations. The lane's queue and its committer are in lane.go.

func (ln *lane) flushLoop() {
	defer func() {
		if ln.drainCancel != nil {
			ln.drainCancel()
		}
		close(ln.commits)
	}()
	abandoned := false
	for b := range ln.flushes {
		f := &flushed{b: b}
		if abandoned {
			f.err = ErrAbandoned
		} else if err := ln.flush(f); err != nil {
			abandoned = true
			f.err = err
		}
		ln.commits <- f
	}
}

// rejection is a block that a store refused for good.
type rejection struct {
	block int
	err   error
}

// flush writes the blocks of f's batch and sends its dead letters and its
// invalidations; it returns ErrAbandoned when the partition stopped first.
func (ln *lane) flush(f *flushed) error {
	b := f.b
	if len(b.blocks) == 0 {
		return nil
	}
	start := time.Now()
	rejected, err := ln.write(b)
	if err != nil {
		return err
	}
	refused := make(map[int]bool, len(rejected))
	for _, r := range rejected {
		refused[r.block] = true
		src := b.entries[b.dests[r.block].entry].src
		rej := &events.Error{Code: CodeStoreRejected, Reason: "the store refused the block: " + r.err.Error()}
		f.sends = append(f.sends, ln.p.deadLetter(src, rej))
	}
	keys := make([]*featurev1.InvalidatedKey, 0, len(b.blocks)-len(rejected))
	for i := range b.blocks {
		if refused[i] {
			continue
		}
		blk := &b.blocks[i]
		keys = append(keys, &featurev1.InvalidatedKey{Entity: blk.Key.Entity, KeyValues: blk.Key.Values,
			FeatureGroupIds: []uint32{blk.Group}})
	}
	ln.p.metrics.written.Add(float64(len(keys)))
	ln.p.metrics.flushSeconds.Observe(time.Since(start).Seconds())
	msgs, err := topics.Invalidations(keys)
	if err != nil {
		return fmt.Errorf("ingest: %w", err)
	}
	topic, key := string(ln.p.names.Invalidations), strconv.Itoa(int(ln.partition))
	for _, v := range msgs {
		again := func() *goka.Promise { return ln.p.out.Emit(topic, key, v) }
		f.sends = append(f.sends, send{what: "invalidation", pr: again(), again: again})
	}
	return nil
}

// write writes the blocks of b into their stores and returns those refused
// for good; ErrAbandoned when the partition stopped before they were stored.
func (ln *lane) write(b *batch) ([]rejection, error) {
	var rejected []rejection
	for _, st := range storesOf(b) {
		idx := make([]int, 0, len(b.blocks))
		for i := range b.dests {
			if b.dests[i].store == st {
				idx = append(idx, i)
			}
		}
		// Tables first (Scylla), once per entity.
		var entities []*schema.Entity
		for _, i := range idx {
			if e := b.dests[i].entity; !slices.ContainsFunc(entities, func(x *schema.Entity) bool { return x.Name == e.Name }) {
				entities = append(entities, e)
			}
		}
		for _, ent := range entities {
			err := ln.retry("create the tables of entity "+ent.Name, func(ctx context.Context) error {
				return ln.p.ensure(ctx, st, ent)
			})
			if errors.Is(err, ErrAbandoned) {
				return nil, err
			}
			if err != nil {
				// Every block of the entity is refused.
				kept := idx[:0]
				for _, i := range idx {
					if b.dests[i].entity.Name == ent.Name {
						rejected = append(rejected, rejection{i, err})
					} else {
						kept = append(kept, i)
					}
				}
				idx = kept
			}
		}
		if len(idx) == 0 {
			continue
		}
		blocks := b.blocks
		if len(idx) != len(b.blocks) {
			blocks = make([]views.Block, len(idx))
			for j, i := range idx {
				blocks[j] = b.blocks[i]
			}
		}
		if err := ln.writeIsolating(st, blocks, idx, &rejected); err != nil {
			return nil, err
		}
	}
	return rejected, nil
}

// storesOf lists the distinct stores of b's blocks, in order of appearance.
func storesOf(b *batch) []views.Store {
	var out []views.Store
	for i := range b.dests {
		st := b.dests[i].store
		if !slices.Contains(out, st) {
			out = append(out, st)
		}
	}
	return out
}

// writeIsolating writes blocks (whose indexes in the batch are idx),
// retrying while the store is unavailable. When the store refuses the write
// for good, it finds the refused blocks by halving and records them.
func (ln *lane) writeIsolating(st views.Store, blocks []views.Block, idx []int, rejected *[]rejection) error {
	err := ln.retry("write", func(ctx context.Context) error { return st.Write(ctx, blocks) })
	switch {
	case err == nil:
		return nil
	case errors.Is(err, ErrAbandoned):
		return err
	case len(blocks) == 1:
		*rejected = append(*rejected, rejection{idx[0], err})
		return nil
	}
	h := len(blocks) / 2
	if err := ln.writeIsolating(st, blocks[:h], idx[:h], rejected); err != nil {
		return err
	}
	return ln.writeIsolating(st, blocks[h:], idx[h:], rejected)
}

// retry runs op until it succeeds or fails for good, waiting with backoff
// while it fails for a reason that may pass (a store that cannot be
// reached, a Kafka send that failed). Once the partition stops, op has until the drain timeout; then
// retry gives ErrAbandoned.
func (ln *lane) retry(what string, op func(context.Context) error) error {
	waits := ln.waits()
	for attempt := 1; ; attempt++ {
		ctx := ln.opContext()
		err := op(ctx)
		if err == nil {
			if attempt > 1 {
				ln.p.log.Info("retried operation succeeded", "partition", ln.partition, "op", what, "attempts", attempt)
			}
			return nil
		}
		if ctx.Err() == nil && !retryable(err) {
			return err
		}
		if ctx == ln.drainCtx && ctx.Err() != nil {
			return ErrAbandoned
		}
		ln.p.metrics.retries.Inc()
		wait := waits.Next()
		ln.p.log.Warn("failed; retrying", "partition", ln.partition, "op", what, "attempt", attempt,
			"backoff", wait, "err", err)
		// A wait cut short by the partition's stop goes on to the next
		// attempt, under the drain timeout.
		backoff.Sleep(ctx, wait)
	}
}

// opContext is the partition's context while it runs, and then one with the
// drain timeout, shared by everything the lane still does.
func (ln *lane) opContext() context.Context {
	if ln.ctx.Err() == nil {
		return ln.ctx
	}
	ln.drainOnce.Do(func() {
		ln.drainCtx, ln.drainCancel = context.WithTimeout(context.WithoutCancel(ln.ctx), ln.p.drainTimeout)
	})
	return ln.drainCtx
}

// retryable reports whether a store error may pass: the store is
// unavailable, or the error is unknown (assumed temporary, so that data is
// never dropped for it). Refusals of the block or key are final.
func retryable(err error) bool {
	switch {
	case errors.Is(err, views.ErrUnavailable):
		return true
	case errors.Is(err, views.ErrInvalidKey), errors.Is(err, views.ErrInvalidBlock), errors.Is(err, views.ErrNotBlock),
		errors.Is(err, views.ErrUnknownEntity), errors.Is(err, views.ErrTableMismatch), errors.Is(err, views.ErrInvalidOption):
		return false
	}
	return true
}
