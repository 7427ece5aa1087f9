package main

import (
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/ofstack/ofs/internal/testenv"
)

// reqPerSecond finds the req/s of the Retrieve row of `ofs bench retrieve`.
var reqPerSecond = regexp.MustCompile(`(?m)^\s*ofs Retrieve \(([a-z-]+), store\)\s+1\s+(\d+)\s`)

// TestBenchRetrieveStores runs `ofs bench retrieve --mode store` for a
// second against each store of the dev services, in a key prefix or
// keyspace of the test's own: the seeded keys are found (the bench fails
// otherwise) and the report has a req/s for the store.
func TestBenchRetrieveStores(t *testing.T) {
	for _, tc := range []struct {
		store string
		args  func(t *testing.T, name string) []string
	}{
		{benchRedis, func(t *testing.T, name string) []string {
			return []string{"--redis", testenv.Redis(t), "--key-prefix", name + ":"}
		}},
		{benchRedisCluster, func(t *testing.T, name string) []string {
			return []string{"--redis-cluster", strings.Join(testenv.RedisCluster(t), ","), "--key-prefix", name + ":"}
		}},
		{benchScylla, func(t *testing.T, name string) []string {
			hosts := testenv.Cassandra(t)
			t.Cleanup(func() { dropKeyspace(t, hosts, name) })
			return []string{"--cassandra", strings.Join(hosts, ","), "--keyspace", name}
		}},
	} {
		t.Run(tc.store, func(t *testing.T) {
			args := append([]string{"bench", "retrieve", "--store", tc.store, "--mode", "store", "--keys", "300",
				"--duration", "1s", "--warmup", "200ms", "--concurrency", "4", "--conns", "1"}, tc.args(t, testenv.Name(t))...)
			out, err := run(t, []string{"OFS_CASSANDRA_USER=" + testenv.CassandraUser, "OFS_CASSANDRA_PASSWORD=" + testenv.CassandraPassword}, args...)
			if err != nil {
				t.Fatalf("ofs %s: %v\n%s", strings.Join(args, " "), err, out)
			}
			m := reqPerSecond.FindStringSubmatch(out)
			if m == nil || m[1] != tc.store {
				t.Fatalf("no req/s line for %s in:\n%s", tc.store, out)
			}
			if n, _ := strconv.Atoi(m[2]); n <= 0 {
				t.Fatalf("req/s %s, want > 0:\n%s", m[2], out)
			}
		})
	}
}

// TestBenchRetrieveUnknownStore: a store the bench does not know is a
// usage error, before anything starts.
func TestBenchRetrieveUnknownStore(t *testing.T) {
	out, err := run(t, nil, "bench", "retrieve", "--store", "memcached")
	if err == nil || !strings.Contains(out, `--store "memcached"`) {
		t.Fatalf("err %v, output:\n%s", err, out)
	}
}
