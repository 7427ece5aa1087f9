package views

import (
	"context"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

// TestTieredSpans: a traced read has a child span per tier it reaches,
// with the entries asked for and answered; an untraced read has none.
func TestTieredSpans(t *testing.T) {
	rs, _ := devRedis(t)
	c := testCache(t, true)
	r := c.Tiered(rs)
	keys := userKeys(0, 10)
	seedRedis(t, rs, keys[:8])
	groups, p := []uint32{1}, policies(bothTiers)
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))

	read := func() map[string][2]int64 {
		t.Helper()
		ctx, parent := tp.Tracer("test").Start(context.Background(), "call")
		if _, err := r.Read(ctx, keys, groups, p); err != nil {
			t.Fatal(err)
		}
		parent.End()
		got := map[string][2]int64{}
		for _, s := range rec.Ended() {
			if s.Name() == "call" {
				continue
			}
			if s.Parent().SpanID() != parent.SpanContext().SpanID() {
				t.Errorf("span %s is not a child of the call's", s.Name())
			}
			var v [2]int64
			for _, a := range s.Attributes() {
				switch a.Key {
				case attribute.Key("ofs.entries"):
					v[0] = a.Value.AsInt64()
				case attribute.Key("ofs.answered"):
					v[1] = a.Value.AsInt64()
				}
			}
			got[s.Name()] = v
		}
		rec.Reset()
		return got
	}
	cold := read()
	if len(cold) != 3 || cold["ofs.l1"] != [2]int64{10, 0} || cold["ofs.l2"] != [2]int64{10, 0} || cold["ofs.store"] != [2]int64{10, 10} {
		t.Errorf("cold read: spans (entries, answered) %v", cold)
	}
	warm := read()
	if len(warm) != 1 || warm["ofs.l1"] != [2]int64{10, 10} {
		t.Errorf("warm read: spans %v, want the L1's only, answering all 10", warm)
	}
	if _, err := r.Read(context.Background(), keys, groups, p); err != nil {
		t.Fatal(err)
	}
	if n := len(rec.Ended()); n != 0 {
		t.Errorf("an untraced read made %d spans", n)
	}
}
