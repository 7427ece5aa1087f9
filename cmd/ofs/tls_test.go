package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"google.golang.org/grpc/credentials"

	"github.com/ofstack/ofs/internal/etcdserver"
	"github.com/ofstack/ofs/internal/testenv"
	"github.com/ofstack/ofs/internal/tlsconf"
)

// TestServeMutualTLSAndTokens runs `ofs serve` with mutual TLS and tokens,
// and the CLI against it: only a client with a certificate of the CA and
// the right token gets in, and the writer token is needed to apply.
func TestServeMutualTLSAndTokens(t *testing.T) {
	brokers := testenv.Kafka(t)
	etcd := testenv.Etcd(t)
	certs := testenv.NewCerts(t)
	addr := testenv.FreeAddr(t, 0)
	config := filepath.Join(t.TempDir(), "ofs.yaml")
	if err := os.WriteFile(config, []byte(`
grpc:
  tls:
    cert_file: `+certs.ServerCert+`
    key_file: `+certs.ServerKey+`
    ca_file: `+certs.CA+`
auth:
  reader_tokens: [r-secret]
  writer_tokens: [w-secret]
`), 0o600); err != nil {
		t.Fatal(err)
	}
	env := []string{
		"OFS_CONFIG=" + config,
		"OFS_KAFKA_BROKERS=" + strings.Join(brokers, ","),
		"OFS_ETCD_ENDPOINTS=" + strings.Join(etcd, ","),
		"OFS_PREFIX=" + testenv.Name(t),
		"OFS_GRPC_ADDR=" + addr,
		"OFS_LOG_LEVEL=warn",
		"OFS_METRICS_ADDR=127.0.0.1:0",
	}
	start(t, env, "process", "registry")
	start(t, env, "serve")
	waitServingTLS(t, addr, tlsconf.Files{CAFile: certs.CA, CertFile: certs.ClientCert, KeyFile: certs.ClientKey})

	example := filepath.Join("..", "..", "examples", "registry.yaml")
	mtls := []string{"--tls-ca", certs.CA, "--tls-cert", certs.ClientCert, "--tls-key", certs.ClientKey}
	for _, tc := range []struct {
		name string
		args []string
		want string // in the output; "" for success
	}{
		{"plain text", []string{"registry", "list", "--token", "r-secret"}, "Unavailable"},
		{"no client certificate", []string{"registry", "list", "--token", "r-secret", "--tls-ca", certs.CA}, "Unavailable"},
		{"no token", append([]string{"apply", "-f", example}, mtls...), "Unauthenticated"},
		{"a reader's token", append([]string{"apply", "-f", example, "--token", "r-secret"}, mtls...), "PermissionDenied"},
		{"a writer's token", append([]string{"apply", "-f", example, "--token", "w-secret"}, mtls...), ""},
	} {
		out, err := run(t, env, tc.args...)
		switch {
		case tc.want == "" && err != nil:
			t.Fatalf("%s: %v\n%s", tc.name, err, out)
		case tc.want == "" && !strings.Contains(out, "Applied:"):
			t.Fatalf("%s: nothing applied:\n%s", tc.name, out)
		case tc.want != "" && (err == nil || !strings.Contains(out, tc.want)):
			t.Fatalf("%s: %v, want a failure with %q:\n%s", tc.name, err, tc.want, out)
		}
	}

	// The token also comes from the environment; the server's name may be
	// given when the address does not carry it.
	out, err := run(t, append(env, "OFS_TOKEN=r-secret"),
		append([]string{"registry", "list", "--tls-server-name", "localhost"}, mtls...)...)
	if err != nil || !strings.Contains(out, "user_activity") {
		t.Fatalf("registry list over mutual TLS: %v\n%s", err, out)
	}
}

func waitServingTLS(t *testing.T, addr string, files tlsconf.Files) {
	t.Helper()
	cfg, err := tlsconf.Client(files, "")
	if err != nil {
		t.Fatal(err)
	}
	waitServingWith(t, addr, credentials.NewTLS(cfg))
}

// TestKafkaOverSASLSSL runs every Kafka client of ofs (the goka processors,
// the ingest lag collector, topic creation, the server's producer and
// consumers, `ofs publish`) against the dev Kafka's SASL_SSL listener only,
// as against a managed Kafka: with kafka.tls and kafka.sasl in the
// configuration and the credentials in the environment. An event published
// there is stored and served.
func TestKafkaOverSASLSSL(t *testing.T) {
	brokers, ca := testenv.KafkaSASLSSL(t)
	user, password := testenv.KafkaScramUser(t)
	redisAddr := testenv.Redis(t)
	prefix := testenv.Name(t)
	addr := testenv.FreeAddr(t, 0)
	config := filepath.Join(t.TempDir(), "ofs.yaml")
	if err := os.WriteFile(config, []byte(`
kafka:
  feature_partitions: 2
  tls:
    ca_file: `+ca+`
  sasl:
    mechanism: SCRAM-SHA-512
stores:
  default:
    redis:
      addrs: ["`+redisAddr+`"]
      key_prefix: "`+prefix+`:"
`), 0o600); err != nil {
		t.Fatal(err)
	}
	env := []string{
		"OFS_CONFIG=" + config,
		"OFS_KAFKA_BROKERS=" + strings.Join(brokers, ","),
		"OFS_KAFKA_SASL_USERNAME=" + user,
		"OFS_KAFKA_SASL_PASSWORD=" + password,
		"OFS_ETCD_ENDPOINTS=" + strings.Join(testenv.Etcd(t), ","),
		"OFS_PREFIX=" + prefix,
		"OFS_GRPC_ADDR=" + addr,
		"OFS_LOG_LEVEL=warn",
		"OFS_METRICS_ADDR=127.0.0.1:0",
	}
	start(t, env, "process", "registry", "ingest")
	start(t, env, "serve")
	waitServing(t, addr)
	applyExample(t, env)

	publishAndServe(t, env, 31)

	// A wrong password stops the processes at start, with the reason.
	bad := append(slices.Clone(env), "OFS_KAFKA_SASL_PASSWORD=wrong")
	out, err := run(t, bad, "topics", "ensure")
	if err == nil || !strings.Contains(strings.ToLower(out), "sasl") {
		t.Fatalf("topics ensure with a wrong password: %v\n%s", err, out)
	}
}

