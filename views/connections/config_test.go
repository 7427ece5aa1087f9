package connections

import (
	"strings"
	"testing"
	"time"

	"github.com/ofstack/ofs/views/registrycopy"
)

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  Configs
		want string // in the error; "" for none
	}{
		{"ok", Configs{"a": {Scylla: &Scylla{Hosts: []string{"h"}, Consistency: "LOCAL_ONE", Timeout: time.Second}}}, ""},
		{"none set", Configs{"a": {}}, "stores.a: set exactly one"},
		{"two set", Configs{"a": {Pebble: &Pebble{Dir: "d"}, Redis: &Redis{Addrs: []string{"x"}}}}, "set exactly one"},
		{"no hosts", Configs{"a": {Scylla: &Scylla{}}}, "stores.a.scylla.hosts is empty"},
		{"bad consistency", Configs{"a": {Scylla: &Scylla{Hosts: []string{"h"}, Consistency: "MOST"}}}, "stores.a.scylla.consistency"},
		{"negative timeout", Configs{"a": {Scylla: &Scylla{Hosts: []string{"h"}, Timeout: -time.Second}}}, "stores.a.scylla.timeout"},
		{"no pebble dir", Configs{"a": {Pebble: &Pebble{}}}, "stores.a.pebble.dir is empty"},
		{"replication without class", Configs{"a": {Scylla: &Scylla{Hosts: []string{"h"}, Replication: map[string]string{"dc1": "3"}}}}, "stores.a.scylla.replication has no class"},
	}
	for _, tc := range tests {
		err := tc.cfg.Validate()
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s: %v, want an error with %q", tc.name, err, tc.want)
		}
	}
}

func TestRetarget(t *testing.T) {
	c := Config{Redis: &Redis{KeyPrefix: "old:"}}
	got := c.Retarget(registrycopy.Target{KeyPrefix: "new:"})
	if got.Redis.KeyPrefix != "new:" || c.Redis.KeyPrefix != "old:" {
		t.Errorf("Retarget: %q, original now %q", got.Redis.KeyPrefix, c.Redis.KeyPrefix)
	}
	s := Config{Scylla: &Scylla{Keyspace: "a"}}.Retarget(registrycopy.Target{Keyspace: "b"})
	if s.Scylla.Keyspace != "b" {
		t.Errorf("Retarget keyspace: %q", s.Scylla.Keyspace)
	}
}
