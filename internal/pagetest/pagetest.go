// Package pagetest runs the commands of a Markdown page, as a reader would,
// and checks that each prints what the page shows. The quickstart's test
// and the README's test use it, so that every command the documentation
// gives is one that works.
//
// A page is read as a list of steps: each ```sh block is one step, run by
// bash (set -euo pipefail) from a given folder; a ```text block right after
// it (only blank lines between) is the output it must print. Each line of
// that block, with runs of blanks collapsed, must be found in the output,
// in order, each within one line; "..." stands for anything (a whole line
// of it for any lines).
//
// Steps share their shell's exported variables, as the commands of one
// terminal do: what a step exports, the next step sees. Processes a step
// starts in the background (cmd &) keep running until the test ends, and
// are then stopped (SIGTERM, then SIGKILL), with every process of the step:
// a background job of a shell script ignores SIGINT.
package pagetest

import (
	"bufio"
	"bytes"
	"context"
	"errors"
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

// Step is one command block of a page and the output it must show.
type Step struct {
	Cmd  string
	Want []string
}

// ErrUnclosed is returned by Parse for a fenced block without its end.
var ErrUnclosed = errors.New("pagetest: a fenced block is not closed")

// Parse reads the ```sh blocks of a Markdown page and the ```text block that
// follows each one directly (only blank lines between).
func Parse(page []byte) ([]Step, error) {
	var steps []Step
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
			return nil, fmt.Errorf("%w: ```%s", ErrUnclosed, fence)
		}
		switch fence {
		case "sh":
			steps = append(steps, Step{Cmd: strings.TrimSpace(strings.Join(body, "\n"))})
			lastWasSh = true
			continue
		case "text":
			if lastWasSh {
				steps[len(steps)-1].Want = body
			}
		}
		lastWasSh = false
	}
	return steps, sc.Err()
}

