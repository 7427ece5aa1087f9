package topics

import (
	"strings"
	"testing"
)

func TestForNamesEverythingUnderThePrefix(t *testing.T) {
	n, err := For("")
	if err != nil {
		t.Fatal(err)
	}
	if n.Features != "ofs.features" || n.Registry != "ofs.registry" || n.IngestGroup != "ofs-ingest" {
		t.Fatalf("default names = %+v", n)
	}
	n, err = For("team_a.prod")
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range n.Specs(Layout{}) {
		if !strings.HasPrefix(s.Name, "team_a.prod.") && !strings.HasPrefix(s.Name, "team_a.prod-") {
			t.Errorf("%s is not under the prefix", s.Name)
		}
	}
}

func TestForRejectsBadPrefixes(t *testing.T) {
	for _, p := range []string{"a b", ".ofs", "ofs.", "ofs..x", "ofs/x", strings.Repeat("a", 101)} {
		if _, err := For(p); err == nil {
			t.Errorf("For(%q) accepted", p)
		}
	}
}

func TestSpecs(t *testing.T) {
	n, _ := For("x")
	specs := n.Specs(Layout{FeaturePartitions: 6})
	byName := map[string]Spec{}
	for _, s := range specs {
		byName[s.Name] = s
		if s.Replication != -1 {
			t.Errorf("%s replication = %d, want the broker default (-1)", s.Name, s.Replication)
		}
	}
	if len(byName) != 6 {
		t.Fatalf("%d distinct topics, want 6", len(byName))
	}
	if s := byName["x-registry-table"]; s.Partitions != 1 || s.Config["cleanup.policy"] != "compact" {
		t.Errorf("registry table spec %+v: want one compacted partition", s)
	}
	if s := byName["x.registry"]; s.Partitions != 1 || s.Config["retention.ms"] != "-1" {
		t.Errorf("registry spec %+v: want one partition kept forever", s)
	}
	if s := byName["x.features"]; s.Partitions != 6 || s.Config["cleanup.policy"] != "compact" {
		t.Errorf("features spec %+v: want 6 compacted partitions", s)
	}
	if s := byName["x.invalidations"]; s.Config["retention.ms"] != "3600000" {
		t.Errorf("invalidations retention %s, want one hour", s.Config["retention.ms"])
	}
}
