package schema

import (
	"bytes"
	"math"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	registryv1 "github.com/ofstack/ofs/proto/ofs/registry/v1"
)

// fuzzSeeds returns command batches to start the fuzzers from: the history
// and commands that break rules, as proto ApplyRequests.
func fuzzSeeds() []*registryv1.ApplyRequest {
	wrap := func(cs ...Command) *registryv1.ApplyRequest {
		p := &registryv1.ApplyRequest{}
		for i, c := range cs {
			req := Request{ID: "r" + itoa(i), Actor: "fuzz", Command: c}
			if i%3 == 1 {
				req.Expect = ExpectRevision(uint64(i))
			}
			p.Commands = append(p.Commands, req.ToProto())
		}
		return p
	}
	single := []Command{
		AddFeatures{Group: "user_stats", Features: []Feature{{Name: "level", Type: Int8, Default: IntValue(300)}}},
		AddFeatures{Group: "user_stats", Features: []Feature{{Name: "v", Type: FP8E4M3, VectorLength: 3, Default: FloatValue(math.Inf(1))}}},
		RemoveFeatures{Group: "user_stats", Names: []string{"ctr", "clicks"}},
		SetDefaults{Group: "user_stats", Defaults: []FeatureDefault{{"country", StringValue("x")}, {"clicks", UintValue(7)}}},
		ApplyFeatureGroup{Name: "user_stats", Entity: "user", Store: "redis_main", Features: []Feature{{Name: "clicks", Type: FP32}}},
		ApplyFeatureGroup{Name: "g", Entity: "user", Store: "redis_main", ID: math.MaxUint32, Features: []Feature{{Name: "x", Type: Bool}}},
		SetTTL{Group: "user_stats", TTL: MaxTTL},
		SetCachePolicy{Group: "user_stats", Cache: CachePolicy{L1: true, L2: true, TTL: MaxCacheTTL}},
		DeleteFeatureGroup{Name: "user_stats"},
		DeleteEntity{Name: "user"},
		ApplyEntity{Name: "user", Keys: []KeyColumn{{"user_id", String}}},
	}
	seeds := make([]*registryv1.ApplyRequest, 0, len(single)+1)
	seeds = append(seeds, wrap(history()...))
	for _, c := range single {
		seeds = append(seeds, wrap(c))
	}
	return seeds
}

// FuzzApply feeds batches of arbitrary commands to a registry that holds the
// fixture's store, entity and group. Apply must never panic, and every
// outcome must keep the invariants: a rejection leaves the state as it was;
// an applied change moves the revision by one; the new state passes the
// persisted-state checks and round-trips through its canonical bytes; the
// same command on the same state gives the same result; and a declarative
// command applied twice is a no-op the second time.
func FuzzApply(f *testing.F) {
	for _, s := range fuzzSeeds() {
		b, err := proto.Marshal(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	start := base(f).r
	f.Fuzz(func(t *testing.T, data []byte) {
		var batch registryv1.ApplyRequest
		if err := proto.Unmarshal(data, &batch); err != nil {
			return
		}
		r := start
		at := t0
		for _, cmd := range batch.GetCommands() {
			at = at.Add(time.Second)
			next, out := r.ApplyProto(cmd, at)
			if _, err := proto.Marshal(out); err != nil {
				t.Fatalf("outcome does not marshal: %v", err)
			}
			if out.GetRequestId() != validUTF8(cmd.GetRequestId()) {
				t.Fatalf("outcome for %q carries %q", cmd.GetRequestId(), out.GetRequestId())
			}
			// Determinism: the same command on the same state.
			again, out2 := r.ApplyProto(cmd, at)
			if !proto.Equal(out, out2) || !sameState(t, next, again) {
				t.Fatal("the same command gave two results")
			}
			if rej := out.GetRejected(); rej != nil {
				if next != r {
					t.Fatal("a rejection changed the registry")
				}
				if rej.GetCode() == registryv1.RejectCode_REJECT_CODE_UNSPECIFIED || rej.GetRule() == "" || rej.GetMessage() == "" {
					t.Fatalf("rejection without code, rule or message: %v", rej)
				}
				continue
			}
			applied := out.GetApplied()
			switch {
			case applied.GetNoop() && (next != r || applied.GetRevision() != r.Revision()):
				t.Fatal("a no-op changed the registry")
			case !applied.GetNoop() && (next.Revision() != r.Revision()+1 || applied.GetRevision() != next.Revision()):
				t.Fatalf("revision %d -> %d, outcome %d", r.Revision(), next.Revision(), applied.GetRevision())
			case applied.GetModRevision() == 0 || applied.GetModRevision() > applied.GetRevision():
				t.Fatalf("mod revision %d with registry revision %d", applied.GetModRevision(), applied.GetRevision())
			}
			b := mustMarshal(t, next)
			back, err := UnmarshalRegistry(b)
			if err != nil {
				t.Fatalf("Apply produced a state that fails its checks: %v\ncommand: %v", err, cmd)
			}
			if !bytes.Equal(mustMarshal(t, back), b) {
				t.Fatal("the state does not round-trip")
			}
			if idempotent(cmd) && !applied.GetNoop() {
				_, o := next.ApplyProto(cmd, at.Add(time.Millisecond))
				if !o.GetApplied().GetNoop() {
					t.Fatalf("applying %v twice: second outcome %v", cmd, o)
				}
			}
			r = next
		}
	})
}

// idempotent reports whether applying cmd again to the state it produced
// must be a no-op: declarative commands and setters, without a precondition
// (which the first apply made stale).
func idempotent(cmd *registryv1.Command) bool {
	if cmd.ExpectedRevision != nil {
		return false
	}
	switch cmd.GetCommand().(type) {
	case *registryv1.Command_ApplyStore, *registryv1.Command_ApplyEntity, *registryv1.Command_ApplyFeatureGroup,
		*registryv1.Command_SetDefaults, *registryv1.Command_SetTtl, *registryv1.Command_SetCachePolicy:
		return true
	}
	return false
}

// FuzzUnmarshalRegistry: decoding arbitrary bytes as a persisted state never
// panics, and whatever is accepted encodes back to a canonical form that
// decodes to the same state.
func FuzzUnmarshalRegistry(f *testing.F) {
	r, _ := replay(f, history())
	for _, reg := range []*Registry{NewRegistry(), r} {
		b, err := reg.Marshal()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		reg, err := UnmarshalRegistry(data)
		if err != nil {
			return
		}
		b := mustMarshal(t, reg)
		back, err := UnmarshalRegistry(b)
		if err != nil {
			t.Fatalf("a state accepted once is refused after re-encoding: %v", err)
		}
		if !bytes.Equal(mustMarshal(t, back), b) {
			t.Fatal("canonical bytes are not stable")
		}
		NewSnapshot(reg) // building a snapshot of any accepted state must not panic
	})
}
