package codec

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
)

// The PSDB header: HeaderSize bytes, little-endian, at fixed offsets (see
// docs/formats.md).
//
//	offset size field
//	     0    1 magic 'P' (0x50)
//	     1    1 format version (1)
//	     2    4 CRC-32C (Castagnoli) of bytes 6 to the end of the block
//	     6    1 flags: bits 0-1 compression, bits 2-3 payload layout, 4-7 zero
//	     7    1 reserved, zero
//	     8    8 event time (int64, microseconds since the Unix epoch)
//	    16    8 expiry (int64, microseconds since the Unix epoch; 0 = never)
//	    24    4 schema version (uint32)
//	    28    4 payload length (uint32, bytes after the header as stored)
//
// The checksum follows the two bytes that a reader matches exactly, and
// covers everything after itself: one pass over one contiguous range.
const (
	HeaderSize = 32

	// Offsets of the header fields that other components read in place (the
	// Redis write script compares event times at EventTimeOffset).
	EventTimeOffset     = 8
	ExpiryOffset        = 16
	SchemaVersionOffset = 24
	checksumOffset      = 2
	flagsOffset         = 6
	payloadLenOffset    = 28
	checksummedFrom     = 6

	// NeverExpires is the expiry of a block that never expires.
	NeverExpires int64 = 0

	// MaxPayloadSize bounds a block's payload, uncompressed: a feature
	// group's row is far smaller, and the bound keeps a corrupt length from
	// allocating without limit.
	MaxPayloadSize = 64 << 20
)

const (
	psdbMagic     = 'P'
	formatVersion = 1

	// flags
	compressionMask = 0x03
	compressionNone = 0x00
	compressionZstd = 0x01
	layoutMask      = 0x0c // bits 2-3: payload layout; 0 = grouped (the only one so far)
	knownFlags      = compressionMask | layoutMask
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Header is the decoded header of a PSDB block.
type Header struct {
	SchemaVersion uint32
	// EventTime is when the row's values were true, in microseconds since
	// the Unix epoch (time.Time.UnixMicro); stores keep the block with the
	// latest event time.
	EventTime int64
	// Expiry is when the block stops being served, in microseconds since the
	// Unix epoch, or NeverExpires. A block is expired at time now when
	// Expiry != NeverExpires && Expiry <= now.
	Expiry int64
	// Compressed reports a zstd-compressed payload.
	Compressed bool
	// PayloadLen is the length of the payload as stored (compressed if
	// Compressed).
	PayloadLen int
}

// Expired reports whether a block with this header is expired at now
// (microseconds since the Unix epoch).
func (h Header) Expired(now int64) bool { return h.Expiry != NeverExpires && h.Expiry <= now }

// ReadHeader decodes and checks the header of block: magic, format version,
// flags, and that the payload length matches len(block). It does not read
// the payload or verify the checksum (Verify does).
func ReadHeader(block []byte) (Header, error) {
	if err := checkPrefix(block); err != nil {
		return Header{}, err
	}
	flags := block[flagsOffset]
	switch {
	case flags&^knownFlags != 0 || block[flagsOffset+1] != 0:
		return Header{}, fmt.Errorf("%w: unknown flags %#02x %#02x", ErrFormat, flags, block[flagsOffset+1])
	case flags&layoutMask != 0:
		return Header{}, fmt.Errorf("%w: unknown payload layout %d", ErrFormat, flags&layoutMask>>2)
	case flags&compressionMask > compressionZstd:
		return Header{}, fmt.Errorf("%w: unknown compression %d", ErrFormat, flags&compressionMask)
	}
	n := binary.LittleEndian.Uint32(block[payloadLenOffset:])
	switch rest := uint64(len(block) - HeaderSize); {
	case uint64(n) > rest:
		return Header{}, fmt.Errorf("%w: payload of %d bytes, %d present", ErrTruncated, n, rest)
	case uint64(n) < rest:
		return Header{}, fmt.Errorf("%w: %d bytes after a payload of %d", ErrCorrupt, rest-uint64(n), n)
	}
	return Header{
		SchemaVersion: binary.LittleEndian.Uint32(block[SchemaVersionOffset:]),
		EventTime:     int64(binary.LittleEndian.Uint64(block[EventTimeOffset:])),
		Expiry:        int64(binary.LittleEndian.Uint64(block[ExpiryOffset:])),
		Compressed:    flags&compressionMask == compressionZstd,
		PayloadLen:    int(n),
	}, nil
}

// checkPrefix checks the length, magic and format version of a block: the
// least that the single-field accessors need.
func checkPrefix(block []byte) error {
	switch {
	case len(block) < 2:
		return fmt.Errorf("%w: %d bytes, want a header of %d", ErrTruncated, len(block), HeaderSize)
	case block[0] != psdbMagic:
		return fmt.Errorf("%w: magic %#02x, want %#02x", ErrFormat, block[0], psdbMagic)
	case block[1] != formatVersion:
		return fmt.Errorf("%w: format version %d, want %d", ErrFormat, block[1], formatVersion)
	case len(block) < HeaderSize:
		return fmt.Errorf("%w: %d bytes, want a header of %d", ErrTruncated, len(block), HeaderSize)
	}
	return nil
}

// EventTime returns the event time of block (microseconds since the Unix
// epoch) from its header alone.
func EventTime(block []byte) (int64, error) {
	if err := checkPrefix(block); err != nil {
		return 0, err
	}
	return int64(binary.LittleEndian.Uint64(block[EventTimeOffset:])), nil
}

// Expiry returns the expiry of block (microseconds since the Unix epoch, or
// NeverExpires) from its header alone.
func Expiry(block []byte) (int64, error) {
	if err := checkPrefix(block); err != nil {
		return 0, err
	}
	return int64(binary.LittleEndian.Uint64(block[ExpiryOffset:])), nil
}

// SchemaVersion returns the schema version of block from its header alone.
func SchemaVersion(block []byte) (uint32, error) {
	if err := checkPrefix(block); err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint32(block[SchemaVersionOffset:]), nil
}

// Verify checks block's header and checksum and returns the header. It does
// not interpret the payload, which needs the block's layout (Reader.Open
// does both).
func Verify(block []byte) (Header, error) {
	h, err := ReadHeader(block)
	if err != nil {
		return h, err
	}
	stored := binary.LittleEndian.Uint32(block[checksumOffset:])
	if sum := checksum(block); sum != stored {
		return h, fmt.Errorf("%w: checksum %08x, computed %08x", ErrCorrupt, stored, sum)
	}
	return h, nil
}

// checksum is the CRC-32C of the block after the checksum field.
func checksum(block []byte) uint32 {
	return crc32.Checksum(block[checksummedFrom:], castagnoli)
}

// putHeader writes every header field but the checksum into b[:HeaderSize].
func putHeader(b []byte, flags byte, version uint32, eventTime, expiry int64, payloadLen int) {
	b[0] = psdbMagic
	b[1] = formatVersion
	b[flagsOffset] = flags
	b[flagsOffset+1] = 0
	binary.LittleEndian.PutUint32(b[SchemaVersionOffset:], version)
	binary.LittleEndian.PutUint64(b[EventTimeOffset:], uint64(eventTime))
	binary.LittleEndian.PutUint64(b[ExpiryOffset:], uint64(expiry))
	binary.LittleEndian.PutUint32(b[payloadLenOffset:], uint32(payloadLen))
}

// seal computes and stores the checksum of a complete block.
func seal(block []byte) {
	binary.LittleEndian.PutUint32(block[checksumOffset:], checksum(block))
}
