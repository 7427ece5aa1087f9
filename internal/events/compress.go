package events

import "github.com/ofstack/ofs/codec"

// Trying zstd on a block costs a few microseconds (the entropy tables are
// built anew for every small payload), several times the cost of decoding
// and encoding the whole row. Rows of near-random floats never gain, so the
// decoder learns per schema version: after lossStreak attempts in a row that
// did not make the block smaller, it tries only one block in probeEvery,
// and goes back to trying every block as soon as one gains. A block is
// valid compressed or not, so this changes only how often a barely
// compressible row is stored compressed.
const (
	lossStreak = 16
	probeEvery = 256
)

// compression is the outcome of the recent attempts of one target.
type compression struct {
	losses  uint32 // attempts in a row that did not gain
	skipped uint32 // blocks not tried since the last attempt
}

// try reports whether the next block is worth an attempt.
func (c *compression) try() bool {
	if c.losses < lossStreak {
		return true
	}
	c.skipped++
	if c.skipped >= probeEvery {
		c.skipped = 0
		return true
	}
	return false
}

// record notes whether block, appended by an attempt, was made smaller; a
// payload below codec.CompressThreshold was not tried and counts for nothing.
func (c *compression) record(block []byte) {
	h, err := codec.ReadHeader(block)
	switch {
	case err != nil || !h.Compressed && h.PayloadLen < codec.CompressThreshold:
	case h.Compressed:
		c.losses = 0
	case c.losses < lossStreak:
		c.losses++
	}
}

// appendBlock appends t's row as a block, compressed when the decoder
// compresses and the version's recent blocks make an attempt worth it.
func (d *Decoder) appendBlock(t *target, dst []byte, eventTime, expiry int64) ([]byte, error) {
	if !d.compress || !t.comp.try() {
		return t.builder.Append(dst, eventTime, expiry)
	}
	start := len(dst)
	out, err := t.builder.AppendCompressed(dst, eventTime, expiry)
	if err == nil {
		t.comp.record(out[start:])
	}
	return out, err
}
