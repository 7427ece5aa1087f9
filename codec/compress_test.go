package codec

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/ofstack/ofs/schema"
)

// realisticRow builds the payload of a synthetic row of the given kind with
// about width features, drawn to look like real feature rows: sparse ratios
// and counts, timestamps, flags, categorical strings, embeddings.
func realisticRow(kind string, width int, rng *rand.Rand) []byte {
	var cols []Column
	var set []func(b *Builder, col int)
	add := func(c Column, f func(b *Builder, col int)) {
		c.Name = fmt.Sprintf("f%d", len(cols))
		cols = append(cols, c)
		set = append(set, f)
	}
	words := strings.Fields("home sports news video music games shopping travel food health " +
		"finance auto tech science style kids pets weather local world " +
		"android ios web desktop tablet US DE FR GB IN BR JP")
	for i := range width {
		switch kind {
		case "fp32": // ratios, rates and counts: many zeros, some small integers
			add(Column{Type: schema.FP32}, func(b *Builder, col int) {
				switch rng.IntN(3) {
				case 0:
					b.SetFloat32(col, 0)
				case 1:
					b.SetFloat32(col, float32(rng.IntN(20)))
				default:
					b.SetFloat32(col, float32(rng.ExpFloat64()))
				}
			})
		case "mixed": // the mix of the benchmarks' mixed row
			switch i % 10 {
			case 0, 1, 2:
				add(Column{Type: schema.FP32}, func(b *Builder, col int) { b.SetFloat32(col, float32(rng.NormFloat64())) })
			case 3:
				add(Column{Type: schema.Int64}, func(b *Builder, col int) { b.SetInt64(col, 1_700_000_000_000_000+rng.Int64N(1e12)) })
			case 4, 5:
				add(Column{Type: schema.Int32}, func(b *Builder, col int) { b.SetInt64(col, rng.Int64N(1000)) })
			case 6:
				add(Column{Type: schema.Bool}, func(b *Builder, col int) { b.SetBool(col, rng.IntN(2) == 0) })
			case 7:
				add(Column{Type: schema.FP16}, func(b *Builder, col int) { b.SetFloat32(col, float32(rng.NormFloat64())) })
			case 8:
				add(Column{Type: schema.Uint8}, func(b *Builder, col int) { b.SetUint64(col, uint64(rng.IntN(10))) })
			default:
				add(Column{Type: schema.String}, func(b *Builder, col int) { b.SetString(col, words[rng.IntN(len(words))]) })
			}
		case "fp16-embedding": // one dense vector: close to incompressible
			if i == 0 {
				add(Column{Type: schema.FP16, Len: width}, func(b *Builder, col int) {
					v := make([]float32, width)
					for k := range v {
						v[k] = float32(rng.NormFloat64() * 0.1)
					}
					b.SetFloat32s(col, v)
				})
			}
		case "strings": // categorical values and ids
			add(Column{Type: schema.String}, func(b *Builder, col int) {
				if rng.IntN(4) == 0 {
					b.SetString(col, fmt.Sprintf("user-%08x", rng.Uint32()))
					return
				}
				b.SetString(col, words[rng.IntN(len(words))])
			})
		}
	}
	l, err := NewLayout(1, cols)
	if err != nil {
		panic(err)
	}
	b := NewBuilder(l)
	for i, f := range set {
		f(b, i)
	}
	return b.appendPayload(nil)
}

// compressedSize is the stored size of payload compressed: the uvarint of
// its length and the zstd frame.
func compressedSize(payload []byte) int {
	enc, err := zstdEncoder()
	if err != nil {
		panic(err)
	}
	return uvarintLen(uint64(len(payload))) + len(enc.EncodeAll(payload, nil))
}

var gainKinds = []string{"fp32", "mixed", "fp16-embedding", "strings"}

