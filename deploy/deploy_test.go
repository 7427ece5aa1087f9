// Package deploy_test checks the monitoring files of deploy/ against the
// code: every ofs metric a dashboard panel or an alert rule names must be one
// that ofs registers, so that a renamed metric cannot leave a silent panel.
package deploy_test

import (
	"encoding/json"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"go.yaml.in/yaml/v3"

	"github.com/ofstack/ofs/processors/ingest"
	"github.com/ofstack/ofs/schema"
	"github.com/ofstack/ofs/servers"
	"github.com/ofstack/ofs/servers/feature"
	"github.com/ofstack/ofs/topics"
	"github.com/ofstack/ofs/views"
)

// recorder is a Registerer that remembers the names of what is registered.
type recorder struct{ names map[string]bool }

var fqName = regexp.MustCompile(`fqName: "([a-z0-9_]+)"`)

func (r *recorder) Register(c prometheus.Collector) error {
	ch := make(chan *prometheus.Desc, 64)
	go func() { c.Describe(ch); close(ch) }()
	for d := range ch {
		if m := fqName.FindStringSubmatch(d.String()); m != nil {
			r.names[m[1]] = true
		}
	}
	return nil
}

func (r *recorder) MustRegister(cs ...prometheus.Collector) {
	for _, c := range cs {
		_ = r.Register(c) // never fails
	}
}

func (r *recorder) Unregister(prometheus.Collector) bool { return true }

// registered returns the names of every metric ofs registers.
func registered(t *testing.T) map[string]bool {
	t.Helper()
	r := &recorder{names: map[string]bool{}}
	servers.Metrics(r)
	servers.NewAuth(servers.Tokens{}, nil, r)
	views.NewStoreMetrics(r)
	feature.New(schema.NewHolder(nil), nil, feature.WithRegisterer(r))
	cache, err := views.NewCache(views.CacheRegisterer(r))
	if err != nil {
		t.Fatal(err)
	}
	defer cache.Close()
	names, _ := topics.For("")
	if _, err := ingest.New([]string{"127.0.0.1:9"}, names, schema.NewHolder(nil),
		func(*schema.Store) (views.Store, error) { return nil, nil }, ingest.WithRegisterer(r)); err != nil {
		t.Fatal(err)
	}
	if len(r.names) < 10 {
		t.Fatalf("only %d metrics registered: %v", len(r.names), r.names)
	}
	return r.names
}

var metricRef = regexp.MustCompile(`\bofs_[a-z0-9_]+`)

// check fails for every ofs metric in expr that the code does not register.
func check(t *testing.T, where, expr string, known map[string]bool) int {
	t.Helper()
	n := 0
	for _, m := range metricRef.FindAllString(expr, -1) {
		base := m
		for _, suffix := range []string{"_bucket", "_sum", "_count"} {
			if b, ok := strings.CutSuffix(m, suffix); ok && known[b] {
				base = b
			}
		}
		if !known[base] {
			t.Errorf("%s names %s, which ofs does not register", where, m)
		}
		n++
	}
	return n
}

func TestDashboardNamesRegisteredMetrics(t *testing.T) {
	known := registered(t)
	b, err := os.ReadFile("grafana/ofs-overview.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(b, &dash); err != nil {
		t.Fatal(err)
	}
	refs := 0
	for _, p := range dash.Panels {
		for _, target := range p.Targets {
			refs += check(t, "panel "+p.Title, target.Expr, known)
		}
	}
	if refs < 15 {
		t.Fatalf("the dashboard names only %d metrics", refs)
	}
}

func TestAlertRulesNameRegisteredMetrics(t *testing.T) {
	known := registered(t)
	b, err := os.ReadFile("prometheus/ofs-rules.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var rules struct {
		Groups []struct {
			Rules []struct {
				Alert string `yaml:"alert"`
				Expr  string `yaml:"expr"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	if err := yaml.Unmarshal(b, &rules); err != nil {
		t.Fatal(err)
	}
	refs := 0
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			if r.Alert == "" || r.Expr == "" {
				t.Errorf("a rule without alert name or expression: %+v", r)
			}
			refs += check(t, "alert "+r.Alert, r.Expr, known)
		}
	}
	if refs < 6 {
		t.Fatalf("the rules name only %d metrics", refs)
	}
}
