// Package devbin builds the programs that tests run (ofs itself, helm) into
// the repository's .dev/bin, where `go tool task dev` builds ofs too, so that a
// program is built once for the whole suite and not once per test.
//
// `go build -o` does not link again when the file there is up to date, so a
// later test, or a later run, only pays for Go's check that nothing
// changed. A lock per program keeps the test binaries of packages that run
// in parallel from writing the same file at once.
package devbin

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/ofstack/ofs/internal/testenv"
)

// ErrBuild is returned when go build fails.
var ErrBuild = errors.New("devbin: go build failed")

// Path builds a program into .dev/bin/name with `go build -o`, from the
// repository root, with env added to the environment and args given to go
// build (flags, then the package), and returns its path.
func Path(name string, env []string, args ...string) (string, error) {
	root, err := filepath.Abs(testenv.RepoRoot())
	if err != nil {
		return "", err
	}
	dir := filepath.Join(root, ".dev", "bin")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	lock, err := os.OpenFile(filepath.Join(dir, "."+name+".lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return "", err
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return "", fmt.Errorf("devbin: lock %s: %w", lock.Name(), err)
	}
	out := filepath.Join(dir, name)
	cmd := exec.Command("go", append([]string{"build", "-o", out}, args...)...)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), env...)
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("%w: %v: %w\n%s", ErrBuild, cmd.Args, err, b)
	}
	return out, nil
}

// Build is Path for a test, which fails when the build does.
func Build(tb testing.TB, name string, env []string, args ...string) string {
	tb.Helper()
	p, err := Path(name, env, args...)
	if err != nil {
		tb.Fatal(err)
	}
	return p
}

// Ofs is ofs as `go tool task dev` builds it: .dev/bin/ofs.
func Ofs(tb testing.TB) string { return Build(tb, "ofs", nil, "./cmd/ofs") }