// TestCompressionGain measures what zstd saves on realistic rows of growing
// width: the table (go test -run CompressionGain -v) is how CompressThreshold
// was chosen. Below the threshold no kind of row saves a tenth of its size;
// well above it the compressible kinds do.
func TestCompressionGain(t *testing.T) {
	widths := []int{2, 4, 8, 12, 16, 18, 20, 22, 24, 28, 32, 48, 64, 96, 128, 256, 512}
	t.Logf("%-15s %6s %8s %10s %7s", "kind", "width", "payload", "compressed", "saved")
	for _, kind := range gainKinds {
		for _, w := range widths {
			// The median of several rows, to smooth the draw.
			rng := rand.New(rand.NewPCG(uint64(w), 1))
			sizes, packed := make([]int, 0, 9), make([]int, 0, 9)
			for range 9 {
				p := realisticRow(kind, w, rng)
				sizes = append(sizes, len(p))
				packed = append(packed, compressedSize(p))
			}
			size, comp := median(sizes), median(packed)
			saved := float64(size-comp) / float64(size)
			t.Logf("%-15s %6d %8d %10d %6.0f%%", kind, w, size, comp, 100*saved)
			if size < CompressThreshold && saved >= 0.10 {
				t.Errorf("%s rows of %d bytes save %.0f%%: the threshold %d is too high", kind, size, 100*saved, CompressThreshold)
			}
			if size >= 4*CompressThreshold && (kind == "strings" || kind == "fp32") && saved < 0.10 {
				t.Errorf("%s rows of %d bytes save only %.0f%%", kind, size, 100*saved)
			}
		}
	}
}

func median(v []int) int {
	s := append([]int(nil), v...)
	for i := range s {
		for j := i + 1; j < len(s); j++ {
			if s[j] < s[i] {
				s[i], s[j] = s[j], s[i]
			}
		}
	}
	return s[len(s)/2]
}

// BenchmarkCompressAttempt is the cost of trying zstd on a payload (what the
// threshold saves the writer for small rows) and of decompressing it (what
// every cache miss pays for a compressed block).
func BenchmarkCompressAttempt(b *testing.B) {
	for _, kind := range []string{"fp32", "strings"} {
		for _, w := range []int{8, 16, 32, 64, 128} {
			payload := realisticRow(kind, w, rand.New(rand.NewPCG(1, 2)))
			name := fmt.Sprintf("%s/bytes=%d", kind, len(payload))
			b.Run("compress/"+name, func(b *testing.B) {
				enc := must(zstdEncoder())
				dst := make([]byte, 0, 2*len(payload)+64)
				b.ReportAllocs()
				for b.Loop() {
					dst = binary.AppendUvarint(dst[:0], uint64(len(payload)))
					dst = enc.EncodeAll(payload, dst)
				}
			})
			stored := must(appendBlockForced(payload))
			b.Run("decompress/"+name, func(b *testing.B) {
				dst := make([]byte, 0, len(payload))
				b.ReportAllocs()
				for b.Loop() {
					var err error
					if dst, err = decompressPayload(dst[:0], stored); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// appendBlockForced returns the compressed stored form of payload even when
// it does not win.
func appendBlockForced(payload []byte) ([]byte, error) {
	enc, err := zstdEncoder()
	if err != nil {
		return nil, err
	}
	return enc.EncodeAll(payload, binary.AppendUvarint(nil, uint64(len(payload)))), nil
}

func TestCompressKeepsOnlyWins(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 5))
	for _, kind := range gainKinds {
		for _, w := range []int{1, 8, 64, 256} {
			payload := realisticRow(kind, w, rng)
			block := must(appendBlock(nil, 1, 2, 3, payload))
			h := must(Verify(block))
			wins := len(payload) >= CompressThreshold && compressedSize(payload) < len(payload)
			if h.Compressed != wins {
				t.Errorf("%s width %d (%d bytes): compressed %t, want %t", kind, w, len(payload), h.Compressed, wins)
			}
			if len(block) > HeaderSize+len(payload) {
				t.Errorf("%s width %d: block of %d bytes for a payload of %d", kind, w, len(block), len(payload))
			}
			if plain := must(Decompress(nil, block)); !bytes.Equal(plain[HeaderSize:], payload) {
				t.Errorf("%s width %d: payload changed", kind, w)
			}
		}
	}
}

// TestConcurrentCompression shares the zstd encoder and decoder between
// goroutines, as the ingest and the servers do (run with -race).
func TestConcurrentCompression(t *testing.T) {
	payload := realisticRow("strings", 64, rand.New(rand.NewPCG(1, 1)))
	want := must(appendBlock(nil, 1, 2, 3, payload))
	errs := make(chan error, 8)
	for g := range 8 {
		go func() {
			var out, plain []byte
			var err error
			for range 200 {
				if out, err = appendBlock(out[:0], 1, 2, 3, payload); err != nil || !bytes.Equal(out, want) {
					errs <- fmt.Errorf("goroutine %d: compressed block differs: %w", g, err)
					return
				}
				if plain, err = Decompress(plain[:0], out); err != nil || !bytes.Equal(plain[HeaderSize:], payload) {
					errs <- fmt.Errorf("goroutine %d: decompressed payload differs: %w", g, err)
					return
				}
			}
			errs <- nil
		}()
	}
	for range 8 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}
