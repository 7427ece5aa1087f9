package schema

import (
	"bytes"
	"fmt"
	"testing"
	"time"
)

// t0 is the time of the first command in tests; each further command is one
// second later.
var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// seq applies requests in order and fails the test on any rejection.
type seq struct {
	t   testing.TB
	r   *Registry
	n   int
	now time.Time
}

func newSeq(t testing.TB) *seq { return &seq{t: t, r: NewRegistry(), now: t0} }

// req wraps a command in a request with a fresh id.
func (s *seq) req(c Command) Request {
	s.n++
	return Request{ID: fmt.Sprintf("req-%d", s.n), Actor: "alice", Command: c}
}

// do applies commands unconditionally and requires each to be applied.
func (s *seq) do(cs ...Command) Outcome {
	s.t.Helper()
	var out Outcome
	for _, c := range cs {
		out = s.doReq(s.req(c))
	}
	return out
}

func (s *seq) doReq(req Request) Outcome {
	s.t.Helper()
	s.now = s.now.Add(time.Second)
	next, out, err := s.r.Apply(req, s.now)
	if err != nil {
		s.t.Fatalf("apply %T: %v", req.Command, err)
	}
	s.r = next
	return out
}

// Fixture commands.

func redisStore() ApplyStore {
	return ApplyStore{ID: "redis_main", Kind: Redis, Connection: "redis-main"}
}

func userEntity() ApplyEntity {
	return ApplyEntity{Name: "user", Keys: []KeyColumn{{Name: "user_id", Type: Int64}}, Description: "a user"}
}

func userStatsFeatures() []Feature {
	return []Feature{
		{Name: "clicks", Type: Int64},
		{Name: "ctr", Type: FP32, Default: FloatValue(0.5)},
		{Name: "embedding", Type: FP32, VectorLength: 4},
		{Name: "country", Type: String, Default: StringValue("unknown"), Tags: map[string]string{"pii": "no"}},
	}
}

func userStats() ApplyFeatureGroup {
	return ApplyFeatureGroup{
		Name: "user_stats", Entity: "user", Store: "redis_main", TTL: 24 * time.Hour,
		Cache:    CachePolicy{L1: true, TTL: 5 * time.Second},
		Features: userStatsFeatures(),
	}
}

// base returns a registry with one store, one entity and one group (id 1,
// version 1) at revision 3.
func base(t testing.TB) *seq {
	s := newSeq(t)
	s.do(redisStore(), userEntity(), userStats())
	return s
}

func mustMarshal(t testing.TB, r *Registry) []byte {
	t.Helper()
	b, err := r.Marshal()
	if err != nil {
		t.Fatalf("marshal: %v", err)
	}
	return b
}

func sameState(t testing.TB, a, b *Registry) bool {
	t.Helper()
	return bytes.Equal(mustMarshal(t, a), mustMarshal(t, b))
}
