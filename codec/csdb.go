package codec

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"math"
	"slices"
)

// CSDB is a cache block: the uncompressed PSDB blocks of several feature
// groups of one entity key, behind an index, so that a reader takes the
// groups it needs as sub-slices without copying. An entry may also record
// that the key has no block in a group (an empty body), so a cache can hold
// misses as well as hits.
//
// Layout (see docs/formats.md), little-endian:
//
//	offset     size  field
//	     0        1  magic 'C' (0x43)
//	     1        1  format version (1)
//	     2        4  CRC-32C of bytes 6 to the end of the index
//	     6        2  reserved, zero
//	     8        4  entry count n
//	    12     12·n  index: n × (group id uint32, offset uint32, length uint32),
//	                 by increasing group id
//	12+12·n     ...  the bodies, back to back in index order; offsets count
//	                 from the start of the CSDB
//
// The bodies are checked by their own checksums when a Reader opens them.
// A CSDB value is a parsed, checked cache block; it is a small value to pass
// by copy, and shares memory with the bytes it was parsed from.
type CSDB struct {
	b []byte
	n int
}

// CSDBEntry is one group of a cache block: its id and its uncompressed PSDB
// block, or an empty Block for a group in which the key has no block.
type CSDBEntry struct {
	Group uint32
	Block []byte
}

const (
	csdbMagic      = 'C'
	csdbHeaderSize = 12
	csdbEntrySize  = 12
)

// AppendCSDB appends to dst the cache block of entries, in any order, and
// returns the extended slice. Group ids must be unique; the blocks must be
// uncompressed (Decompress them first) and are checked by their headers.
func AppendCSDB(dst []byte, entries []CSDBEntry) ([]byte, error) {
	sorted := slices.Clone(entries)
	slices.SortFunc(sorted, func(a, b CSDBEntry) int { return cmp.Compare(a.Group, b.Group) })
	size := csdbHeaderSize + csdbEntrySize*len(sorted)
	for i, e := range sorted {
		if i > 0 && e.Group == sorted[i-1].Group {
			return dst, fmt.Errorf("%w: group %d twice in a cache block", ErrLayout, e.Group)
		}
		if err := checkBody(e.Block); err != nil {
			return dst, fmt.Errorf("group %d: %w", e.Group, err)
		}
		size += len(e.Block)
	}
	if uint64(size) > math.MaxUint32 {
		return dst, fmt.Errorf("%w: cache block of %d bytes", ErrTooLarge, size)
	}
	start := len(dst)
	dst = slices.Grow(dst, size)
	dst = append(dst, csdbMagic, formatVersion, 0, 0, 0, 0, 0, 0) // checksum below
	dst = binary.LittleEndian.AppendUint32(dst, uint32(len(sorted)))
	off := csdbHeaderSize + csdbEntrySize*len(sorted)
	for _, e := range sorted {
		dst = binary.LittleEndian.AppendUint32(dst, e.Group)
		dst = binary.LittleEndian.AppendUint32(dst, uint32(off))
		dst = binary.LittleEndian.AppendUint32(dst, uint32(len(e.Block)))
		off += len(e.Block)
	}
	c := dst[start:]
	binary.LittleEndian.PutUint32(c[2:], csdbChecksum(c, len(sorted)))
	for _, e := range sorted {
		dst = append(dst, e.Block...)
	}
	return dst, nil
}

// checkBody checks a CSDB body: empty, or an uncompressed PSDB whose header
// is consistent.
func checkBody(block []byte) error {
	if len(block) == 0 {
		return nil
	}
	h, err := ReadHeader(block)
	if err != nil {
		return err
	}
	if h.Compressed {
		return ErrCompressed
	}
	return nil
}

// csdbChecksum is the CRC-32C of bytes 6 to the end of the index.
func csdbChecksum(c []byte, n int) uint32 {
	return crc32.Checksum(c[6:csdbHeaderSize+csdbEntrySize*n], castagnoli)
}

