package topics

import (
	"fmt"
	"hash"
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
	// A write to a partition whose leader died waits for the new leader:
	// KRaft fences a broker that stopped heartbeating after
	// broker.session.timeout.ms (9 s by default), then elects another from
	// the in-sync replicas. The retries span about 27 s, backing off from
	// 100 ms to 1 s, so a broker's death delays a write and never fails it.
	cfg.Producer.Retry.Max = ProducerRetries
	cfg.Producer.Retry.BackoffFunc = ProducerBackoff
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

// ProducerRetries is how often an ofs producer retries a write; with
// ProducerBackoff the retries span about 27 s.
const ProducerRetries = 30

// ProducerBackoff is the wait before the retry-th retry of a write: 100 ms,
// doubling up to 1 s.
func ProducerBackoff(retries, _ int) time.Duration {
	if retries > 3 {
		return time.Second
	}
	return 100 * time.Millisecond << max(retries, 0)
}

// TopicManager returns goka's topic manager builder for ofs: topics are
// created by Ensure, never by goka, so goka only checks that they exist.
// Its replication (goka's default is 2) is the broker's default, as
// Layout's: goka never creates a topic (NoCreate), and if it did, it would
// not make one with a replication the cluster cannot hold.
func TopicManager(cfg *sarama.Config) goka.TopicManagerBuilder {
	tmc := goka.NewTopicManagerConfig()
	tmc.NoCreate = true
	tmc.MismatchBehavior = goka.TMConfigMismatchBehaviorIgnore
	tmc.Table.Replication = -1
	tmc.Stream.Replication = -1
	return goka.TopicManagerBuilderWithConfig(cfg, tmc)
}

// ProducerBuilder returns goka's producer builder for ofs: a producer of a
// copy of cfg, so it keeps ofs's acknowledgement by all in-sync replicas,
// idempotence, retries, flush and murmur2 partitioner. goka's own
// ProducerBuilderWithConfig writes the client id and a partitioner of
// goka's hasher (FNV-1a) into the config it is given, which the processor's
// consumers share. The hasher is not used: the topics a goka processor of
// ofs emits to (dead letters, invalidations, registry outcomes and table)
// have one partition, and a topic of several is keyed as Kafka's Java
// client keys it.
func ProducerBuilder(cfg *sarama.Config) goka.ProducerBuilder {
	return func(brokers []string, clientID string, _ func() hash.Hash32) (goka.Producer, error) {
		c := *cfg
		c.ClientID = clientID
		return goka.NewProducer(brokers, &c)
	}
}

// CheckProducer reports whether cfg is a producer configuration that loses
// no acknowledged write and writes none twice on a retry: acks from every
// in-sync replica, idempotence, one request in flight per broker, retries.
// Every ofs producer is built from SaramaConfig, which passes.
func CheckProducer(cfg *sarama.Config) error {
	switch {
	case cfg.Producer.RequiredAcks != sarama.WaitForAll:
		return fmt.Errorf("%w: acks %d, want all (-1)", ErrProducerConfig, cfg.Producer.RequiredAcks)
	case !cfg.Producer.Idempotent:
		return fmt.Errorf("%w: not idempotent", ErrProducerConfig)
	case cfg.Net.MaxOpenRequests != 1:
		return fmt.Errorf("%w: %d requests in flight, want 1", ErrProducerConfig, cfg.Net.MaxOpenRequests)
	case cfg.Producer.Retry.Max < 1:
		return fmt.Errorf("%w: no retries", ErrProducerConfig)
	}
	return nil
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
