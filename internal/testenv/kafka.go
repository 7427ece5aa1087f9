package testenv

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/ofstack/ofs/topics"
)

// Broker is a Kafka node of a test's own (KRaft, broker and controller in
// one small JVM, on free loopback ports, its data in a temporary
// directory), for the tests that stop Kafka: the shared dev broker must
// never be stopped. It runs from the jars that deploy/dev/kafka.sh
// installed (OFS_DEV_DIR/kafka/lib). It is alone (PrivateKafka) or one
// node of a Cluster (PrivateKafkaCluster).
type Broker struct {
	tb      testing.TB
	Addr    string // the plain-text listener, host:port
	conf    string
	logFile string
	xmx     string // the JVM's heap bound
	size    int    // how many brokers its cluster has, it included
	cmd     *exec.Cmd
}

// clusterID is the private brokers' cluster id (16 bytes, base64url).
const clusterID = "b2ZzLXRlc3Qta2Fma2EwMQ"

// PrivateKafka formats and starts a broker of the test's own, and stops it
// when the test ends. Starting a JVM takes some seconds on a busy machine.
func PrivateKafka(tb testing.TB) *Broker {
	tb.Helper()
	nodes := privateNodes(tb, 1, "384m")
	if nodes == nil {
		return nil
	}
	return nodes[0]
}

// Cluster is a Kafka cluster of a test's own: n KRaft nodes, each a broker
// and a controller in one JVM, whose topics default to a replication of 3
// (or n, if fewer) and a min.insync.replicas of one less.
type Cluster struct {
	tb    testing.TB
	Nodes []*Broker
}

// PrivateKafkaCluster formats and starts n nodes of a cluster of the
// test's own, and kills them when the test ends.
func PrivateKafkaCluster(tb testing.TB, n int) *Cluster {
	tb.Helper()
	nodes := privateNodes(tb, n, "320m")
	if nodes == nil {
		return nil
	}
	return &Cluster{tb: tb, Nodes: nodes}
}

// Brokers is the bootstrap list of the cluster: every node.
func (c *Cluster) Brokers() []string {
	addrs := make([]string, len(c.Nodes))
	for i, b := range c.Nodes {
		addrs[i] = b.Addr
	}
	return addrs
}

// Stop kills node i (SIGKILL); the others go on.
func (c *Cluster) Stop(i int) { c.tb.Helper(); c.Nodes[i].Stop() }

// Start brings node i back with its data, and waits until the cluster
// counts it again.
func (c *Cluster) Start(i int) { c.tb.Helper(); c.Nodes[i].Start() }

// Ensure creates the topics of names on the cluster, with its default
// replication.
func (c *Cluster) Ensure(names topics.Names, featurePartitions int32) {
	c.tb.Helper()
	ensure(c.tb, c.Brokers(), names, featurePartitions)
}

// privateNodes formats n nodes of one cluster, starts them all (a quorum
// of controllers elects only when most of them run) and waits until each
// answers; nil when the test was skipped.
func privateNodes(tb testing.TB, n int, xmx string) []*Broker {
	tb.Helper()
	if testing.Short() {
		tb.Skip("needs a private Kafka broker: an integration test, not run with -short")
	}
	lib := filepath.Join(devDir(), "kafka", "lib")
	if m, _ := filepath.Glob(filepath.Join(lib, "kafka_*.jar")); len(m) == 0 {
		missing(tb, "no Kafka jars in %s (deploy/dev/kafka.sh up installs them)", lib)
		return nil
	}
	if _, err := exec.LookPath("java"); err != nil {
		missing(tb, "java is not installed: %v", err)
		return nil
	}
	ports, ctrls := make([]int, n), make([]int, n)
	voters := make([]string, n)
	for i := range n {
		ports[i], ctrls[i] = FreePort(tb), FreePort(tb)
		voters[i] = fmt.Sprintf("%d@127.0.0.1:%d", i+1, ctrls[i])
	}
	replication := min(n, 3)
	minISR := max(replication-1, 1)
	nodes := make([]*Broker, n)
	for i := range n {
		dir := tb.TempDir()
		b := &Broker{tb: tb, Addr: fmt.Sprintf("127.0.0.1:%d", ports[i]), conf: filepath.Join(dir, "server.properties"),
			logFile: filepath.Join(dir, "kafka.log"), xmx: xmx, size: n}
		props := fmt.Sprintf(`process.roles=broker,controller
node.id=%[4]d
controller.quorum.voters=%[5]s
listeners=PLAINTEXT://127.0.0.1:%[1]d,CONTROLLER://127.0.0.1:%[2]d
advertised.listeners=PLAINTEXT://127.0.0.1:%[1]d
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs=%[3]s
num.partitions=1
auto.create.topics.enable=false
default.replication.factor=%[6]d
min.insync.replicas=%[7]d
offsets.topic.replication.factor=%[6]d
offsets.topic.num.partitions=3
transaction.state.log.replication.factor=%[6]d
transaction.state.log.min.isr=%[7]d
share.coordinator.state.topic.replication.factor=%[6]d
share.coordinator.state.topic.min.isr=%[7]d
group.initial.rebalance.delay.ms=0
`, ports[i], ctrls[i], filepath.Join(dir, "data"), i+1, strings.Join(voters, ","), replication, minISR)
		if err := os.WriteFile(b.conf, []byte(props), 0o600); err != nil {
			tb.Fatal(err)
		}
		format := exec.Command("java", append(b.jvm(lib, "64m", "256m"), "kafka.tools.StorageTool", "format",
			"--cluster-id", clusterID, "--config", b.conf)...)
		if out, err := format.CombinedOutput(); err != nil {
			tb.Fatalf("format the private Kafka's storage: %v\n%s", err, out)
		}
		tb.Cleanup(b.kill)
		nodes[i] = b
	}
	for _, b := range nodes {
		b.launch()
	}
	for _, b := range nodes {
		b.wait()
	}
	return nodes
}

