package quickstart_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ofstack/ofs/internal/testenv"
)

// TestQuickstart runs every command of README.md in order, as a newcomer
// would, and checks that what each prints contains the output the page shows.
//
// The page is read as a list of steps: each ```sh block is one step, run by
// bash from the repository root (set -euo pipefail); a ```text block right
// after it is the output it must print. Each line of that block, with runs
// of blanks collapsed, must be found in the output, in order, each within
// one line; "..." stands for anything (a whole line of it for any lines).
// The first step, `go tool task dev`, keeps running in the background while
// the others run, and stops on SIGINT at the end, as with Ctrl-C.
//
// Two things differ from a reader's run, so that the test never collides
// with a store a developer already runs: the default addresses on the page
// are replaced with free ports (the same replacement in every command), and
// the page's .venv is the test's own virtual environment under .dev.
func TestQuickstart(t *testing.T) {
	if testing.Short() {
		t.Skip("the quickstart starts ofs dev, Python and Spark (-short)")
	}
	for _, tool := range []string{"kcat", "python3", "java", "mvn"} {
		testenv.Tool(t, tool)
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	page, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	steps, err := parseSteps(page)
	if err != nil {
		t.Fatal(err)
	}
	if len(steps) < 9 || steps[0].cmd != "go tool task dev" {
		t.Fatalf("the page has %d steps, and the first is %q: want `go tool task dev` first", len(steps), steps[0].cmd)
	}

	kafka, grpcAddr, metrics := testenv.FreeAddr(t, 0), testenv.FreeAddr(t, 0), testenv.FreeAddr(t, 0)
	etcd := testenv.FreeAddr(t, 1) // its peer port is the next one
	rewrite := strings.NewReplacer(
		"127.0.0.1:9092", kafka,
		"127.0.0.1:7070", grpcAddr,
		"127.0.0.1:2379", etcd,
		"127.0.0.1:9464", metrics,
		".venv", filepath.Join(root, ".dev", "quickstart", "venv"),
	)

	dev := startDev(t, root, steps[0].cmd+" -- "+strings.Join([]string{
		"--kafka-addr", kafka, "--etcd-addr", etcd, "--grpc-addr", grpcAddr, "--metrics-addr", metrics}, " "))
	if err := dev.waitFor("Press Ctrl-C to stop.", 5*time.Minute); err != nil {
		t.Fatal(err)
	}
	if miss := match(steps[0].want, dev.out.String()); miss != "" {
		t.Fatalf("step 1 (%s) does not print %q:\n%s", steps[0].cmd, miss, dev.out.String())
	}

	for i, s := range steps[1:] {
		cmd := rewrite.Replace(s.cmd)
		t.Logf("step %d: %s", i+2, cmd)
		runStep(t, root, i+2, cmd, s.want)
	}

	if err := dev.stop(time.Minute); err != nil {
		t.Fatalf("ofs dev did not stop cleanly on Ctrl-C: %v\n%s", err, dev.out.String())
	}
}

// step is one command of the page and the output it must show.
type step struct {
	cmd  string
	want []string
}

// parseSteps reads the ```sh blocks of a Markdown page and the ```text block
// that follows each one directly (only blank lines between).
func parseSteps(page []byte) ([]step, error) {
	var steps []step
	sc := bufio.NewScanner(bytes.NewReader(page))
	lastWasSh := false
	for sc.Scan() {
		line := sc.Text()
		fence, ok := strings.CutPrefix(line, "```")
		if !ok {
			if strings.TrimSpace(line) != "" {
				lastWasSh = false
			}
			continue
		}
		var body []string
		closed := false
		for sc.Scan() {
			if sc.Text() == "```" {
				closed = true
				break
			}
			body = append(body, sc.Text())
		}
		if !closed {
			return nil, fmt.Errorf("a ```%s block is not closed", fence)
		}
		switch fence {
		case "sh":
			steps = append(steps, step{cmd: strings.TrimSpace(strings.Join(body, "\n"))})
			lastWasSh = true
			continue
		case "text":
			if lastWasSh {
				steps[len(steps)-1].want = body
			}
		}
		lastWasSh = false
	}
	return steps, sc.Err()
}

// match returns the first line of want not found in out (see TestQuickstart
// for the rules), or "" when every line is.
func match(want []string, out string) string {
	lines := strings.Split(out, "\n")
	at := 0
	for _, w := range want {
		w = collapse(w)
		if w == "" || w == "..." {
			continue
		}
		found := false
		for at < len(lines) {
			l := collapse(lines[at])
			at++
			if lineHas(l, strings.Split(w, "...")) {
				found = true
				break
			}
		}
		if !found {
			return w
		}
	}
	return ""
}

// lineHas reports whether the parts occur in line in order.
func lineHas(line string, parts []string) bool {
	for _, p := range parts {
		p = strings.TrimSpace(p)
		i := strings.Index(line, p)
		if i < 0 {
			return false
		}
		line = line[i+len(p):]
	}
	return true
}

func collapse(s string) string { return strings.Join(strings.Fields(s), " ") }

// runStep runs one command and checks its output. A step is tried again
// for a while when it fails or prints something else, as a reader would
// after a moment: events are ingested asynchronously, so a read may come a
// few milliseconds early.
func runStep(t *testing.T, root string, n int, cmd string, want []string) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
		c := exec.CommandContext(ctx, "bash", "-euo", "pipefail", "-c", cmd)
		c.Dir = root
		out, err := c.CombinedOutput()
		cancel()
		miss := ""
		if err == nil {
			if miss = match(want, string(out)); miss == "" {
				return
			}
		}
		if time.Now().After(deadline) {
			if err != nil {
				t.Fatalf("step %d failed: %v\n%s\n%s", n, err, cmd, out)
			}
			t.Fatalf("step %d does not print %q:\n%s\n--- output:\n%s", n, miss, cmd, out)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// devProcess is the first step, running in a process group of its own so
// that SIGINT reaches task and ofs as Ctrl-C in a terminal does.
type devProcess struct {
	cmd  *exec.Cmd
	out  *testenv.Buffer
	done chan error
}

func startDev(t *testing.T, root, cmd string) *devProcess {
	t.Helper()
	d := &devProcess{out: &testenv.Buffer{}, done: make(chan error, 1)}
	d.cmd = exec.Command("bash", "-c", cmd)
	d.cmd.Dir = root
	d.cmd.Stdout, d.cmd.Stderr = d.out, d.out
	d.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { d.done <- d.cmd.Wait() }()
	t.Cleanup(func() {
		// After a failure, make sure nothing of the group is left behind.
		_ = syscall.Kill(-d.cmd.Process.Pid, syscall.SIGKILL)
		if t.Failed() {
			t.Logf("ofs dev output:\n%s", d.out.String())
		}
	})
	return d
}

func (d *devProcess) waitFor(s string, within time.Duration) error {
	deadline := time.Now().Add(within)
	for !strings.Contains(d.out.String(), s) {
		select {
		case err := <-d.done:
			d.done <- err
			return fmt.Errorf("`go tool task dev` exited: %w\n%s", err, d.out.String())
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("`go tool task dev` did not print %q within %s:\n%s", s, within, d.out.String())
		}
	}
	return nil
}

func (d *devProcess) stop(within time.Duration) error {
	if err := syscall.Kill(-d.cmd.Process.Pid, syscall.SIGINT); err != nil {
		return err
	}
	select {
	case err := <-d.done:
		return err
	case <-time.After(within):
		return fmt.Errorf("still running %s after SIGINT", within)
	}
}

// TestPageRules checks the reading of the page that TestQuickstart relies on:
// a wrong output must fail it, and the steps must be what the page shows.
func TestPageRules(t *testing.T) {
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
		if got := match(tc.want, out); got != tc.miss {
			t.Errorf("match(%q) = %q, want %q", tc.want, got, tc.miss)
		}
	}

	page := "text\n\n```sh\necho a \\\n  b\n```\n\n```text\na b\n```\n\nprose\n\n```text\nnot an output\n```\n```sh\ntrue\n```\n"
	steps, err := parseSteps([]byte(page))
	if err != nil {
		t.Fatal(err)
	}
	if len(steps) != 2 || steps[0].cmd != "echo a \\\n  b" || len(steps[0].want) != 1 || steps[0].want[0] != "a b" ||
		steps[1].cmd != "true" || steps[1].want != nil {
		t.Errorf("parseSteps = %+v", steps)
	}
	if _, err := parseSteps([]byte("```sh\nnever closed\n")); err == nil {
		t.Error("an unclosed block is not an error")
	}
}
