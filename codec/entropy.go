package codec

import "encoding/binary"

// Trying zstd on a small payload costs microseconds (the frame and its
// tables are built anew each time), several times the cost of building the
// row, and most rows of real numbers never gain: what zstd finds in a row of
// a few hundred bytes is repeats (zeros, small integers, the same strings),
// and a row of varied floats has none. So before an attempt the writer looks
// for repeats itself, with a much cheaper pass of the same kind (4-byte
// matches through a small hash table, extended forward), and tries zstd only
// when the bytes they cover could pay for a frame. Missing a gain costs
// space, never correctness. Because the decision depends on the payload
// alone, one row is stored as the same bytes by ingest, Persist, replay and
// verify, which the tie rule needs (at equal event times and expiries the
// greater bytes win).

const (
	// estimateLimit is the payload size from which compression is always
	// tried: there an attempt is cheap beside what it may save.
	estimateLimit = 4096
	// frameOverhead is about what a compressed payload adds: its length,
	// the zstd frame, block, literals and sequences headers.
	frameOverhead = 8
	// matchCost is about what zstd spends to code one match.
	matchCost = 3
	hashBits  = 10
)

// worthCompressing reports whether zstd may make payload smaller.
func worthCompressing(payload []byte) bool {
	n := len(payload)
	if n >= estimateLimit {
		return true
	}
	var table [1 << hashBits]uint16 // position+1 of the last window of each hash
	saved := 0
	for i := 0; i+4 <= n; {
		w := binary.LittleEndian.Uint32(payload[i:])
		h := (w * 0x9E3779B1) >> (32 - hashBits)
		prev := int(table[h]) - 1
		table[h] = uint16(i + 1)
		if prev < 0 || binary.LittleEndian.Uint32(payload[prev:]) != w {
			i++
			continue
		}
		l := 4
		for i+l < n && payload[prev+l] == payload[i+l] {
			l++
		}
		saved += l - matchCost
		if saved > frameOverhead {
			return true
		}
		i += l
	}
	return false
}
