package codec

import "errors"

// Sentinel errors of the codec package. Callers match them with errors.Is; the
// wrapped message says what was wrong and where (offset, column, version).
var (
	// ErrTruncated reports a block or cache block shorter than its header says.
	ErrTruncated = errors.New("codec: truncated block")
	// ErrCorrupt reports a block whose bytes are inconsistent: a checksum
	// mismatch, a bad length, a malformed string, non-zero padding, trailing bytes.
	ErrCorrupt = errors.New("codec: corrupt block")
	// ErrFormat reports bytes that are not a block of a format version this
	// package reads (wrong magic, unknown format version, unknown flags).
	ErrFormat = errors.New("codec: unknown block format")
	// ErrUnknownVersion reports a block written with a schema version that the
	// projection does not know; the caller's registry is probably stale.
	ErrUnknownVersion = errors.New("codec: unknown schema version")
	// ErrExpired reports a block whose expiry is at or before the read time.
	// A Reader that returns it serves the projection's defaults.
	ErrExpired = errors.New("codec: block expired")
	// ErrTooLarge reports a payload above MaxPayloadSize.
	ErrTooLarge = errors.New("codec: block too large")
	// ErrLayout reports an invalid layout or projection: a bad data type,
	// vector length, default value, or column reference.
	ErrLayout = errors.New("codec: invalid layout")
	// ErrType reports a value of the wrong type for a column, or a read that the
	// projected columns' types do not allow (a string in a dense float row).
	ErrType = errors.New("codec: wrong data type")
	// ErrRange reports an integer that does not fit its column's type.
	ErrRange = errors.New("codec: value out of range")
	// ErrLength reports a vector whose length differs from its column's.
	ErrLength = errors.New("codec: wrong vector length")
	// ErrCompressed reports a compressed block where only an uncompressed one
	// is allowed (the bodies of a CSDB).
	ErrCompressed = errors.New("codec: compressed block")
)
