package topics

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/IBM/sarama"
	"github.com/lovoo/goka"
)

// SaramaConfig is the Kafka client configuration every ofs component starts
// from: ofs's protocol version, acknowledgement by all in-sync replicas,
// idempotent retries, and consumers that begin at the oldest offset (a new
// group processes the whole log: that is how replay works).
func SaramaConfig(clientID string) *sarama.Config {
	cfg := goka.DefaultConfig()
	cfg.ClientID = clientID
	cfg.Version = KafkaVersion
	cfg.Consumer.Offsets.Initial = sarama.OffsetOldest
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	cfg.Producer.Idempotent = true
	cfg.Net.MaxOpenRequests = 1 // required by the idempotent producer
	cfg.Producer.Retry.Max = 10
	cfg.Producer.Retry.Backoff = 250 * time.Millisecond
	cfg.Producer.Compression = sarama.CompressionZSTD
	// Keys go where Kafka's Java client, Spark's Kafka sink and librdkafka
	// with partitioner=murmur2_random put them (murmur2), not where sarama's
	// default FNV-1a hash would: one key, one partition, whoever produced it.
	cfg.Producer.Partitioner = sarama.NewMurmur2Partitioner
	// goka's defaults hold a message up to 100 ms to fill a batch: a
	// synchronous write (Persist, a registry command) would wait that long.
	// Without flush triggers sarama sends at once, and batches still form
	// from what queues while a request is in flight.
	cfg.Producer.Flush.Frequency = 0
	cfg.Producer.Flush.Bytes = 0
	// sarama batches the messages of one partition up to this many bytes
	// (before compression): a batch must fit the topic's max.message.bytes.
	// The registry processor raises it to MaxRegistryBytes for its table.
	cfg.Producer.MaxMessageBytes = MaxMessageBytes
	cfg.Metadata.AllowAutoTopicCreation = false
	return cfg
}

// TopicManager returns goka's topic manager builder for ofs: topics are
// created by Ensure, never by goka, so goka only checks that they exist.
func TopicManager(cfg *sarama.Config) goka.TopicManagerBuilder {
	tmc := goka.NewTopicManagerConfig()
	tmc.NoCreate = true
	tmc.MismatchBehavior = goka.TMConfigMismatchBehaviorIgnore
	tmc.Table.Replication = 1 // only consulted on creation, which ofs does itself
	tmc.Stream.Replication = 1
	return goka.TopicManagerBuilderWithConfig(cfg, tmc)
}

// GokaLogger adapts l to goka's logger. goka reports partition assignments
// and recoveries, which is debugging detail for ofs, so it logs at Debug.
func GokaLogger(l *slog.Logger) goka.Logger { return gokaLogger{l} }

type gokaLogger struct{ l *slog.Logger }

func (g gokaLogger) Print(v ...any)   { g.l.Debug(fmt.Sprint(v...), "source", "goka") }
func (g gokaLogger) Println(v ...any) { g.l.Debug(fmt.Sprint(v...), "source", "goka") }
func (g gokaLogger) Printf(format string, v ...any) {
	g.l.Debug(fmt.Sprintf(format, v...), "source", "goka")
}

// OutputConfig returns a copy of cfg for a producer of dead letters and
// invalidations: a dead letter is a whole event (up to MaxMessageBytes)
// plus the headers that say why, so such a producer takes messages and
// batches of up to MaxMessageBytes + 1 MiB, which the dead-letter and
// invalidations topics (2 x MaxMessageBytes) accept.
func OutputConfig(cfg *sarama.Config) *sarama.Config {
	c := *cfg
	c.Producer.MaxMessageBytes = MaxMessageBytes + 1<<20
	return &c
}
