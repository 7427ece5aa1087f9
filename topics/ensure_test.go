package topics_test

import (
	"errors"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/ofstack/ofs/internal/testenv"
	"github.com/ofstack/ofs/topics"
)

func TestEnsureCreatesTopicsThatCarryMessages(t *testing.T) {
	brokers, names, admin := newAdmin(t)

	specs := names.Specs(topics.Layout{FeaturePartitions: 3})
	if err := topics.Ensure(admin, specs); err != nil {
		t.Fatalf("first Ensure: %v", err)
	}
	// A second call (every process start) finds them and checks them.
	if err := topics.Ensure(admin, specs); err != nil {
		t.Fatalf("second Ensure: %v", err)
	}

	md, err := admin.DescribeTopics([]string{string(names.Features), string(names.Registry)})
	if err != nil {
		t.Fatal(err)
	}
	parts := map[string]int{}
	for _, m := range md {
		parts[m.Name] = len(m.Partitions)
	}
	if parts[string(names.Features)] != 3 || parts[string(names.Registry)] != 1 {
		t.Fatalf("partitions = %v, want features 3 and registry 1", parts)
	}
	res, err := admin.DescribeConfigs([]*sarama.ConfigResource{{Type: sarama.TopicResource, Name: string(names.Features)}},
		sarama.DescribeConfigsOptions{})
	if err != nil || len(res) != 1 || res[0].ErrorCode != sarama.ErrNoError {
		t.Fatalf("describe configs: %v %+v", err, res)
	}
	if v := configValue(res[0].Configs, "cleanup.policy"); v != "compact" {
		t.Fatalf("features cleanup.policy = %q, want compact", v)
	}

	// Produce to the features topic and read it back.
	cfg := sarama.NewConfig()
	cfg.Version = topics.KafkaVersion
	cfg.Producer.Return.Successes = true
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	client, err := sarama.NewClient(brokers, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = client.Close() })
	producer, err := sarama.NewSyncProducerFromClient(client)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = producer.Close() })
	part, off, err := producer.SendMessage(&sarama.ProducerMessage{
		Topic: string(names.Features),
		Key:   sarama.StringEncoder("user|profile|42"),
		Value: sarama.ByteEncoder(`{"age": 42}`),
	})
	if err != nil {
		t.Fatalf("produce: %v", err)
	}
	consumer, err := sarama.NewConsumerFromClient(client)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = consumer.Close() })
	pc, err := consumer.ConsumePartition(string(names.Features), part, off)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pc.Close() })
	select {
	case m := <-pc.Messages():
		if string(m.Key) != "user|profile|42" || string(m.Value) != `{"age": 42}` {
			t.Fatalf("consumed %q=%q, want the produced message", m.Key, m.Value)
		}
	case err := <-pc.Errors():
		t.Fatalf("consume: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("no message consumed within 30s")
	}
}

func TestEnsureRejectsPartitionMismatch(t *testing.T) {
	_, names, admin := newAdmin(t)
	if err := topics.Ensure(admin, names.Specs(topics.Layout{FeaturePartitions: 2})); err != nil {
		t.Fatal(err)
	}
	err := topics.Ensure(admin, names.Specs(topics.Layout{FeaturePartitions: 4}))
	if !errors.Is(err, topics.ErrMismatch) {
		t.Fatalf("Ensure with other partition count: err = %v, want ErrMismatch", err)
	}
}

func configValue(entries []sarama.ConfigEntry, name string) string {
	for _, e := range entries {
		if e.Name == name {
			return e.Value
		}
	}
	return ""
}

func TestEnsureFromManyProcessesAtOnce(t *testing.T) {
	brokers := testenv.Kafka(t)
	names, err := topics.For(testenv.Name(t))
	if err != nil {
		t.Fatal(err)
	}
	specs := names.Specs(topics.Layout{FeaturePartitions: 2})
	errs := make(chan error, 4)
	for range 4 {
		go func() {
			admin, err := topics.NewAdmin(brokers, topics.Security{})
			if err != nil {
				errs <- err
				return
			}
			defer admin.Close()
			errs <- topics.Ensure(admin, specs)
		}()
	}
	for range 4 {
		if err := <-errs; err != nil {
			t.Fatalf("concurrent Ensure: %v", err)
		}
	}
}

// newAdmin returns the dev Kafka's brokers, topic names of the test's own
// and an admin client closed when the test ends.
func newAdmin(t *testing.T) ([]string, topics.Names, sarama.ClusterAdmin) {
	t.Helper()
	brokers := testenv.Kafka(t)
	names, err := topics.For(testenv.Name(t))
	if err != nil {
		t.Fatal(err)
	}
	admin, err := topics.NewAdmin(brokers, topics.Security{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = admin.Close() })
	return brokers, names, admin
}
