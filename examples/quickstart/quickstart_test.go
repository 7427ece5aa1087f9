package quickstart_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ofstack/ofs/internal/pagetest"
	"github.com/ofstack/ofs/internal/testenv"
)

// devCmd is the page's first command.
const devCmd = "go run ./cmd/ofs dev"

// TestQuickstart runs every command of README.md in order, as a newcomer
// would, and checks that what each prints contains the output the page
// shows (internal/pagetest says how a page is read). The first step,
// `go run ./cmd/ofs dev`, keeps running in the background while the others
// run, and stops on SIGINT at the end, as with Ctrl-C.
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
	steps, err := pagetest.Parse(page)
	if err != nil {
		t.Fatal(err)
	}
	if len(steps) < 9 || steps[0].Cmd != devCmd {
		t.Fatalf("the page has %d steps, and the first is %q: want `%s` first", len(steps), steps[0].Cmd, devCmd)
	}

	kafka, grpcAddr, metrics := testenv.FreeAddr(t, 0), testenv.FreeAddr(t, 0), testenv.FreeAddr(t, 0)
	etcd := testenv.FreeAddr(t, 1) // its peer port is the next one
	run := pagetest.NewRunner(t, root)
	run.Rewrite = strings.NewReplacer(
		"127.0.0.1:9092", kafka,
		"127.0.0.1:7070", grpcAddr,
		"127.0.0.1:2379", etcd,
		"127.0.0.1:9464", metrics,
		".venv", filepath.Join(root, ".dev", "quickstart", "venv"),
	)

	dev := pagetest.Start(t, root, steps[0].Cmd+" "+strings.Join([]string{
		"--kafka-addr", kafka, "--etcd-addr", etcd, "--grpc-addr", grpcAddr, "--metrics-addr", metrics,
		"--console-addr", testenv.FreeAddr(t, 0)}, " "))
	if err := dev.WaitFor("Press Ctrl-C to stop.", 5*time.Minute); err != nil {
		t.Fatal(err)
	}
	if miss := pagetest.Match(steps[0].Want, dev.Output()); miss != "" {
		t.Fatalf("step 1 (%s) does not print %q:\n%s", steps[0].Cmd, miss, dev.Output())
	}

	for i, s := range steps[1:] {
		run.Run(i+2, s)
	}

	if err := dev.StopGoRun(time.Minute, "ofs: "); err != nil {
		t.Fatalf("ofs dev did not stop cleanly on Ctrl-C: %v\n%s", err, dev.Output())
	}
}
