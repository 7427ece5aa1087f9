package replay_test

import (
	"errors"
	"testing"

	"github.com/ofstack/ofs/processors/replay"
	"github.com/ofstack/ofs/views/registrycopy"
)

func TestPlan(t *testing.T) {
	conns := []replay.Connection{
		{Name: "cache", Redis: true, KeyPrefix: "blue:"},
		{Name: "wide", Scylla: true},
		{Name: "local"}, // an embedded store is never moved
	}
	for _, tc := range []struct {
		name   string
		target registrycopy.Target
		want   map[string]registrycopy.Target
		err    error
	}{
		{"prefix", registrycopy.Target{KeyPrefix: "green:"}, map[string]registrycopy.Target{"cache": {KeyPrefix: "green:"}}, nil},
		{"keyspace", registrycopy.Target{Keyspace: "ofs_green"}, map[string]registrycopy.Target{"wide": {Keyspace: "ofs_green"}}, nil},
		{"same prefix", registrycopy.Target{KeyPrefix: "blue:"}, nil, replay.ErrSameTarget},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := replay.Plan(conns, tc.target)
			if !errors.Is(err, tc.err) {
				t.Fatalf("err %v, want %v", err, tc.err)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("moved %v, want %v", got, tc.want)
			}
			for k, v := range tc.want {
				if got[k] != v {
					t.Fatalf("moved %v, want %v", got, tc.want)
				}
			}
		})
	}
	if _, err := replay.Plan(conns[2:], registrycopy.Target{KeyPrefix: "x:"}); !errors.Is(err, replay.ErrNothingToFill) {
		t.Fatalf("no Redis connection: %v", err)
	}
}
