package pagetest

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestMatch checks the reading of an output the page tests rely on: a wrong
// output must fail them.
func TestMatch(t *testing.T) {
	out := "ofs dev is up\nsku      found  price\nsku-1    true   19.99\nsku-2    true   5.5\n"
	for _, tc := range []struct {
		want []string
		miss string
	}{
		{want: []string{"sku found price", "...", "sku-2 true 5.5"}},
		{want: []string{"ofs dev is ... up"}},
		{want: []string{"sku-2 true 5.5", "sku-1 true 19.99"}, miss: "sku-1 true 19.99"}, // order counts
		{want: []string{"sku-1 true 19.98"}, miss: "sku-1 true 19.98"},
		{want: []string{"sku-1 ... 5.5"}, miss: "sku-1 ... 5.5"}, // within one line
	} {
		if got := Match(tc.want, out); got != tc.miss {
			t.Errorf("Match(%q) = %q, want %q", tc.want, got, tc.miss)
		}
	}
}

func TestParse(t *testing.T) {
	page := "text\n\n```sh\necho a \\\n  b\n```\n\n```text\na b\n```\n\nprose\n\n```text\nnot an output\n```\n```sh\ntrue\n```\n"
	steps, err := Parse([]byte(page))
	if err != nil {
		t.Fatal(err)
	}
	if len(steps) != 2 || steps[0].Cmd != "echo a \\\n  b" || len(steps[0].Want) != 1 || steps[0].Want[0] != "a b" ||
		steps[1].Cmd != "true" || steps[1].Want != nil {
		t.Errorf("Parse = %+v", steps)
	}
	if _, err := Parse([]byte("```sh\nnever closed\n")); !errors.Is(err, ErrUnclosed) {
		t.Errorf("an unclosed block gives %v, want ErrUnclosed", err)
	}
}

func TestStartsBackground(t *testing.T) {
	for cmd, want := range map[string]bool{
		"ofs serve &":               true,
		"ofs serve & # the server":  true,
		"a && b":                    false,
		"a >/dev/null 2>&1":         false,
		"a &>/dev/null":             false,
		"echo 'x' | kcat -P -K'|'":  false,
		"a &\nb":                    true,
		"until a; do sleep 1; done": false,
	} {
		if got := startsBackground(cmd); got != want {
			t.Errorf("startsBackground(%q) = %v, want %v", cmd, got, want)
		}
	}
}

// TestRunnerCarriesExportsAndStopsBackground runs three steps: the first
// exports a variable and leaves a process running, the second sees the
// variable, and when the test ends the process is stopped.
func TestRunnerCarriesExportsAndStopsBackground(t *testing.T) {
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "pid")
	t.Run("steps", func(t *testing.T) {
		r := NewRunner(t, dir)
		r.Rewrite = strings.NewReplacer("PORT", "1234")
		r.Run(1, Step{Cmd: "export GREETING=hello-PORT\nsleep 300 &\necho $! > pid"})
		r.Run(2, Step{Cmd: `echo "$GREETING from $PWD"`, Want: []string{"hello-1234 from " + dir}})
	})
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	proc := "/proc/" + strings.TrimSpace(string(b))
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := os.Stat(proc); errors.Is(err, os.ErrNotExist) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the background process %s still runs after its test ended", proc)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
