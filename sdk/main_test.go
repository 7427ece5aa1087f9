package sdk_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/ofstack/ofs/internal/testenv"
)

// The installation that TestMain runs for the tests and the examples: the
// ofs binary's registry and ingest processors and a feature server, on the
// dev Kafka, etcd and Redis, under a prefix of this run's own, with
// examples/registry.yaml applied.
var (
	serverAddr string   // the feature and registry services
	brokers    []string // Kafka
	prefix     string   // the installation's topic prefix
)

func TestMain(m *testing.M) {
	flag.Parse()
	if testing.Short() {
		skipIntegration("not run with -short")
		os.Exit(m.Run())
	}
	stop, err := setup()
	if err != nil {
		if errors.Is(err, errMissing) && !testenv.Required() {
			skipIntegration(err.Error())
			os.Exit(m.Run())
		}
		// Where services are required (CI) their absence fails the run.
		fmt.Fprintf(os.Stderr, "sdk: setup: %v\n", err)
		os.Exit(1)
	}
	code := m.Run()
	if err := stop(); err != nil {
		fmt.Fprintf(os.Stderr, "sdk: teardown: %v\n", err)
		code = max(code, 1)
	}
	os.Exit(code)
}

// skipReason says why the integration tests and examples are not run; empty
// when they are.
var skipReason string

// skipIntegration runs the unit tests alone: the examples are skipped by
// the -skip flag (an example cannot skip itself), the integration tests by
// needServices.
func skipIntegration(reason string) {
	skipReason = reason
	fmt.Printf("sdk: integration tests and examples not run: %s\n", reason)
	pattern := "^Example"
	if prev := flag.Lookup("test.skip").Value.String(); prev != "" {
		pattern += "|" + prev
	}
	if err := flag.Set("test.skip", pattern); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

// needServices skips a test that needs the installation TestMain starts
// when it was not started (only possible where services are not required).
func needServices(t *testing.T) {
	t.Helper()
	if skipReason != "" {
		t.Skip(skipReason)
	}
}

var errMissing = errors.New("a service is missing; start the services with `go tool task services:up`")

// service returns the addresses of a dev service, checking that the first
// answers.
func service(key string) ([]string, error) {
	v := testenv.Lookup(key)
	if v == "" {
		return nil, fmt.Errorf("%w: %s is not configured", errMissing, key)
	}
	addrs := strings.Split(v, ",")
	conn, err := net.DialTimeout("tcp", addrs[0], 3*time.Second)
	if err != nil {
		return nil, fmt.Errorf("%w: %s at %s: %w", errMissing, key, addrs[0], err)
	}
	return addrs, conn.Close()
}

func setup() (stop func() error, err error) {
	if brokers, err = service(testenv.KafkaKey); err != nil {
		return nil, err
	}
	etcd, err := service(testenv.EtcdKey)
	if err != nil {
		return nil, err
	}
	redisAddrs, err := service(testenv.RedisKey)
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "ofs-sdk")
	if err != nil {
		return nil, err
	}
	var stops []func() error
	stop = func() error {
		var errs []error
		for i := len(stops) - 1; i >= 0; i-- {
			errs = append(errs, stops[i]())
		}
		return errors.Join(errs...)
	}
	fail := func(err error) (func() error, error) { return nil, errors.Join(err, stop()) }
	stops = append(stops, func() error { return os.RemoveAll(dir) })

	binary := filepath.Join(dir, "ofs")
	root := testenv.RepoRoot()
	build := exec.Command("go", "build", "-o", binary, "./cmd/ofs")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		return fail(fmt.Errorf("go build: %w\n%s", err, out))
	}

	var b [4]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms
	prefix = "t_sdk_" + hex.EncodeToString(b[:])
	config := filepath.Join(dir, "ofs.yaml")
	if err := os.WriteFile(config, fmt.Appendf(nil, "kafka:\n  feature_partitions: 2\nstores:\n  default:\n    redis:\n      addrs: [%q]\n      key_prefix: %q\n",
		redisAddrs[0], prefix+":"), 0o600); err != nil {
		return fail(err)
	}
	stops = append(stops, func() error { return dropKeys(redisAddrs[0], prefix+":") })
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fail(err)
	}
	serverAddr = l.Addr().String()
	if err := l.Close(); err != nil {
		return fail(err)
	}
	env := append(os.Environ(),
		"OFS_CONFIG="+config,
		"OFS_KAFKA_BROKERS="+strings.Join(brokers, ","),
		"OFS_ETCD_ENDPOINTS="+strings.Join(etcd, ","),
		"OFS_PREFIX="+prefix,
		"OFS_GRPC_ADDR="+serverAddr,
		"OFS_LOG_LEVEL=warn",
		"OFS_METRICS_ADDR=none",
	)
	for _, args := range [][]string{{"process", "registry", "ingest"}, {"serve"}} {
		s, err := startProcess(binary, env, args...)
		if err != nil {
			return fail(err)
		}
		stops = append(stops, s)
	}
	if err := waitServing(serverAddr); err != nil {
		return fail(err)
	}
	apply := exec.Command(binary, "apply", "-f", filepath.Join(root, "examples", "registry.yaml"))
	apply.Env = env
	if out, err := apply.CombinedOutput(); err != nil {
		return fail(fmt.Errorf("ofs apply: %w\n%s", err, out))
	}
	return stop, nil
}

// startProcess runs the binary in the background; the function it returns
// stops it with SIGTERM and reports an unclean exit.
func startProcess(binary string, env []string, args ...string) (func() error, error) {
	cmd := exec.Command(binary, args...)
	cmd.Env = env
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	return func() error {
		if err := cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
			return err
		}
		select {
		case err := <-done:
			if err != nil {
				return fmt.Errorf("ofs %s: %w\n%s", strings.Join(args, " "), err, out.String())
			}
			return nil
		case <-time.After(30 * time.Second):
			killErr := cmd.Process.Kill()
			return errors.Join(fmt.Errorf("ofs %s did not stop within 30s of SIGTERM\n%s", strings.Join(args, " "), out.String()), killErr)
		}
	}, nil
}

func waitServing(addr string) error {
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return err
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for {
		resp, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
		if err == nil && resp.GetStatus() == healthpb.HealthCheckResponse_SERVING {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("server at %s not SERVING within 2 minutes: %w", addr, err)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func dropKeys(addr, keyPrefix string) error {
	rc := redis.NewClient(&redis.Options{Addr: addr})
	defer rc.Close()
	ctx := context.Background()
	keys, err := rc.Keys(ctx, keyPrefix+"*").Result()
	if err == nil && len(keys) > 0 {
		err = rc.Del(ctx, keys...).Err()
	}
	return err
}
