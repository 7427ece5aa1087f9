package codec

import (
	"encoding/binary"
	"math"
	"math/rand/v2"
	"testing"
)

// entropyRow is a payload of width fp32 values of kind "varied" (one value
// per row shifted per feature: the ingest benchmark's rows) or "uniform", or
// one of realisticRow's kinds.
func entropyRow(kind string, width int, rng *rand.Rand) []byte {
	var p []byte
	switch kind {
	case "varied":
		base := float32(rng.IntN(1000)) / 1000
		for f := range width {
			p = binary.LittleEndian.AppendUint32(p, math.Float32bits(base+float32(f)))
		}
	case "uniform":
		for range width {
			p = binary.LittleEndian.AppendUint32(p, math.Float32bits(rng.Float32()))
		}
	default:
		p = realisticRow(kind, width, rng)
	}
	return p
}

// TestWorthCompressing: the estimate never skips a row that zstd makes
// smaller, and it does skip the rows of varied numbers that zstd cannot
// shrink (what it is for).
func TestWorthCompressing(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	skipped := map[string]int{}
	for _, kind := range append(gainKinds, "varied", "uniform") {
		for _, w := range []int{24, 32, 50, 64, 100, 128, 256, 512, 1024} {
			for range 20 {
				p := entropyRow(kind, w, rng)
				if len(p) < CompressThreshold {
					continue
				}
				worth := worthCompressing(p)
				if c := compressedSize(p); c < len(p) && !worth {
					t.Errorf("%s row of %d bytes: zstd makes it %d bytes, but the estimate skips it", kind, len(p), c)
				}
				if !worth {
					skipped[kind]++
				}
			}
		}
	}
	for _, kind := range []string{"varied", "uniform", "fp16-embedding"} {
		if skipped[kind] == 0 {
			t.Errorf("no %s row skipped: every one pays a zstd attempt", kind)
		}
	}
	t.Logf("rows skipped per kind (of 180): %v", skipped)
}

// TestCompressedBytesDependOnThePayloadOnly: two builders given the same
// values in any history produce the same block, so ties (the greater bytes
// win) break the same way in every writer.
func TestCompressedBytesDependOnThePayloadOnly(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for _, kind := range append(gainKinds, "varied") {
		p := entropyRow(kind, 64, rng)
		a := must(appendBlock(nil, 1, 10, NeverExpires, p))
		for range 40 {
			_ = must(appendBlock(nil, 1, 10, NeverExpires, entropyRow("uniform", 64, rng)))
		}
		b := must(appendBlock(nil, 1, 10, NeverExpires, p))
		if string(a) != string(b) {
			t.Errorf("%s: the same payload gave two blocks", kind)
		}
	}
}

// BenchmarkWorthCompressing is the estimate's cost on a 200-byte row, to
// set beside BenchmarkCompressAttempt's.
func BenchmarkWorthCompressing(b *testing.B) {
	for _, kind := range []string{"varied", "fp32"} {
		p := entropyRow(kind, 50, rand.New(rand.NewPCG(1, 2)))
		b.Run(kind, func(b *testing.B) {
			for b.Loop() {
				worthCompressing(p)
			}
		})
	}
}
