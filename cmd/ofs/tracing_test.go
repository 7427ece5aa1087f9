package main

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/ofstack/ofs/internal/testenv"
)

// TestServeTraces: `ofs serve` with a tracing endpoint sends the spans of
// a Retrieve (the call's, and its cache tiers') over OTLP, named by its
// service.
func TestServeTraces(t *testing.T) {
	recv := testenv.NewOTLPReceiver(t)
	env, addr, _ := serveExample(t, fmt.Sprintf("tracing:\n  endpoint: %q\n  sample_ratio: 1\n", recv.Addr))
	if out, err := run(t, env, "get", "--addr", addr, "--entity", "user", "--group", "user_profile", "42"); err != nil {
		t.Fatalf("get: %v\n%s", err, out)
	}
	for _, name := range []string{"ofs.feature.v1.FeatureService/Retrieve", "ofs.l1", "ofs.store"} {
		if !recv.WaitSpan(name, 30*time.Second) {
			names, _ := recv.Spans()
			t.Fatalf("no span %q within 30 s; got %q", name, names)
		}
	}
	if _, svc := recv.Spans(); !slices.Contains(svc, "ofs-serve") {
		t.Errorf("spans of services %q, want ofs-serve", svc)
	}
}
