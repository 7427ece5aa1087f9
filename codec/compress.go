package codec

import (
	"encoding/binary"
	"fmt"
	"runtime"
	"slices"
	"sync"

	"github.com/klauspost/compress/zstd"
	"github.com/valyala/bytebufferpool"
)

// CompressThreshold is the payload size, in bytes, below which compression
// is not tried. zstd's frame costs about 10 bytes, so below it realistic rows
// save nothing or, from about 72 bytes, less than a tenth of their size (at
// most 8 bytes): too little to pay for an encoding attempt on every write and
// a decompression on every cache miss. TestCompressionGain measured it over
// synthetic rows (sparse fp32, mixed types, fp16 embeddings, categorical
// strings) of growing width; docs/formats.md has the table.
const CompressThreshold = 96

// A compressed payload is uvarint(uncompressed length) followed by one zstd
// frame with the content size and without zstd's own checksum (the block's
// CRC covers the stored bytes).

var (
	// bufPool holds the scratch buffers of the encoders.
	bufPool bytebufferpool.Pool

	// The zstd encoder and decoder are shared: EncodeAll and DecodeAll are
	// safe for concurrent use and keep pools of their internal state.
	zstdEncoder = sync.OnceValues(func() (*zstd.Encoder, error) {
		return zstd.NewWriter(nil,
			zstd.WithEncoderLevel(zstd.SpeedDefault),
			zstd.WithEncoderCRC(false),
			zstd.WithSingleSegment(true),
			zstd.WithEncoderConcurrency(runtime.GOMAXPROCS(0)),
		)
	})
	zstdDecoder = sync.OnceValues(func() (*zstd.Decoder, error) {
		return zstd.NewReader(nil,
			zstd.WithDecoderConcurrency(0), // GOMAXPROCS
			zstd.WithDecoderMaxMemory(MaxPayloadSize),
			zstd.WithDecodeAllCapLimit(true),
		)
	})
)

// appendBlock appends a block of the given header fields and uncompressed
// payload, compressing the payload if it is at least CompressThreshold
// bytes, worthCompressing finds repeats in it, and compression makes it
// smaller.
func appendBlock(dst []byte, version uint32, eventTime, expiry int64, payload []byte) ([]byte, error) {
	start := len(dst)
	dst = slices.Grow(dst, HeaderSize+len(payload))[:start+HeaderSize]
	flags := byte(compressionNone)
	if len(payload) >= CompressThreshold && worthCompressing(payload) {
		enc, err := zstdEncoder()
		if err != nil {
			return dst[:start], fmt.Errorf("codec: zstd encoder: %w", err)
		}
		dst = binary.AppendUvarint(dst, uint64(len(payload)))
		dst = enc.EncodeAll(payload, dst)
		if len(dst)-start-HeaderSize < len(payload) {
			flags = compressionZstd
		} else {
			dst = dst[:start+HeaderSize]
		}
	}
	if flags == compressionNone {
		dst = append(dst, payload...)
	}
	block := dst[start:]
	putHeader(block, flags, version, eventTime, expiry, len(block)-HeaderSize)
	seal(block)
	return dst, nil
}

// Compress appends to dst block with its payload compressed by zstd if the
// payload is at least CompressThreshold bytes and compression makes the
// block smaller, and returns the extended slice. A block that is already
// compressed is appended as it is. The block is verified first.
func Compress(dst, block []byte) ([]byte, error) {
	h, err := Verify(block)
	if err != nil {
		return dst, err
	}
	if h.Compressed {
		return append(dst, block...), nil
	}
	return appendBlock(dst, h.SchemaVersion, h.EventTime, h.Expiry, block[HeaderSize:])
}

// Decompress appends to dst the uncompressed form of block, verified, and
// returns the extended slice: the form caches keep and CSDB holds.
func Decompress(dst, block []byte) ([]byte, error) {
	h, err := Verify(block)
	if err != nil {
		return dst, err
	}
	if !h.Compressed {
		return append(dst, block...), nil
	}
	start := len(dst)
	dst = append(dst, block[:HeaderSize]...)
	dst, err = decompressPayload(dst, block[HeaderSize:])
	if err != nil {
		return dst[:start], err
	}
	out := dst[start:]
	out[flagsOffset] &^= compressionMask
	binary.LittleEndian.PutUint32(out[payloadLenOffset:], uint32(len(out)-HeaderSize))
	seal(out)
	return dst, nil
}

// decompressPayload appends the uncompressed bytes of a stored compressed
// payload to dst.
func decompressPayload(dst, stored []byte) ([]byte, error) {
	n, k := binary.Uvarint(stored)
	switch {
	case k <= 0 || k != uvarintLen(n):
		return dst, fmt.Errorf("%w: bad uncompressed length", ErrCorrupt)
	case n > MaxPayloadSize:
		return dst, fmt.Errorf("%w: uncompressed length %d above %d", ErrCorrupt, n, MaxPayloadSize)
	}
	dec, err := zstdDecoder()
	if err != nil {
		return dst, fmt.Errorf("codec: zstd decoder: %w", err)
	}
	start := len(dst)
	dst = slices.Grow(dst, int(n))
	// The cap limit makes DecodeAll fail rather than decode more than n bytes.
	out, err := dec.DecodeAll(stored[k:], dst[:start:start+int(n)])
	if err != nil {
		return dst[:start], fmt.Errorf("%w: zstd: %w", ErrCorrupt, err)
	}
	if len(out)-start != int(n) {
		return dst[:start], fmt.Errorf("%w: %d bytes uncompressed, header says %d", ErrCorrupt, len(out)-start, n)
	}
	return out, nil
}
