package node

import (
	"slices"
	"testing"
)

func TestReadiness(t *testing.T) {
	var r Readiness
	if p := r.Pending(); !slices.Equal(p, []string{"starting"}) {
		t.Fatalf("nothing expected yet: pending %v, want [starting]", p)
	}
	r.Expect("serve", "ingest")
	r.Set("ingest", true)
	r.Expect("ingest") // already expected: stays ready
	if p := r.Pending(); !slices.Equal(p, []string{"serve"}) {
		t.Fatalf("pending %v, want [serve]", p)
	}
	r.Set("serve", true)
	if p := r.Pending(); p != nil {
		t.Fatalf("all ready: pending %v", p)
	}
	r.Set("serve", false) // shutting down
	if p := r.Pending(); !slices.Equal(p, []string{"serve"}) {
		t.Fatalf("after withdrawal: pending %v, want [serve]", p)
	}
}