// Match returns the first line of want not found in out (see the package
// comment for the rules), or "" when every line is.
func Match(want []string, out string) string {
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

// Runner runs the steps of one page in order.
type Runner struct {
	// Dir is where every step runs (the repository root, for the pages of
	// this repository).
	Dir string
	// Rewrite, if set, is applied to every command before it runs: the
	// tests replace the page's default addresses with free ports.
	Rewrite *strings.Replacer
	// Env is added to the environment of every step.
	Env []string
	// Retry is how long a step that fails or prints something else is tried
	// again, as a reader would after a moment (events are ingested
	// asynchronously). A step that starts background processes is never
	// retried: they would be started twice.
	Retry time.Duration

	t     *testing.T
	state string // the exported variables, carried from step to step
}

// NewRunner returns a runner for t's page whose steps run in dir. Every
// process the steps leave running is stopped when t ends.
func NewRunner(t *testing.T, dir string) *Runner {
	state := filepath.Join(t.TempDir(), "exports.sh")
	if err := os.WriteFile(state, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	return &Runner{Dir: dir, Retry: time.Minute, t: t, state: state}
}

// Run runs step n (counted from 1, for messages) and fails the test when
// it fails or does not print what the page shows.
func (r *Runner) Run(n int, s Step) {
	t := r.t
	t.Helper()
	cmd := s.Cmd
	if r.Rewrite != nil {
		cmd = r.Rewrite.Replace(cmd)
	}
	t.Logf("step %d: %s", n, cmd)
	background := startsBackground(cmd)
	deadline := time.Now().Add(r.Retry)
	for {
		out, err := r.run(cmd)
		miss := ""
		if err == nil {
			if miss = Match(s.Want, out); miss == "" {
				return
			}
		}
		if background || time.Now().After(deadline) {
			if err != nil {
				t.Fatalf("step %d failed: %v\n%s\n--- output:\n%s", n, err, cmd, out)
			}
			t.Fatalf("step %d does not print %q:\n%s\n--- output:\n%s", n, miss, cmd, out)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// startsBackground reports whether a command line sends a process to the
// background (a lone & that is not part of && or a redirection).
func startsBackground(cmd string) bool {
	for i := 0; i < len(cmd); i++ {
		if cmd[i] != '&' {
			continue
		}
		if i+1 < len(cmd) && (cmd[i+1] == '&' || cmd[i+1] == '>') {
			i++
			continue
		}
		if i > 0 && (cmd[i-1] == '>' || cmd[i-1] == '<') {
			continue
		}
		return true
	}
	return false
}

// run runs one command in a process group of its own, with the exported
// variables of the steps before it, and saves what it exports. The output
// goes to a file, not a pipe, so that a background process keeping it open
// does not hold the step.
func (r *Runner) run(cmd string) (string, error) {
	t := r.t
	outFile, err := os.CreateTemp(t.TempDir(), "step-*.out")
	if err != nil {
		t.Fatal(err)
	}
	defer outFile.Close()
	// Read-only variables (SHELLOPTS, say) cannot be declared again.
	script := fmt.Sprintf("source %[1]q\n%[2]s\nexport -p | grep -Ev '^declare -[a-zA-Z]*r' > %[1]q.next && mv %[1]q.next %[1]q\n", r.state, cmd)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	c := exec.CommandContext(ctx, "bash", "-euo", "pipefail", "-c", script)
	c.Dir = r.Dir
	c.Env = append(os.Environ(), r.Env...)
	c.Stdout, c.Stderr = outFile, outFile
	c.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	pgid := c.Process.Pid
	t.Cleanup(func() { stopGroup(pgid, 30*time.Second) })
	err = c.Wait()
	b, rerr := os.ReadFile(outFile.Name())
	if rerr != nil {
		t.Fatal(rerr)
	}
	return string(b), err
}

// stopGroup sends SIGTERM to a process group (its background jobs ignore
// SIGINT), and SIGKILL to what is left of it after within.
func stopGroup(pgid int, within time.Duration) {
	if syscall.Kill(-pgid, syscall.SIGTERM) != nil {
		return // nothing left
	}
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		if syscall.Kill(-pgid, 0) != nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	_ = syscall.Kill(-pgid, syscall.SIGKILL) // best effort: the group may be gone
}

// Process is a step that keeps running while the others run (ofs dev), in
// a process group of its own so that SIGINT reaches every process of it, as
// Ctrl-C in a terminal does.
type Process struct {
	cmd  *exec.Cmd
	name string
	out  *testenv.Buffer
	done chan error
}

// Start starts cmd with bash in dir. Its group is killed when t ends.
func Start(t *testing.T, dir, cmd string) *Process {
	t.Helper()
	p := &Process{name: cmd, out: &testenv.Buffer{}, done: make(chan error, 1)}
	p.cmd = exec.Command("bash", "-c", cmd)
	p.cmd.Dir = dir
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.done <- p.cmd.Wait() }()
	t.Cleanup(func() {
		// After a failure, make sure nothing of the group is left behind.
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL) // the group may be gone already
		if t.Failed() {
			t.Logf("output of %s:\n%s", cmd, p.out.String())
		}
	})
	return p
}

// Output is what the process printed so far.
func (p *Process) Output() string { return p.out.String() }

// WaitFor waits until the process prints s.
func (p *Process) WaitFor(s string, within time.Duration) error {
	deadline := time.Now().Add(within)
	for !strings.Contains(p.out.String(), s) {
		select {
		case err := <-p.done:
			p.done <- err
			return fmt.Errorf("`%s` exited: %w\n%s", p.name, err, p.out.String())
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("`%s` did not print %q within %s:\n%s", p.name, s, within, p.out.String())
		}
	}
	return nil
}

// Stop sends SIGINT to the process group and waits for the process to end.
func (p *Process) Stop(within time.Duration) error {
	if err := syscall.Kill(-p.cmd.Process.Pid, syscall.SIGINT); err != nil {
		return err
	}
	select {
	case err := <-p.done:
		return err
	case <-time.After(within):
		return fmt.Errorf("still running %s after SIGINT", within)
	}
}

// StopGoRun stops a process started with go run, as Stop does. go run
// exits with status 1 when it is interrupted, whatever its program did, so
// that status counts as a clean stop unless the program printed an error: a
// line that starts with errPrefix ("ofs: ").
func (p *Process) StopGoRun(within time.Duration, errPrefix string) error {
	err := p.Stop(within)
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 {
		return err
	}
	for _, l := range strings.Split(p.out.String(), "\n") {
		if strings.HasPrefix(l, errPrefix) {
			return fmt.Errorf("%w: %s", err, l)
		}
	}
	return nil
}
