package topics

import (
	"errors"
	"fmt"

	"github.com/IBM/sarama"
)

// ErrUnderReplicated is returned by Health.Check when a topic has a
// partition whose in-sync replicas are fewer than its replicas, or one
// without a leader.
var ErrUnderReplicated = errors.New("topics: under-replicated partitions")

// Health is the replication state of one topic as the brokers' metadata
// tells it.
type Health struct {
	Name       string
	Partitions int
	// Replication is the largest replica count of a partition.
	Replication int
	// UnderReplicated counts the partitions whose in-sync replicas (ISR)
	// are fewer than their replicas: one broker more lost and a write with
	// acks=all may be refused (min.insync.replicas) or the data lost.
	UnderReplicated int
	// Offline counts the partitions without a leader: nothing can be read
	// from or written to them.
	Offline int
	// MinISR is the fewest in-sync replicas of a partition.
	MinISR int
}

// Check returns ErrUnderReplicated, naming the topic, for a topic with
// under-replicated or offline partitions.
func (h Health) Check() error {
	if h.UnderReplicated == 0 && h.Offline == 0 {
		return nil
	}
	return fmt.Errorf("%w: %s: %d of %d partitions under-replicated, %d offline",
		ErrUnderReplicated, h.Name, h.UnderReplicated, h.Partitions, h.Offline)
}

// HealthOf reads the replication state of a topic from its metadata.
func HealthOf(md *sarama.TopicMetadata) Health {
	h := Health{Name: md.Name, Partitions: len(md.Partitions), MinISR: -1}
	for _, p := range md.Partitions {
		h.Replication = max(h.Replication, len(p.Replicas))
		if h.MinISR < 0 || len(p.Isr) < h.MinISR {
			h.MinISR = len(p.Isr)
		}
		if len(p.Isr) < len(p.Replicas) {
			h.UnderReplicated++
		}
		if p.Leader < 0 || p.Err == sarama.ErrLeaderNotAvailable {
			h.Offline++
		}
	}
	h.MinISR = max(h.MinISR, 0)
	return h
}

// Describe returns the replication state of each named topic, in order.
// A topic created a moment ago is waited for, as Ensure does.
func Describe(admin sarama.ClusterAdmin, names []string) ([]Health, error) {
	if len(names) == 0 {
		return nil, nil
	}
	md, err := describeSettled(admin, names)
	if err != nil {
		return nil, err
	}
	out := make([]Health, 0, len(md))
	for _, m := range md {
		out = append(out, HealthOf(m))
	}
	return out, nil
}
