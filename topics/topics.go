// Package topics declares every Kafka topic and consumer group of ofs, once,
// with its partitioning and configuration, and creates them on a cluster.
//
// All names derive from one prefix ("ofs" by default), so several ofs
// installations, or several tests, can share a cluster without meeting.
package topics

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"time"

	"github.com/lovoo/goka"
)

// ErrMismatch is returned when an existing topic's partition count differs
// from what ofs needs: keys would land on other partitions than expected.
var ErrMismatch = errors.New("topics: existing topic does not match its spec")

// ErrProducerConfig is returned by CheckProducer for a producer
// configuration that may lose or duplicate an acknowledged write.
var ErrProducerConfig = errors.New("topics: producer may lose or duplicate writes")

// DefaultPrefix is the prefix of every name unless configured otherwise.
const DefaultPrefix = "ofs"

var prefixSyntax = regexp.MustCompile(`^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$`)

// Names are the topics and groups of one ofs installation.
type Names struct {
	Prefix string

	// Registry carries registration commands. One partition: all changes to
	// the registry are totally ordered.
	Registry goka.Stream
	// RegistryResults carries the outcome of each command, keyed by request id.
	RegistryResults goka.Stream
	// Features carries feature events, keyed by entity, feature group and key
	// values, compacted so that the latest row of each key survives.
	Features goka.Stream
	// DeadLetters carries rejected events with the reason in headers.
	DeadLetters goka.Stream
	// Invalidations announces written keys so that servers drop cached blocks.
	Invalidations goka.Stream

	// RegistryGroup is the goka group of the registry processor.
	RegistryGroup goka.Group
	// RegistryTable is the RegistryGroup's table: the registry state under
	// one key, compacted.
	RegistryTable goka.Table
	// IngestGroup is the goka group of the ingest processor.
	IngestGroup goka.Group
}

// For returns the names under prefix ("" means DefaultPrefix).
func For(prefix string) (Names, error) {
	if prefix == "" {
		prefix = DefaultPrefix
	}
	if !prefixSyntax.MatchString(prefix) || len(prefix) > 100 {
		return Names{}, fmt.Errorf("topics: invalid prefix %q: use letters, digits, '_', '-' and inner dots, at most 100 characters", prefix)
	}
	return Names{
		Prefix:          prefix,
		Registry:        goka.Stream(prefix + ".registry"),
		RegistryResults: goka.Stream(prefix + ".registry.results"),
		Features:        goka.Stream(prefix + ".features"),
		DeadLetters:     goka.Stream(prefix + ".dlq"),
		Invalidations:   goka.Stream(prefix + ".invalidations"),
		RegistryGroup:   goka.Group(prefix + "-registry"),
		RegistryTable:   goka.GroupTable(goka.Group(prefix + "-registry")),
		IngestGroup:     goka.Group(prefix + "-ingest"),
	}, nil
}

// Spec is how one topic is created.
type Spec struct {
	Name       string
	Partitions int32
	// Replication is the replication factor; -1 leaves it to the broker's
	// default.replication.factor.
	Replication int16
	Config      map[string]string
}

// Layout sets the sizes that vary between installations.
type Layout struct {
	// FeaturePartitions is the partition count of the features topic: the
	// upper bound of ingest parallelism. Default 12.
	FeaturePartitions int32
	// Replication of every topic; default -1 (the broker's default).
	Replication int16
	// MinInsyncReplicas is the min.insync.replicas of every topic: how many
	// replicas must have a write before a producer of acks=all (every ofs
	// producer) is told it is stored. Default 0: the broker's own setting.
	MinInsyncReplicas int16
	// ResultsRetention bounds how long registry outcomes are kept. Default 7 days.
	ResultsRetention time.Duration
	// DeadLetterRetention bounds how long rejected events are kept. Default 14 days.
	DeadLetterRetention time.Duration
	// InvalidationRetention bounds how long invalidations are kept. They only
	// matter to servers that are running; default 1 hour.
	InvalidationRetention time.Duration
}

