package devbin

import (
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestBuildOnceThenReuse builds a small program twice: the second build
// leaves the first file as it was (no link), and what it built runs.
func TestBuildOnceThenReuse(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go build (-short)")
	}
	p := Build(t, "devbin-test-gen", nil, "./internal/devbin/testdata/hello")
	first, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(10 * time.Millisecond)
	if q := Build(t, "devbin-test-gen", nil, "./internal/devbin/testdata/hello"); q != p {
		t.Fatalf("the same program at %s, then %s", p, q)
	}
	second, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	if !os.SameFile(first, second) {
		t.Errorf("the second build replaced the file")
	}
	out, err := exec.Command(p).Output()
	if err != nil || strings.TrimSpace(string(out)) != "hello" {
		t.Fatalf("the program prints %q, %v", out, err)
	}
	if _, err := Path("devbin-test-bad", nil, "./no/such/package"); !errors.Is(err, ErrBuild) {
		t.Errorf("a bad package gives %v, want ErrBuild", err)
	}
}
