package examples_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ofstack/ofs/internal/pagetest"
	"github.com/ofstack/ofs/internal/testenv"
)

// TestReadme runs every command block of the repository's README.md in
// order, as TestQuickstart does for its page (internal/pagetest says how a
// page is read): first `go run ./cmd/ofs dev`, then, against the dev
// services, the processors and the server started in the background, the
// registry applied, events published and read back.
//
// What differs from a reader's run, so that the test never meets another
// one: every address of the page is a free port, the Kafka, etcd and Redis
// addresses are those of the dev services, and everything is named by a
// prefix of the test's own (OFS_PREFIX).
func TestReadme(t *testing.T) {
	if testing.Short() {
		t.Skip("the README starts ofs dev and processes against the dev services (-short)")
	}
	testenv.Tool(t, "curl")
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	page, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	steps, err := pagetest.Parse(page)
	if err != nil {
		t.Fatal(err)
	}
	const devCmd = "go run ./cmd/ofs dev"
	if len(steps) < 4 || !strings.HasPrefix(steps[0].Cmd, devCmd) {
		t.Fatalf("the page has %d steps, and the first is %q: want `%s` first", len(steps), steps[0].Cmd, devCmd)
	}

	// Step 1: the demo, on free ports, stopped as with Ctrl-C.
	kafka, grpcAddr, metrics := testenv.FreeAddr(t, 0), testenv.FreeAddr(t, 0), testenv.FreeAddr(t, 0)
	etcd := testenv.FreeAddr(t, 1) // its peer port is the next one
	dev := pagetest.Start(t, root, devCmd+" "+strings.Join([]string{
		"--kafka-addr", kafka, "--etcd-addr", etcd, "--grpc-addr", grpcAddr, "--metrics-addr", metrics,
		"--console-addr", testenv.FreeAddr(t, 0)}, " "))
	if err := dev.WaitFor("Press Ctrl-C to stop.", 15*time.Minute); err != nil {
		t.Fatal(err)
	}
	if miss := pagetest.Match(steps[0].Want, dev.Output()); miss != "" {
		t.Fatalf("step 1 (%s) does not print %q:\n%s", steps[0].Cmd, miss, dev.Output())
	}
	if err := dev.StopGoRun(time.Minute, "ofs: "); err != nil {
		t.Fatalf("ofs dev did not stop cleanly on Ctrl-C: %v\n%s", err, dev.Output())
	}

	// The other steps, against the dev services.
	config := filepath.Join(t.TempDir(), "ofs.yaml")
	b, err := os.ReadFile(filepath.Join(root, "examples", "ofs-dev-services.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(config, []byte(strings.ReplaceAll(string(b), "127.0.0.1:16379", testenv.Redis(t))), 0o600); err != nil {
		t.Fatal(err)
	}
	serveGRPC, serveMetrics := testenv.FreeAddr(t, 0), testenv.FreeAddr(t, 0)
	run := pagetest.NewRunner(t, root)
	run.Rewrite = strings.NewReplacer(
		"127.0.0.1:19092", strings.Join(testenv.Kafka(t), ","),
		"127.0.0.1:12379", strings.Join(testenv.Etcd(t), ","),
		"examples/ofs-dev-services.yaml", config,
		"127.0.0.1:7070", serveGRPC,
		"127.0.0.1:9464", serveMetrics,
		"127.0.0.1:9465", testenv.FreeAddr(t, 0),
		"127.0.0.1:9466", testenv.FreeAddr(t, 0),
	)
	// The server's own addresses, which the page leaves to their defaults.
	run.Env = []string{"OFS_PREFIX=" + testenv.Name(t), "OFS_GRPC_ADDR=" + serveGRPC, "OFS_METRICS_ADDR=" + serveMetrics}
	for i, s := range steps[1:] {
		run.Run(i+2, s)
	}
}
