package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ofstack/ofs/internal/testenv"
	"github.com/ofstack/ofs/sdk"
	"github.com/ofstack/ofs/views"
)

// TestServeScylla runs ofs on a Cassandra store (ScyllaDB's stand-in), in a
// keyspace of the test's own: an event published goes through ingest into
// the store and is served by `ofs serve` through its L1 and L2, which never
// ran EnsureTables itself; a Persist is stored and served too.
func TestServeScylla(t *testing.T) {
	hosts := testenv.Cassandra(t)
	prefix := testenv.Name(t)
	t.Cleanup(func() { dropKeyspace(t, hosts, prefix) })
	serveOn(t, prefix, "scylla", scyllaConnection(hosts, prefix))
}

// TestServeRedisCluster is TestServeScylla on the dev Redis Cluster of
// three masters.
func TestServeRedisCluster(t *testing.T) {
	addrs := testenv.RedisCluster(t)
	prefix := testenv.Name(t)
	serveOn(t, prefix, "redis", clusterConnection(addrs, prefix+":"))
}

// scyllaConnection is the YAML of a connection to the dev Cassandra in
// keyspace (startOn sets OFS_TEST_SCYLLA_PASSWORD).
func scyllaConnection(hosts []string, keyspace string) string {
	return `
    scylla:
      hosts: ["` + strings.Join(hosts, `","`) + `"]
      keyspace: ` + keyspace + `
      username: ` + testenv.CassandraUser + `
      password_env: OFS_TEST_SCYLLA_PASSWORD
      consistency: ONE
      timeout: 30s
`
}

// clusterConnection is the YAML of a connection to the Redis Cluster at
// addrs under keyPrefix.
func clusterConnection(addrs []string, keyPrefix string) string {
	return `
    redis:
      addrs: ["` + strings.Join(addrs, `","`) + `"]
      key_prefix: "` + keyPrefix + `"
`
}

// serveOn runs registry, ingest and serve with the example registry's store
// of the given kind on the connection store (YAML under stores.default).
func serveOn(t *testing.T, prefix, kind, store string) {
	env, addr := startOn(t, prefix, kind, store)

	publishAndServe(t, env, 41)

	c, err := sdk.Dial(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := c.Persist(ctx, "user_activity", []sdk.Row{{Keys: map[string]any{"user_id": 42},
		Values: map[string]any{"clicks_1h": uint32(42)}}}); err != nil {
		t.Fatalf("Persist: %v", err)
	}
	out, err := run(t, env, "get", "--entity", "user", "--group", "user_activity", "--json", "42")
	if err != nil || !strings.Contains(out, `"clicks_1h":42`) {
		t.Fatalf("get after Persist: %v\n%s", err, out)
	}
	// Read again: the L1 answers now, with the same row.
	if out2, err := run(t, env, "get", "--entity", "user", "--group", "user_activity", "--json", "42"); err != nil || out2 != out {
		t.Fatalf("second get: %v\n%s, want\n%s", err, out2, out)
	}
}

// startOn runs `ofs process registry ingest` and `ofs serve` with the
// example registry's store of the given kind on the connection store (YAML
// under stores.default), applies that registry, and returns the environment
// of ofs commands for the installation and the server's address.
func startOn(t *testing.T, prefix, kind, store string) (env []string, addr string) {
	t.Helper()
	brokers := testenv.Kafka(t)
	etcd := testenv.Etcd(t)
	addr = testenv.FreeAddr(t, 0)
	dir := t.TempDir()
	config := filepath.Join(dir, "ofs.yaml")
	if err := os.WriteFile(config, []byte(`
kafka:
  feature_partitions: 2
cache:
  memory_bytes: 1048576
  disk_dir: `+filepath.Join(dir, "l2")+`
  disk_bytes: 67108864
stores:
  default:`+store), 0o600); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join("..", "..", "examples", "registry.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	reg := strings.Replace(string(b), "kind: redis ", "kind: "+kind+" ", 1)
	if !strings.Contains(reg, "kind: "+kind+" ") {
		t.Fatalf("examples/registry.yaml has no redis store to turn into a %s one", kind)
	}
	regFile := filepath.Join(dir, "registry.yaml")
	if err := os.WriteFile(regFile, []byte(reg), 0o600); err != nil {
		t.Fatal(err)
	}
	env = []string{
		"OFS_CONFIG=" + config,
		"OFS_KAFKA_BROKERS=" + strings.Join(brokers, ","),
		"OFS_ETCD_ENDPOINTS=" + strings.Join(etcd, ","),
		"OFS_TEST_SCYLLA_PASSWORD=" + testenv.CassandraPassword,
		"OFS_PREFIX=" + prefix,
		"OFS_GRPC_ADDR=" + addr,
		"OFS_LOG_LEVEL=warn",
		"OFS_METRICS_ADDR=127.0.0.1:0",
	}
	start(t, env, "process", "registry", "ingest")
	start(t, env, "serve")
	waitServing(t, addr)
	if out, err := run(t, env, "apply", "-f", regFile); err != nil {
		t.Fatalf("apply: %v\n%s", err, out)
	}
	return env, addr
}

// dropKeyspace drops a test's keyspace from the shared Cassandra.
func dropKeyspace(t *testing.T, hosts []string, ks string) {
	s, err := views.OpenScylla(hosts, views.ScyllaKeyspace(ks), views.ScyllaTimeout(30*time.Second),
		views.ScyllaAuth(testenv.CassandraUser, testenv.CassandraPassword))
	if err != nil {
		t.Errorf("drop keyspace %s: %v", ks, err)
		return
	}
	defer s.Close()
	if err := s.DropKeyspace(context.Background()); err != nil {
		t.Errorf("drop keyspace %s: %v", ks, err)
	}
}
