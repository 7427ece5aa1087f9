package main

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

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
	addr := freeAddr(t)
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
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(credentials.NewTLS(cfg)))
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
			t.Fatalf("server at %s not SERVING over TLS within 2 minutes: %v", addr, err)
		case <-time.After(200 * time.Millisecond):
		}
	}
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
	addr := freeAddr(t)
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

	events := `{"entity":"user","keys":{"user_id":31},"feature_group":"user_activity","values":{"clicks_1h":31}}` + "\n"
	if out, errOut, code := runSplit(t, env, events, "publish", "-"); code != 0 || !strings.Contains(out, "sent=1 failed=0") {
		t.Fatalf("publish over SASL_SSL: exit %d\n%s%s", code, out, errOut)
	}
	deadline := time.Now().Add(time.Minute)
	for {
		out, err := run(t, env, "get", "--entity", "user", "--group", "user_activity", "--json", "31")
		if err == nil && strings.Contains(out, `"clicks_1h":31`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the event published over SASL_SSL is not served: %v\n%s", err, out)
		}
		time.Sleep(200 * time.Millisecond)
	}

	// A wrong password stops the processes at start, with the reason.
	bad := append(slices.Clone(env), "OFS_KAFKA_SASL_PASSWORD=wrong")
	out, err := run(t, bad, "topics", "ensure")
	if err == nil || !strings.Contains(strings.ToLower(out), "sasl") {
		t.Fatalf("topics ensure with a wrong password: %v\n%s", err, out)
	}
}