func (l Layout) withDefaults() Layout {
	if l.FeaturePartitions == 0 {
		l.FeaturePartitions = 12
	}
	if l.Replication == 0 {
		l.Replication = -1
	}
	if l.ResultsRetention == 0 {
		l.ResultsRetention = 7 * 24 * time.Hour
	}
	if l.DeadLetterRetention == 0 {
		l.DeadLetterRetention = 14 * 24 * time.Hour
	}
	if l.InvalidationRetention == 0 {
		l.InvalidationRetention = time.Hour
	}
	return l
}

func ms(d time.Duration) string { return strconv.FormatInt(d.Milliseconds(), 10) }

// Specs lists the topics ofs creates, in creation order. The registry table
// is among them, so that it gets its message size before goka looks for it.
func (n Names) Specs(l Layout) []Spec {
	l = l.withDefaults()
	// The registry topics take a batch of SaramaConfig's producers (an
	// Apply of many commands is one batch), not the broker's 1 MiB default.
	forever := map[string]string{"cleanup.policy": "delete", "retention.ms": "-1", "retention.bytes": "-1",
		"max.message.bytes": strconv.Itoa(MaxBatchBytes)}
	specs := []Spec{
		// The commands are the registry's history: kept forever, one partition.
		{Name: string(n.Registry), Partitions: 1, Replication: l.Replication, Config: forever},
		{Name: string(n.RegistryTable), Partitions: 1, Replication: l.Replication,
			Config: map[string]string{"cleanup.policy": "compact", "max.message.bytes": strconv.Itoa(MaxRegistryBytes)}},
		{Name: string(n.RegistryResults), Partitions: 1, Replication: l.Replication,
			Config: map[string]string{"cleanup.policy": "delete", "retention.ms": ms(l.ResultsRetention),
				"max.message.bytes": strconv.Itoa(MaxBatchBytes)}},
		// Compaction keeps the latest event of every (entity key, feature
		// group); the store is rebuilt from it by replay.
		{Name: string(n.Features), Partitions: l.FeaturePartitions, Replication: l.Replication,
			Config: map[string]string{"cleanup.policy": "compact", "min.compaction.lag.ms": ms(time.Hour),
				"max.message.bytes": strconv.Itoa(MaxBatchBytes)}},
		{Name: string(n.DeadLetters), Partitions: 1, Replication: l.Replication,
			Config: map[string]string{"cleanup.policy": "delete", "retention.ms": ms(l.DeadLetterRetention),
				"max.message.bytes": strconv.Itoa(2 * MaxMessageBytes)}},
		// Invalidations are split at MaxInvalidationBytes, and their
		// producers batch them up to MaxBatchBytes: the topic takes either.
		{Name: string(n.Invalidations), Partitions: 1, Replication: l.Replication,
			Config: map[string]string{"cleanup.policy": "delete", "retention.ms": ms(l.InvalidationRetention),
				"max.message.bytes": strconv.Itoa(2 * MaxMessageBytes)}},
	}
	if l.MinInsyncReplicas > 0 {
		for _, sp := range specs {
			sp.Config["min.insync.replicas"] = strconv.Itoa(int(l.MinInsyncReplicas))
		}
	}
	return specs
}

// MaxRegistryBytes bounds the encoded registry state (16 MiB: some hundred
// thousand features), which the registry table holds in one message.
const MaxRegistryBytes = 16 << 20

// MaxMessageBytes is the largest feature event ofs accepts (4 MiB). The dead
// letter topic allows twice that, since it carries the original bytes in a
// header beside the reason.
const MaxMessageBytes = 4 << 20

// MaxBatchBytes is the largest record batch the producers of SaramaConfig
// send to the features topic (MaxMessageBytes, plus room for the batch
// header and for compression that does not shrink): the features topic's
// max.message.bytes. One event fits, and so do many small ones.
const MaxBatchBytes = MaxMessageBytes + 64<<10
