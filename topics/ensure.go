package topics

import (
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/IBM/sarama"
)

// KafkaVersion is the protocol version ofs speaks; Kafka 4 removed the
// versions older than 2.1, and 3.x brokers understand this one.
var KafkaVersion = sarama.V3_6_0_0

// Ensure creates every topic in specs that does not exist yet, and checks
// that existing ones have the partition count of their spec. An existing
// topic whose max.message.bytes is below its spec's (one made by an older
// ofs) is raised to it; a larger value is left alone, and so is a topic
// whose configuration this client may not describe. It is safe to call on
// every start and from several processes at once.
func Ensure(admin sarama.ClusterAdmin, specs []Spec) error {
	for _, s := range specs {
		cfg := make(map[string]*string, len(s.Config))
		for k, v := range s.Config {
			cfg[k] = &v
		}
		err := admin.CreateTopic(s.Name, &sarama.TopicDetail{
			NumPartitions:     s.Partitions,
			ReplicationFactor: s.Replication,
			ConfigEntries:     cfg,
		}, false)
		var terr *sarama.TopicError
		switch {
		case err == nil:
			// Created: return only once the brokers' metadata has it, so
			// that whatever runs next (a processor, `ofs topics list`) finds it.
			if _, err := describeSettled(admin, []string{s.Name}); err != nil {
				return err
			}
			continue
		case errors.As(err, &terr) && terr.Err == sarama.ErrTopicAlreadyExists:
		case errors.Is(err, sarama.ErrTopicAlreadyExists):
		default:
			return fmt.Errorf("topics: create %s: %w", s.Name, err)
		}
		if err := checkPartitions(admin, s); err != nil {
			return err
		}
		if err := raiseMessageBytes(admin, s); err != nil {
			return err
		}
	}
	return nil
}

const maxMessageBytesKey = "max.message.bytes"

// raiseMessageBytes sets the max.message.bytes of the existing topic of s
// to the spec's when it is lower.
func raiseMessageBytes(admin sarama.ClusterAdmin, s Spec) error {
	want, ok := s.Config[maxMessageBytesKey]
	if !ok {
		return nil
	}
	wantN, err := strconv.Atoi(want)
	if err != nil {
		return fmt.Errorf("topics: %s: %s %q: %w", s.Name, maxMessageBytesKey, want, err)
	}
	res, err := describeMessageBytes(admin, s.Name)
	switch {
	case errors.Is(err, errNotAllowed):
		// A managed Kafka whose topics its operators made: the topic is as
		// they configured it.
		return nil
	case err != nil:
		return err
	}
	for _, e := range res.Configs {
		if e.Name != maxMessageBytesKey {
			continue
		}
		if have, err := strconv.Atoi(e.Value); err == nil && have >= wantN {
			return nil
		}
	}
	err = admin.IncrementalAlterConfig(sarama.TopicResource, s.Name, map[string]sarama.IncrementalAlterConfigsEntry{
		maxMessageBytesKey: {Operation: sarama.IncrementalAlterConfigsOperationSet, Value: &want}}, false)
	if err != nil {
		return fmt.Errorf("topics: raise %s of %s to %s: %w", maxMessageBytesKey, s.Name, want, err)
	}
	return nil
}

// errNotAllowed: this client may not describe the topic's configuration.
var errNotAllowed = errors.New("topics: not allowed to describe the configuration")

// describeMessageBytes reads a topic's max.message.bytes, asking again
// within settleTime while the broker does not know a topic that another
// process (or this one) has just created.
func describeMessageBytes(admin sarama.ClusterAdmin, topic string) (*sarama.ConfigResourceResult, error) {
	deadline := time.Now().Add(settleTime)
	for {
		res, err := admin.DescribeConfigs([]*sarama.ConfigResource{{Type: sarama.TopicResource, Name: topic,
			ConfigNames: []string{maxMessageBytesKey}}}, sarama.DescribeConfigsOptions{})
		code := sarama.ErrNoError
		if err == nil && len(res) == 1 {
			code = res[0].ErrorCode
		}
		switch {
		case errors.Is(err, sarama.ErrTopicAuthorizationFailed), errors.Is(err, sarama.ErrClusterAuthorizationFailed),
			code == sarama.ErrTopicAuthorizationFailed, code == sarama.ErrClusterAuthorizationFailed:
			return nil, errNotAllowed
		case err == nil && len(res) == 1 && code == sarama.ErrNoError:
			return res[0], nil
		case time.Now().After(deadline):
			if err == nil {
				err = code
			}
			return nil, fmt.Errorf("topics: describe the configuration of %s: %w", topic, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// settleTime bounds the wait for a topic that another process has just
// created to show up in the metadata of the broker asked.
const settleTime = 15 * time.Second

func checkPartitions(admin sarama.ClusterAdmin, s Spec) error {
	md, err := describeSettled(admin, []string{s.Name})
	if err != nil {
		return err
	}
	if got := int32(len(md[0].Partitions)); got != s.Partitions {
		return fmt.Errorf("%w: %s has %d partitions, want %d", ErrMismatch, s.Name, got, s.Partitions)
	}
	return nil
}

// describeSettled returns the metadata of the named topics, in order,
// asking again within settleTime while one is unknown or without a leader:
// created a moment ago (by this process or another), its metadata is on
// its way.
func describeSettled(admin sarama.ClusterAdmin, names []string) ([]*sarama.TopicMetadata, error) {
	deadline := time.Now().Add(settleTime)
	for {
		md, err := admin.DescribeTopics(names)
		if err != nil {
			return nil, fmt.Errorf("topics: describe %v: %w", names, err)
		}
		byName := make(map[string]*sarama.TopicMetadata, len(md))
		for _, m := range md {
			byName[m.Name] = m
		}
		out := make([]*sarama.TopicMetadata, 0, len(names))
		var settling error
		for _, n := range names {
			m, ok := byName[n]
			if !ok {
				return nil, fmt.Errorf("topics: describe %s: no answer", n)
			}
			if m.Err == sarama.ErrNoError {
				out = append(out, m)
				continue
			}
			err := fmt.Errorf("topics: describe %s: %w", n, m.Err)
			fresh := m.Err == sarama.ErrUnknownTopicOrPartition || m.Err == sarama.ErrLeaderNotAvailable
			if !fresh || time.Now().After(deadline) {
				return nil, err
			}
			settling = err
		}
		if settling == nil {
			return out, nil
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// NewAdmin opens a cluster admin on brokers with ofs's protocol version,
// connecting with sec.
func NewAdmin(brokers []string, sec Security) (sarama.ClusterAdmin, error) {
	cfg := sarama.NewConfig()
	cfg.Version = KafkaVersion
	cfg.ClientID = "ofs-admin"
	if err := sec.Apply(cfg); err != nil {
		return nil, err
	}
	admin, err := sarama.NewClusterAdmin(brokers, cfg)
	if err != nil {
		return nil, fmt.Errorf("topics: connect to %v: %w", brokers, err)
	}
	return admin, nil
}
