package devmode

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// nextSteps is what `ofs dev` tells a newcomer to try once it is up.
type nextSteps struct {
	ofs                                 string // how to run this binary again
	brokers, etcd, grpc, metrics, topic string
	console                             string // the console's address, "" or "none" when off
}

// printNextSteps prints the lines to try next. Every command line it prints
// (four spaces in) runs as it is, from the folder ofs dev was started in:
// ofs's own commands first, and a tool that is not installed is named with
// the line that installs it rather than a command that would fail.
func printNextSteps(out io.Writer, n nextSteps) {
	event := `{"entity":"user","keys":{"user_id":7},"feature_group":"user_activity","values":{"clicks_1h":12}}`
	fmt.Fprintf(out, `
Next steps (from this folder, in a second terminal):
  Publish an event, as JSON lines (what a Spark job or kcat would send):
    echo '%[2]s' | %[1]s publish --brokers %[3]s --etcd %[4]s -
  Read it back, and the registry:
    %[1]s get --addr %[5]s --entity user --group user_activity 7
    %[1]s registry list --addr %[5]s
`, n.ofs, event, n.brokers, n.etcd, n.grpc)

	fmt.Fprintf(out, "  Kafka, in process (any Kafka client works): %s\n", n.brokers)
	if _, err := exec.LookPath("kcat"); err == nil {
		fmt.Fprintf(out, "    kcat -b %s -L\n", n.brokers)
		fmt.Fprintf(out, "    kcat -b %s -t %s -C -e -f '%%k %%s\\n'\n", n.brokers, n.topic)
	} else {
		fmt.Fprintln(out, "    (kcat is not installed: sudo apt-get install kcat on Debian or Ubuntu, brew install kcat on macOS)")
	}

	fmt.Fprintf(out, "  gRPC (FeatureService, RegistryService; reflection on): %s\n", n.grpc)
	retrieve := fmt.Sprintf(`-plaintext -d '{"entity":"user","key_values":["7"],"groups":[{"feature_group":"user_activity"}],"typed_values":true}' \
      %s ofs.feature.v1.FeatureService/Retrieve`, n.grpc)
	switch grpcurl := grpcurlCommand(); grpcurl {
	case "":
		fmt.Fprintf(out, "    (grpcurl is not installed: %s get above calls the same Retrieve)\n", n.ofs)
	default:
		if !strings.HasPrefix(grpcurl, "grpcurl") {
			fmt.Fprintln(out, "    (grpcurl is not installed; this line builds the one pinned in tools/go.mod, about 2 minutes the first time)")
		}
		fmt.Fprintf(out, "    %s %s\n", grpcurl, retrieve)
	}
	if n.console != "" && n.console != "none" {
		fmt.Fprintf(out, "  Console:  http://%s/  (discover, history, plan, freshness, look up)\n", n.console)
	}
	fmt.Fprintf(out, "  Metrics:  http://%s/metrics\n", n.metrics)
	fmt.Fprintf(out, "  etcd:     %s\n", n.etcd)
	fmt.Fprintf(out, "  A walkthrough of all of it: examples/quickstart/README.md\n\n")
}

// grpcurlCommand is how to run grpcurl from here: the installed one, else
// the one of tools/go.mod when this is the repository, else "".
func grpcurlCommand() string {
	if _, err := exec.LookPath("grpcurl"); err == nil {
		return "grpcurl"
	}
	if _, err := os.Stat(filepath.Join("tools", "go.mod")); err == nil {
		return "go tool -modfile=tools/go.mod grpcurl"
	}
	return ""
}

// selfCommand is how to run this binary again: "go run ./cmd/ofs" when go
// run started it (its executable lives in Go's build cache or a go-build
// temporary folder), "ofs" when that is this binary on the PATH, and the
// path it was started with otherwise.
func selfCommand() string {
	exe, err := os.Executable()
	if err != nil {
		return os.Args[0]
	}
	if startedByGoRun(exe, os.Getenv("GOCACHE")) {
		return "go run ./cmd/ofs"
	}
	if p, err := exec.LookPath("ofs"); err == nil {
		if a, b := stat(p), stat(exe); a != nil && b != nil && os.SameFile(a, b) {
			return "ofs"
		}
	}
	return os.Args[0]
}

func startedByGoRun(exe, gocache string) bool {
	if gocache != "" && strings.HasPrefix(exe, gocache+string(filepath.Separator)) {
		return true
	}
	return strings.Contains(filepath.ToSlash(exe), "/go-build")
}

func stat(path string) os.FileInfo {
	fi, err := os.Stat(path)
	if err != nil {
		return nil
	}
	return fi
}
