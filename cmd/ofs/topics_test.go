package main

import (
	"strings"
	"testing"

	"github.com/ofstack/ofs/internal/testenv"
)

// TestTopicsListCheck: `ofs topics list --check` on the topics `ofs topics
// ensure` made on the dev broker shows each topic's partitions, replication
// and none under-replicated or offline, and exits 0.
func TestTopicsListCheck(t *testing.T) {
	env := []string{
		"OFS_KAFKA_BROKERS=" + strings.Join(testenv.Kafka(t), ","),
		"OFS_PREFIX=" + testenv.Name(t),
	}
	if out, err := run(t, env, "topics", "ensure"); err != nil {
		t.Fatalf("topics ensure: %v\n%s", err, out)
	}
	// Ensure returns once the brokers' metadata holds what it created.
	out, err := run(t, env, "topics", "list", "--check")
	if err != nil {
		t.Fatalf("topics list --check: %v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 7 || strings.Join(strings.Fields(lines[0]), " ") != "TOPIC PARTITIONS REPLICATION MIN-ISR UNDER OFFLINE CLEANUP" {
		t.Fatalf("want a header and 6 topics:\n%s", out)
	}
	for _, l := range lines[1:] {
		f := strings.Fields(l)
		if len(f) != 7 || f[2] != "1" || f[3] != "1" || f[4] != "0" || f[5] != "0" {
			t.Errorf("want replication 1, ISR 1, 0 under-replicated, 0 offline: %q", l)
		}
		if strings.HasSuffix(f[0], ".features") && f[1] != "12" {
			t.Errorf("features topic with %s partitions, want 12: %q", f[1], l)
		}
	}
}
