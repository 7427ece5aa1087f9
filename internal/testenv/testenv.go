// Package testenv gives tests the addresses of the real services that
// deploy/dev starts (Kafka, Redis, Cassandra, etcd).
//
// An address comes from the environment variable of the service (for
// example OFS_KAFKA_BROKERS) or else from the services file that
// `go tool task services:up` writes (.dev/services.env at the repository
// root). When the service is absent or unreachable, the test is skipped on a
// developer's machine, and fails when CI=true or OFS_REQUIRE_SERVICES=1
// (`go tool task test` sets the latter): there a missing service is a broken
// setup, never a reason to pass. With -short every such test is skipped.
package testenv

import (
	"bufio"
	"crypto/rand"
	"encoding/hex"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/ofstack/ofs/topics"
)

// The environment keys, as written by deploy/dev/*.sh.
const (
	KafkaKey = "OFS_KAFKA_BROKERS"
	RedisKey = "OFS_REDIS_ADDR"
	// RedisClusterKey holds the seeds of a Redis Cluster of three masters
	// (deploy/dev/redis-cluster.sh).
	RedisClusterKey = "OFS_REDIS_CLUSTER_ADDRS"
	CassandraKey    = "OFS_CASSANDRA_HOSTS"
	EtcdKey         = "OFS_ETCD_ENDPOINTS"
)

// Kafka returns the bootstrap brokers of the dev Kafka cluster.
// A test that used it has the topics under its names (Name) deleted when it
// ends, unless it failed: the dev broker does not grow with every run.
func Kafka(tb testing.TB) []string {
	tb.Helper()
	brokers := list(tb, KafkaKey, "kafka")
	usedKafka.Store(tb, brokers)
	return brokers
}

// The PLAIN user of the dev Kafka's SASL_SSL listener (deploy/dev/kafka.sh).
const (
	KafkaPlainUser     = "ofs-plain"
	KafkaPlainPassword = "ofs-plain-secret"
)

// KafkaSASLSSL returns the bootstrap brokers of the dev Kafka's SASL_SSL
// listener and the file of the CA that signed its certificate.
func KafkaSASLSSL(tb testing.TB) (brokers []string, caFile string) {
	tb.Helper()
	brokers = list(tb, "OFS_KAFKA_SASL_SSL_BROKERS", "kafka (SASL_SSL listener)")
	caFile = Lookup("OFS_KAFKA_CA")
	if _, err := os.Stat(caFile); err != nil {
		missing(tb, "the dev Kafka's CA (OFS_KAFKA_CA=%q): %v", caFile, err)
	}
	return brokers, caFile
}

// KafkaScramUser creates a user of the test's own on the dev Kafka, for both
// SCRAM mechanisms (through the plain-text listener's admin), and returns
// its name and password.
func KafkaScramUser(tb testing.TB) (user, password string) {
	tb.Helper()
	admin, err := topics.NewAdmin(Kafka(tb), topics.Security{})
	if err != nil {
		tb.Fatal(err)
	}
	defer admin.Close()
	user, password, salt := "t-"+randomHex(tb, 8), randomHex(tb, 16), []byte(randomHex(tb, 16))
	// One mechanism per request: Kafka refuses two changes of one user at once.
	for _, mech := range []sarama.ScramMechanismType{sarama.SCRAM_MECHANISM_SHA_256, sarama.SCRAM_MECHANISM_SHA_512} {
		res, err := admin.UpsertUserScramCredentials([]sarama.AlterUserScramCredentialsUpsert{
			{Name: user, Mechanism: mech, Iterations: 8192, Salt: salt, Password: []byte(password)}})
		if err != nil {
			tb.Fatalf("create SCRAM user: %v", err)
		}
		if r := res[0]; r.ErrorCode != sarama.ErrNoError {
			tb.Fatalf("create SCRAM user %s (%v): %v", r.User, mech, r.ErrorCode)
		}
	}
	return user, password
}