// ParseCSDB checks the header, index and body headers of the cache block b
// and returns it for lookups.
func ParseCSDB(b []byte) (CSDB, error) {
	switch {
	case len(b) < 2:
		return CSDB{}, fmt.Errorf("%w: cache block of %d bytes", ErrTruncated, len(b))
	case b[0] != csdbMagic:
		return CSDB{}, fmt.Errorf("%w: cache block magic %#02x, want %#02x", ErrFormat, b[0], csdbMagic)
	case b[1] != formatVersion:
		return CSDB{}, fmt.Errorf("%w: cache block format version %d, want %d", ErrFormat, b[1], formatVersion)
	case len(b) < csdbHeaderSize:
		return CSDB{}, fmt.Errorf("%w: cache block of %d bytes", ErrTruncated, len(b))
	case b[6] != 0 || b[7] != 0:
		return CSDB{}, fmt.Errorf("%w: cache block reserved bytes %#02x %#02x", ErrFormat, b[6], b[7])
	}
	n := binary.LittleEndian.Uint32(b[8:])
	if uint64(n) > uint64(len(b)-csdbHeaderSize)/csdbEntrySize {
		return CSDB{}, fmt.Errorf("%w: cache block index of %d entries in %d bytes", ErrTruncated, n, len(b))
	}
	c := CSDB{b: b, n: int(n)}
	if stored, sum := binary.LittleEndian.Uint32(b[2:]), csdbChecksum(b, c.n); stored != sum {
		return CSDB{}, fmt.Errorf("%w: cache block checksum %08x, computed %08x", ErrCorrupt, stored, sum)
	}
	next := uint64(csdbHeaderSize + csdbEntrySize*c.n)
	for i := range c.n {
		g, off, size := c.entry(i)
		if i > 0 {
			if prev, _, _ := c.entry(i - 1); g <= prev {
				return CSDB{}, fmt.Errorf("%w: cache block groups %d then %d", ErrCorrupt, prev, g)
			}
		}
		if uint64(off) != next {
			return CSDB{}, fmt.Errorf("%w: cache block group %d at %d, want %d", ErrCorrupt, g, off, next)
		}
		next += uint64(size)
		if next > uint64(len(b)) {
			return CSDB{}, fmt.Errorf("%w: cache block group %d ends at %d of %d", ErrTruncated, g, next, len(b))
		}
		if err := checkBody(b[off:next]); err != nil {
			return CSDB{}, fmt.Errorf("cache block group %d: %w", g, err)
		}
	}
	if next != uint64(len(b)) {
		return CSDB{}, fmt.Errorf("%w: %d bytes after the last cache block body", ErrCorrupt, uint64(len(b))-next)
	}
	return c, nil
}

// entry returns index entry i.
func (c CSDB) entry(i int) (group, off, size uint32) {
	e := c.b[csdbHeaderSize+csdbEntrySize*i:]
	return binary.LittleEndian.Uint32(e), binary.LittleEndian.Uint32(e[4:]), binary.LittleEndian.Uint32(e[8:])
}

// Len returns the number of groups in the cache block.
func (c CSDB) Len() int { return c.n }

// At returns the group id and block of entry i, by increasing group id.
func (c CSDB) At(i int) (group uint32, block []byte) {
	g, off, size := c.entry(i)
	return g, c.b[off : off+size : off+size]
}

// Lookup returns the block of group, as a sub-slice of the cache block, and
// whether the group has an entry. An entry with an empty block records that
// the key has no block in the group.
func (c CSDB) Lookup(group uint32) (block []byte, ok bool) {
	lo, hi := 0, c.n
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		g, _, _ := c.entry(m)
		switch {
		case g < group:
			lo = m + 1
		case g > group:
			hi = m
		default:
			_, b := c.At(m)
			return b, true
		}
	}
	return nil, false
}
