package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/ofstack/ofs/internal/testenv"
)

// binary is the ofs binary built once for the tests that run it as a process.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "ofs-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "ofs")
	if out, err := exec.Command("go", "build", "-o", binary, ".").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "go build: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	_ = os.RemoveAll(dir) // a temporary directory; nothing to report
	os.Exit(code)
}

// start runs `ofs args...` in the background until the test ends, then
// stops it with SIGTERM and checks that it exited cleanly.
func start(t *testing.T, env []string, args ...string) {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Env = append(os.Environ(), env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM) // it may have exited already; Wait tells
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("ofs %s: %v\n%s", strings.Join(args, " "), err, out.String())
			}
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill() // it did not stop on SIGTERM: that is the failure reported
			t.Errorf("ofs %s did not stop within 30s of SIGTERM\n%s", strings.Join(args, " "), out.String())
		}
	})
}

func run(t *testing.T, env []string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func waitServing(t *testing.T, addr string) {
	t.Helper()
	waitServingWith(t, addr, insecure.NewCredentials())
}

// waitServingWith waits until the gRPC health service of addr, reached with
// creds, says SERVING.
func waitServingWith(t *testing.T, addr string, creds credentials.TransportCredentials) {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(creds))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for {
		resp, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
		if err == nil && resp.GetStatus() == healthpb.HealthCheckResponse_SERVING {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("server at %s not SERVING within 2 minutes: %v", addr, err)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func TestApplyExampleRegistry(t *testing.T) {
	brokers := testenv.Kafka(t)
	etcd := testenv.Etcd(t)
	addr := testenv.FreeAddr(t, 0)
	env := []string{
		"OFS_KAFKA_BROKERS=" + strings.Join(brokers, ","),
		"OFS_ETCD_ENDPOINTS=" + strings.Join(etcd, ","),
		"OFS_PREFIX=" + testenv.Name(t),
		"OFS_GRPC_ADDR=" + addr,
		"OFS_LOG_LEVEL=warn",
		"OFS_METRICS_ADDR=127.0.0.1:0",
	}
	start(t, env, "process", "registry")
	start(t, env, "serve")
	waitServing(t, addr)

	example := filepath.Join("..", "..", "examples", "registry.yaml")
	out, err := run(t, env, "apply", "-f", example, "--dry-run")
	if err != nil {
		t.Fatalf("apply --dry-run: %v\n%s", err, out)
	}
	for _, want := range []string{"+ store online", "+ entity user_item", "+ feature group user_profile (id 1, version 1, 5 features)", "Dry run: nothing was applied"} {
		if !strings.Contains(out, want) {
			t.Errorf("dry run output lacks %q:\n%s", want, out)
		}
	}

	out, err = run(t, env, "apply", "-f", example)
	if err != nil || !strings.Contains(out, "Applied:") || !strings.Contains(out, "+ feature group user_item_affinity") {
		t.Fatalf("apply: %v\n%s", err, out)
	}
	out, err = run(t, env, "apply", "-f", example)
	if err != nil || !strings.Contains(out, "Nothing to do") {
		t.Fatalf("second apply: %v\n%s, want nothing to do", err, out)
	}

	// A new feature makes version 2; a type change is refused by name and rule.
	changed := filepath.Join(t.TempDir(), "changed.yaml")
	b, err := os.ReadFile(example)
	if err != nil {
		t.Fatal(err)
	}
	s := strings.Replace(string(b), "- {name: ctr_1h, type: fp32, default: 0.01}",
		"- {name: ctr_1h, type: fp32, default: 0.01}\n      - {name: dwell_1h, type: fp32}", 1)
	if err := os.WriteFile(changed, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err = run(t, env, "apply", "-f", changed)
	if err != nil || !strings.Contains(out, "~ feature group user_activity (version 1 -> 2, + [dwell_1h])") {
		t.Fatalf("apply with a new feature: %v\n%s", err, out)
	}
	s = strings.Replace(s, "{name: clicks_1h, type: uint32}", "{name: clicks_1h, type: string}", 1)
	if err := os.WriteFile(changed, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err = run(t, env, "apply", "-f", changed)
	if err == nil || !strings.Contains(out, `feature "clicks_1h"`) || !strings.Contains(out, "feature-type-fixed") ||
		!strings.Contains(out, "nothing was applied") {
		t.Fatalf("apply with a type change: %v\n%s, want a refusal naming clicks_1h and the rule", err, out)
	}

	out, err = run(t, env, "registry", "list")
	if err != nil || !strings.Contains(out, "user_activity") || !strings.Contains(out, "user_id:int64,sku:string") {
		t.Fatalf("registry list: %v\n%s", err, out)
	}
	out, err = run(t, env, "registry", "get", "group", "user_activity")
	if err != nil || !strings.Contains(out, `"dwell_1h"`) || strings.Count(out, `"number"`) != 2 {
		t.Fatalf("registry get group: %v\n%s, want two versions with dwell_1h", err, out)
	}
}

func TestUsageErrorsExitWithTwo(t *testing.T) {
	for _, args := range [][]string{
		{"apply"},
		{"apply", "-f", "/nonexistent.yaml"},
		{"topics", "ensure", "--prefix", "a b"},
		{"process", "nonsense"},
	} {
		cmd := exec.Command(binary, args...)
		out, err := cmd.CombinedOutput()
		var ee *exec.ExitError
		if !errorsAs(err, &ee) || (ee.ExitCode() != 2 && args[0] != "process") || ee.ExitCode() == 0 {
			t.Errorf("ofs %v: %v (%s), want a usage error", args, err, out)
		}
	}
}

func errorsAs(err error, target **exec.ExitError) bool {
	ee, ok := err.(*exec.ExitError) //nolint:errorlint // exec returns *ExitError unwrapped
	if ok {
		*target = ee
	}
	return ok
}

// TestConfigCheck: `ofs config check` prints the configuration it loaded,
// with the secrets from the environment masked, and names every problem of
// a bad one with exit code 2.
func TestConfigCheck(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yaml")
	if err := os.WriteFile(good, []byte("kafka:\n  sasl: {mechanism: SCRAM-SHA-512, username: ofs}\nstores:\n  default:\n    redis: {addrs: [redis:6379], password: hunter2}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := run(t, []string{"OFS_CONFIG=" + good, "OFS_KAFKA_SASL_PASSWORD=s3cret", "OFS_WRITER_TOKENS=w1,w2"}, "config", "check")
	if err != nil {
		t.Fatalf("config check: %v\n%s", err, out)
	}
	for _, want := range []string{"mechanism: SCRAM-SHA-512", "password: '***'", "- '***'", "- redis:6379"} {
		if !strings.Contains(out, want) {
			t.Errorf("config check output lacks %q:\n%s", want, out)
		}
	}
	for _, secret := range []string{"s3cret", "hunter2", "w1"} {
		if strings.Contains(out, secret) {
			t.Errorf("config check prints the secret %q:\n%s", secret, out)
		}
	}

	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("kafka:\n  feature_partitions: 0\n  sasl: {mechanism: GSSAPI, username: u}\nlog: {format: xml}\ngrpc: {max_connection_age: -1s, addr: \"0.0.0.0:7070\"}\nmetrics: {pprof_addr: \":6060\"}\nlimits: {retrieve_max_request_bytes: 100000000}\nstores:\n  a: {redis: {addrs: [r:6379], password: x, password_env: P}}\n  b: {scylla: {hosts: [s:9042], password_env: OFS_TEST_UNSET_PASSWORD}}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err = run(t, nil, "config", "check", "-c", bad)
	var ee *exec.ExitError
	if !errorsAs(err, &ee) || ee.ExitCode() != 2 {
		t.Fatalf("config check of a bad file: %v, want exit code 2\n%s", err, out)
	}
	for _, want := range []string{"feature_partitions is 0", `mechanism "GSSAPI"`, `log.format is "xml"`, "max_connection_age is -1s",
		"stores.a.redis: password and password_env are both set", "stores.b.scylla.password_env: OFS_TEST_UNSET_PASSWORD is not set",
		`grpc.addr "0.0.0.0:7070" is not loopback, with neither tokens`, "or grpc.insecure: true",
		`metrics.pprof_addr ":6060" is not a loopback address`, "limits.retrieve_max_request_bytes (100000000) is more than"} {
		if !strings.Contains(out, want) {
			t.Errorf("config check of a bad file does not name %q:\n%s", want, out)
		}
	}
}

// TestReadyz: /readyz on the metrics address answers 503 until the
// process's components are ready, then 200, for the processors and the
// server alike (Kubernetes probes it; gRPC health needs plain text).
func TestReadyz(t *testing.T) {
	registryMetrics, serveMetrics, addr := testenv.FreeAddr(t, 0), testenv.FreeAddr(t, 0), testenv.FreeAddr(t, 0)
	env := []string{
		"OFS_KAFKA_BROKERS=" + strings.Join(testenv.Kafka(t), ","),
		"OFS_ETCD_ENDPOINTS=" + strings.Join(testenv.Etcd(t), ","),
		"OFS_PREFIX=" + testenv.Name(t),
		"OFS_GRPC_ADDR=" + addr,
		"OFS_LOG_LEVEL=warn",
	}
	pprofAddr := testenv.FreeAddr(t, 0)
	cfg := filepath.Join(t.TempDir(), "ofs.yaml")
	if err := os.WriteFile(cfg, []byte("metrics: {pprof_addr: \""+pprofAddr+"\"}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	start(t, append(env, "OFS_METRICS_ADDR="+registryMetrics, "OFS_CONFIG="+cfg), "process", "registry")
	start(t, append(env, "OFS_METRICS_ADDR="+serveMetrics), "serve")
	for _, m := range []string{registryMetrics, serveMetrics} {
		deadline := time.Now().Add(2 * time.Minute)
		for {
			code, body := httpGet(t, "http://"+m+"/readyz")
			if code == http.StatusOK && body == "ready\n" {
				break
			}
			if code != 0 && code != http.StatusServiceUnavailable {
				t.Fatalf("/readyz of %s: %d %q", m, code, body)
			}
			if time.Now().After(deadline) {
				t.Fatalf("/readyz of %s not ready within 2 minutes: %d %q", m, code, body)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	// pprof: off unless configured, and then on its own loopback listener.
	for url, want := range map[string]int{
		"http://" + serveMetrics + "/debug/pprof/":    http.StatusNotFound,
		"http://" + registryMetrics + "/debug/pprof/": http.StatusNotFound,
		"http://" + pprofAddr + "/debug/pprof/":       http.StatusOK,
	} {
		if code, _ := httpGet(t, url); code != want {
			t.Errorf("%s: %d, want %d", url, code, want)
		}
	}
}

// httpGet returns the status and body of url, 0 when it cannot be reached.
func httpGet(t *testing.T, url string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, ""
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}