// TestEtcdAndRedisOverTLS runs ofs against an etcd that takes TLS and
// password authentication only, and a Redis that takes TLS and a password
// only: the registry is applied and mirrored, an event is stored and
// served. A wrong etcd password stops `ofs serve` with the reason.
func TestEtcdAndRedisOverTLS(t *testing.T) {
	brokers := testenv.Kafka(t)
	redisServer := testenv.Tool(t, "redis-server")
	certs := testenv.NewCerts(t)

	etcdAddr := testenv.FreeAddr(t, 0)
	srv, err := etcdserver.Start(etcdserver.Config{Dir: t.TempDir(), ClientAddr: etcdAddr, PeerAddr: testenv.FreeAddr(t, 0),
		CertFile: certs.ServerCert, KeyFile: certs.ServerKey, LogFile: filepath.Join(t.TempDir(), "etcd.log")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	enableEtcdAuth(t, etcdAddr, certs.CA, "root", "etcd-secret")

	redisAddr := testenv.FreeAddr(t, 0)
	_, redisPort, _ := net.SplitHostPort(redisAddr)
	redisCmd := exec.Command(redisServer, "--bind", "127.0.0.1", "--port", "0", "--tls-port", redisPort,
		"--tls-cert-file", certs.ServerCert, "--tls-key-file", certs.ServerKey, "--tls-ca-cert-file", certs.CA,
		"--tls-auth-clients", "no", "--requirepass", "redis-secret", "--save", "", "--dir", t.TempDir())
	if err := redisCmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = redisCmd.Process.Kill(); _ = redisCmd.Wait() })

	prefix := testenv.Name(t)
	addr := testenv.FreeAddr(t, 0)
	config := filepath.Join(t.TempDir(), "ofs.yaml")
	if err := os.WriteFile(config, []byte(`
kafka:
  feature_partitions: 2
etcd:
  tls:
    ca_file: `+certs.CA+`
stores:
  default:
    redis:
      addrs: ["`+redisAddr+`"]
      password_env: OFS_TEST_REDIS_PASSWORD
      key_prefix: "`+prefix+`:"
      tls:
        ca_file: `+certs.CA+`
`), 0o600); err != nil {
		t.Fatal(err)
	}
	env := []string{
		"OFS_CONFIG=" + config,
		"OFS_KAFKA_BROKERS=" + strings.Join(brokers, ","),
		"OFS_ETCD_ENDPOINTS=" + etcdAddr,
		"OFS_ETCD_USERNAME=root",
		"OFS_ETCD_PASSWORD=etcd-secret",
		"OFS_TEST_REDIS_PASSWORD=redis-secret",
		"OFS_PREFIX=" + prefix,
		"OFS_GRPC_ADDR=" + addr,
		"OFS_LOG_LEVEL=warn",
		"OFS_METRICS_ADDR=127.0.0.1:0",
	}
	start(t, env, "process", "registry", "ingest")
	start(t, env, "serve")
	waitServing(t, addr)
	applyExample(t, env)

	publishAndServe(t, env, 32)

	bad := append(slices.Clone(env), "OFS_ETCD_PASSWORD=wrong", "OFS_GRPC_ADDR="+testenv.FreeAddr(t, 0))
	out, err := run(t, bad, "serve")
	if err == nil || !strings.Contains(out, "authentication failed") {
		t.Fatalf("serve with a wrong etcd password: %v\n%s", err, out)
	}
}

// enableEtcdAuth adds the root user with password and turns authentication on.
func enableEtcdAuth(t *testing.T, endpoint, ca, user, password string) {
	t.Helper()
	tlsCfg, err := tlsconf.Client(tlsconf.Files{CAFile: ca}, "")
	if err != nil {
		t.Fatal(err)
	}
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{endpoint}, TLS: tlsCfg, DialTimeout: 5 * time.Second,
		Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := cli.UserAdd(ctx, user, password); err != nil {
		t.Fatal(err)
	}
	if _, err := cli.UserGrantRole(ctx, user, "root"); err != nil {
		t.Fatal(err)
	}
	if _, err := cli.AuthEnable(ctx); err != nil {
		t.Fatal(err)
	}
}

// publishAndServe publishes a user_activity event of user id with `ofs
// publish` and waits until `ofs get` serves it.
func publishAndServe(t *testing.T, env []string, id int) {
	t.Helper()
	events := fmt.Sprintf(`{"entity":"user","keys":{"user_id":%d},"feature_group":"user_activity","values":{"clicks_1h":%d}}`+"\n", id, id)
	if out, errOut, code := runSplit(t, env, events, "publish", "-"); code != 0 || !strings.Contains(out, "sent=1 failed=0") {
		t.Fatalf("publish: exit %d\n%s%s", code, out, errOut)
	}
	want := fmt.Sprintf(`"clicks_1h":%d`, id)
	deadline := time.Now().Add(time.Minute)
	for {
		out, err := run(t, env, "get", "--entity", "user", "--group", "user_activity", "--json", strconv.Itoa(id))
		if err == nil && strings.Contains(out, want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the published event is not served: %v\n%s", err, out)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
