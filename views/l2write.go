package views

// The L2's writer: one goroutine takes fills, promotions and barriers
// from the queue, writes them in batches, and rolls the generations.

import (
	"context"
	"encoding/binary"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/ofstack/ofs/codec"
)

func (d *diskCache) enqueue(op diskOp) {
	if d.failed.Load() {
		d.m.l2Failed.Inc()
		return
	}
	select {
	case d.queue <- op:
	default:
		d.m.l2QueueFull.Inc()
	}
}

// sync waits until the writer has written every op queued before it.
func (d *diskCache) sync() {
	done := make(chan struct{})
	select {
	case d.queue <- diskOp{kind: diskBarrier, done: done}:
	case <-d.failedCh:
		return
	}
	select {
	case <-done:
	case <-d.failedCh:
	}
}

// run is the writer.
func (d *diskCache) run() {
	defer close(d.done)
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	ops := make([]diskOp, 0, diskBatchOps)
	for {
		select {
		case <-d.stop:
			return
		case <-tick.C:
			d.updateUsage()
		case op := <-d.queue:
			ops = append(ops[:0], op)
		drain:
			for len(ops) < diskBatchOps {
				select {
				case op := <-d.queue:
					ops = append(ops, op)
				default:
					break drain
				}
			}
			d.write(ops)
			clear(ops) // drop the references to blocks
		}
	}
}

// write writes a batch of ops, points the index at them, and moves to the
// next generation whenever the current one is full.
func (d *diskCache) write(ops []diskOp) {
	defer closeBarriers(ops)
	if d.failed.Load() {
		d.m.l2Failed.Add(float64(len(ops)))
		return
	}
	for len(ops) > 0 {
		ops = ops[d.writeSome(ops):]
	}
}

// writeSome writes ops into the current generation until one would take
// it past its share of the bound; then it starts the next generation. It
// returns the number of ops done.
func (d *diskCache) writeSome(ops []diskOp) int {
	gen := d.current.Load()
	b := d.db.NewBatch()
	defer b.Close()
	var size int64
	var raced int
	full := false
	n := 0
	for ; n < len(ops); n++ {
		op := &ops[n]
		op.skip = true
		if op.kind == diskBarrier {
			continue
		}
		// An invalidation that came after the fill began: the block may be
		// older than the store's.
		if !d.epochs.valid(op.hg, op.start) {
			raced++
			continue
		}
		value := op.block
		if op.kind == diskFill {
			value = binary.LittleEndian.AppendUint64(d.value[:0], uint64(op.expires))
			if op.block != nil {
				var err error
				if value, err = codec.Compress(value, op.block); err != nil {
					d.error("compress", err)
					continue
				}
			}
			d.value = value
		}
		opSize := int64(len(op.key) + len(value))
		if used := d.genBytes[gen] + size; used > 0 && used+opSize > d.genTarget {
			full = true // op is left for the next generation
			break
		}
		binary.BigEndian.PutUint32(op.key, gen)
		if err := b.Set(op.key, value, nil); err != nil {
			d.error("write", err)
			continue
		}
		op.skip = false
		size += opSize
	}
	if b.Count() > 0 {
		if err := b.Commit(pebble.NoSync); err != nil {
			d.error("write", err)
			return n
		}
	}
	var promoted int
	for i := range ops[:n] {
		op := &ops[i]
		if op.skip {
			continue
		}
		if !d.point(op.hg, gen, op.start) {
			raced++
			continue
		}
		if op.kind == diskPromote {
			promoted++
		}
	}
	if raced > 0 {
		d.m.l2Raced.Add(float64(raced))
	}
	if promoted > 0 {
		d.m.promotions.Add(float64(promoted))
	}
	d.genBytes[gen] += size
	d.m.l2Bytes.Add(float64(size))
	if full {
		d.nextGeneration()
	}
	return n
}

func closeBarriers(ops []diskOp) {
	for i := range ops {
		if ops[i].done != nil {
			close(ops[i].done)
		}
	}
}

// nextGeneration flushes the memtable, so that the current generation goes
// to sstables of its own, starts the next generation, and drops the oldest
// ones beyond the number kept.
func (d *diskCache) nextGeneration() {
	if _, err := d.db.AsyncFlush(); err != nil {
		d.error("flush", err)
	}
	next := d.current.Load() + 1
	d.current.Store(next)
	for next-d.oldest.Load() >= d.gens {
		d.dropOldest()
	}
}

// dropOldest drops the oldest generation: readers stop finding it at once,
// then one Excise removes its key range (with that of any generation whose
// excise failed before) from the database.
func (d *diskCache) dropOldest() {
	if d.onDrop != nil {
		d.onDrop(false)
		defer d.onDrop(true)
	}
	o := d.oldest.Load()
	d.oldest.Store(o + 1)
	freed := d.genBytes[o]
	delete(d.genBytes, o)
	d.m.l2Evictions.Inc()
	d.m.l2EvictedBytes.Add(float64(freed))
	d.m.l2Bytes.Sub(float64(freed))
	span := pebble.KeyRange{
		Start: binary.BigEndian.AppendUint32(nil, d.excised),
		End:   binary.BigEndian.AppendUint32(nil, o+1),
	}
	if err := d.db.Excise(context.Background(), span); err != nil {
		d.error("excise", err)
		return
	}
	d.excised = o + 1
}

// updateUsage sets the disk usage gauge from Pebble's metrics.
func (d *diskCache) updateUsage() {
	if !d.failed.Load() {
		d.m.diskUsage.Set(float64(d.db.Metrics().DiskSpaceUsage()))
	}
}

// diskUsage is the disk space of the database, as Pebble reports it.
func (d *diskCache) diskUsage() uint64 { return d.db.Metrics().DiskSpaceUsage() }
