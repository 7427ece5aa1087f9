package events

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/ofstack/ofs/codec"
	"github.com/ofstack/ofs/topics"
)

// TestCompressionLearns: attempts go on while blocks gain, stop after
// lossStreak losses but for one probe in probeEvery, and resume at a gain.
func TestCompressionLearns(t *testing.T) {
	var c compression
	tries := func(n int) (k int) {
		for range n {
			if c.try() {
				k++
			}
		}
		return k
	}
	for range lossStreak {
		if !c.try() {
			t.Fatal("an attempt was skipped before the loss streak")
		}
		c.losses++
	}
	if got := tries(4 * probeEvery); got != 4 {
		t.Fatalf("%d attempts in %d blocks after the loss streak, want 4 probes", got, 4*probeEvery)
	}
	c.losses = 0 // a probe gained
	if got := tries(100); got != 100 {
		t.Fatalf("%d attempts in 100 blocks after a gain, want all", got)
	}
}

// TestDecoderLearnsCompression: rows that compress are stored compressed;
// after a run of rows that do not, attempts pause, and the first probe
// that gains makes every later row compressed again.
func TestDecoderLearnsCompression(t *testing.T) {
	snap := fixture(t)
	d := newDecoder()
	key := topics.FeatureKey("user", "wide50", "7")
	row := func(v func(f int) float64) bool {
		var sb strings.Builder
		sb.WriteString(`{"entity":"user","keys":{"user_id":7},"feature_group":"wide50","values":{`)
		for f := range 50 {
			if f > 0 {
				sb.WriteByte(',')
			}
			fmt.Fprintf(&sb, `"f%02d":%v`, f, float32(v(f)))
		}
		sb.WriteString("}}")
		r, _, err := d.Decode(snap, Message{Value: []byte(sb.String()), Key: key, CheckKey: true, Timestamp: now}, nil)
		if err != nil {
			t.Fatal(err)
		}
		h, err := codec.ReadHeader(r.Block)
		if err != nil {
			t.Fatal(err)
		}
		return h.Compressed
	}
	same := func(int) float64 { return 1 }
	rng := rand.New(rand.NewPCG(3, 4))
	noise := func(int) float64 { return rng.NormFloat64() }
	for i := range 3 {
		if !row(same) {
			t.Fatalf("compressible row %d stored uncompressed", i)
		}
	}
	for i := range lossStreak + 4 {
		if row(noise) {
			t.Fatalf("random row %d stored compressed", i)
		}
	}
	first := -1
	for i := range 2 * probeEvery {
		c := row(same)
		switch {
		case c && first < 0:
			first = i
		case !c && first >= 0:
			t.Fatalf("row %d uncompressed after the probe at %d gained", i, first)
		}
	}
	if first < 0 || first >= probeEvery {
		t.Fatalf("first compressed row after the pause at %d, want within %d", first, probeEvery)
	}
}