func (b *Broker) jvm(lib, xms, xmx string) []string {
	return []string{"-Xms" + xms, "-Xmx" + xmx, "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
		"-Djava.awt.headless=true", "-Dlog4j2.level=warn", "-cp", filepath.Join(lib, "*")}
}

// Brokers is the bootstrap list of the broker.
func (b *Broker) Brokers() []string { return []string{b.Addr} }

// Start starts the broker (again, on the same ports and data) and waits
// until it answers a metadata request that counts every broker of its
// cluster.
func (b *Broker) Start() {
	b.tb.Helper()
	b.launch()
	b.wait()
}

// launch starts the broker's JVM without waiting for it.
func (b *Broker) launch() {
	b.tb.Helper()
	if b.cmd != nil {
		b.tb.Fatal("testenv: the private broker is running already")
	}
	lib := filepath.Join(devDir(), "kafka", "lib")
	logf, err := os.OpenFile(b.logFile, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		b.tb.Fatal(err)
	}
	defer logf.Close()
	cmd := exec.Command("java", append(b.jvm(lib, "128m", b.xmx), "kafka.Kafka", b.conf)...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		b.tb.Fatalf("start the private Kafka: %v", err)
	}
	b.cmd = cmd
}

// wait returns once the broker answers.
func (b *Broker) wait() {
	b.tb.Helper()
	deadline := time.Now().Add(3 * time.Minute)
	for {
		if b.answers() {
			return
		}
		if time.Now().After(deadline) {
			b.tb.Fatalf("the private Kafka at %s did not answer within 3 minutes; log %s", b.Addr, b.logFile)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

func (b *Broker) answers() bool {
	conn, err := net.DialTimeout("tcp", b.Addr, time.Second)
	if err != nil {
		return false
	}
	_ = conn.Close() // a probe
	cfg := sarama.NewConfig()
	cfg.Version = topics.KafkaVersion
	cfg.Net.DialTimeout = 2 * time.Second
	admin, err := sarama.NewClusterAdmin(b.Brokers(), cfg)
	if err != nil {
		return false
	}
	defer admin.Close()
	brokers, _, err := admin.DescribeCluster()
	return err == nil && len(brokers) == b.size
}

// Stop kills the broker (SIGKILL: an outage, not a shutdown) and waits for
// its process to end. Start brings it back with everything it had written.
func (b *Broker) Stop() {
	b.tb.Helper()
	if b.cmd == nil {
		b.tb.Fatal("testenv: the private broker is not running")
	}
	b.kill()
}

func (b *Broker) kill() {
	if b.cmd == nil {
		return
	}
	_ = b.cmd.Process.Signal(syscall.SIGKILL) // the test's own JVM
	_ = b.cmd.Wait()                          // it was killed: its exit status says so
	b.cmd = nil
}

// Log returns the broker's log file.
func (b *Broker) Log() string { return b.logFile }

// devDir is OFS_DEV_DIR, or the repository's .dev.
func devDir() string {
	if d := os.Getenv("OFS_DEV_DIR"); d != "" {
		return d
	}
	return filepath.Join(RepoRoot(), ".dev")
}

// Ensure creates the topics of names on the broker.
func (b *Broker) Ensure(names topics.Names, featurePartitions int32) {
	b.tb.Helper()
	ensure(b.tb, b.Brokers(), names, featurePartitions)
}

func ensure(tb testing.TB, brokers []string, names topics.Names, featurePartitions int32) {
	tb.Helper()
	admin, err := topics.NewAdmin(brokers, topics.Security{})
	if err != nil {
		tb.Fatal(err)
	}
	defer admin.Close()
	if err := topics.Ensure(admin, names.Specs(topics.Layout{FeaturePartitions: featurePartitions})); err != nil {
		tb.Fatal(err)
	}
}