func randomHex(tb testing.TB, n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		tb.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// Redis returns the address of the dev Redis server.
func Redis(tb testing.TB) string { return list(tb, RedisKey, "redis")[0] }

// RedisCluster returns the seed addresses of the dev Redis Cluster, three
// masters on loopback.
func RedisCluster(tb testing.TB) []string { return list(tb, RedisClusterKey, "redis-cluster") }

// Cassandra returns the CQL contact points of the dev Cassandra node. It
// wants a password: CassandraUser and CassandraPassword.
func Cassandra(tb testing.TB) []string { return list(tb, CassandraKey, "cassandra") }

// The default superuser of the dev Cassandra (deploy/dev/cassandra.sh).
const (
	CassandraUser     = "cassandra"
	CassandraPassword = "cassandra"
)

// CassandraCA returns the file of the CA that signed the dev Cassandra's
// certificate (the node takes TLS and plain text on one port).
func CassandraCA(tb testing.TB) string {
	tb.Helper()
	ca := Lookup("OFS_CASSANDRA_CA")
	if _, err := os.Stat(ca); err != nil {
		missing(tb, "the dev Cassandra's CA (OFS_CASSANDRA_CA=%q): %v", ca, err)
	}
	return ca
}

// Etcd returns the client endpoints of the dev etcd server.
func Etcd(tb testing.TB) []string { return list(tb, EtcdKey, "etcd") }

// Required reports whether a missing service fails the test instead of
// skipping it.
func Required() bool {
	return os.Getenv("CI") == "true" || os.Getenv("OFS_REQUIRE_SERVICES") == "1"
}

func list(tb testing.TB, key, service string) []string {
	tb.Helper()
	if testing.Short() {
		tb.Skipf("needs %s: an integration test, not run with -short", service)
	}
	v := Lookup(key)
	if v == "" {
		missing(tb, "%s is not configured: %s is unset and no %s entry in %s", service, key, key, servicesFile())
		return nil
	}
	addrs := strings.Split(v, ",")
	for i := range addrs {
		addrs[i] = strings.TrimSpace(addrs[i])
	}
	conn, err := net.DialTimeout("tcp", addrs[0], 3*time.Second)
	if err != nil {
		missing(tb, "%s at %s (from %s) is not reachable: %v", service, addrs[0], key, err)
		return nil
	}
	_ = conn.Close() // a probe connection; nothing was written
	return addrs
}

func missing(tb testing.TB, format string, args ...any) {
	tb.Helper()
	format += "; start the services with `go tool task services:up`"
	if Required() {
		tb.Fatalf(format, args...)
	}
	tb.Skipf(format, args...)
}

// Lookup returns the value of key from the environment, else from the
// services file, else "".
func Lookup(key string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return fileValues()[key]
}

var (
	fileOnce sync.Once
	fileVals map[string]string
)

func fileValues() map[string]string {
	fileOnce.Do(func() {
		fileVals = map[string]string{}
		f, err := os.Open(servicesFile())
		if err != nil {
			return
		}
		defer f.Close()
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			k, v, ok := strings.Cut(strings.TrimSpace(sc.Text()), "=")
			if ok && !strings.HasPrefix(k, "#") {
				fileVals[k] = v
			}
		}
	})
	return fileVals
}

// servicesFile is OFS_DEV_DIR/services.env, or .dev/services.env in the
// nearest ancestor of the working directory that holds go.mod.
func servicesFile() string {
	if d := os.Getenv("OFS_DEV_DIR"); d != "" {
		return filepath.Join(d, "services.env")
	}
	return filepath.Join(RepoRoot(), ".dev", "services.env")
}

// RepoRoot is the nearest ancestor of the working directory with a go.mod
// that declares the ofs module, or "." if there is none.
func RepoRoot() string {
	dir, err := os.Getwd()
	if err != nil {
		return "."
	}
	for {
		if b, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil &&
			strings.HasPrefix(string(b), "module github.com/ofstack/ofs\n") {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "."
		}
		dir = parent
	}
}

var unsafeChars = regexp.MustCompile(`[^a-z0-9]+`)

// Name returns a name unique to this test run, made of lower-case letters,
// digits and '_', that starts with a letter: usable as a topic prefix, a
// Redis key prefix, a CQL keyspace or an etcd prefix.
func Name(tb testing.TB) string {
	tb.Helper()
	base := strings.Trim(unsafeChars.ReplaceAllString(strings.ToLower(tb.Name()), "_"), "_")
	if len(base) > 30 {
		base = base[:30]
	}
	var b [4]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms
	name := "t_" + base + "_" + hex.EncodeToString(b[:])
	// Registered now, before whatever the test builds under the name, so
	// it runs after that is closed.
	tb.Cleanup(func() { deleteTopics(tb, name) })
	return name
}

// Tool returns the path of a command-line tool that deploy/dev installs
// (kcat, redis-server). A missing tool skips the test on a developer's
// machine and fails it where services are required.
func Tool(tb testing.TB, name string) string {
	tb.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		missing(tb, "%s is not installed: %v", name, err)
		return ""
	}
	return path
}

// Topics creates the topics of an installation of the test's own (under
// Name) on the dev Kafka, with featurePartitions partitions of the features
// topic, and returns their names and the brokers.
func Topics(tb testing.TB, featurePartitions int32) (topics.Names, []string) {
	tb.Helper()
	brokers := Kafka(tb)
	names, err := topics.For(Name(tb))
	if err != nil {
		tb.Fatal(err)
	}
	admin, err := topics.NewAdmin(brokers, topics.Security{})
	if err != nil {
		tb.Fatal(err)
	}
	defer admin.Close()
	if err := topics.Ensure(admin, names.Specs(topics.Layout{FeaturePartitions: featurePartitions})); err != nil {
		tb.Fatal(err)
	}
	return names, brokers
}
