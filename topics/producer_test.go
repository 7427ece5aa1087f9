package topics_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/lovoo/goka"

	"github.com/ofstack/ofs/topics"
)

// TestCheckProducer: the configurations every ofs producer is built from
// pass, and each weakening of them is refused.
func TestCheckProducer(t *testing.T) {
	weaken := func(f func(c *sarama.Config)) *sarama.Config {
		c := topics.SaramaConfig("t")
		f(c)
		return c
	}
	for _, tc := range []struct {
		name string
		cfg  *sarama.Config
		ok   bool
	}{
		{"SaramaConfig", topics.SaramaConfig("t"), true},
		{"OutputConfig", topics.OutputConfig(topics.SaramaConfig("t")), true},
		{"acks local", weaken(func(c *sarama.Config) { c.Producer.RequiredAcks = sarama.WaitForLocal }), false},
		{"no acks", weaken(func(c *sarama.Config) { c.Producer.RequiredAcks = sarama.NoResponse }), false},
		{"not idempotent", weaken(func(c *sarama.Config) { c.Producer.Idempotent = false }), false},
		{"5 in flight", weaken(func(c *sarama.Config) { c.Net.MaxOpenRequests = 5 }), false},
		{"no retries", weaken(func(c *sarama.Config) { c.Producer.Retry.Max = 0 }), false},
		{"goka's default", goka.DefaultConfig(), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := topics.CheckProducer(tc.cfg)
			if tc.ok && err != nil {
				t.Fatal(err)
			}
			if !tc.ok && !errors.Is(err, topics.ErrProducerConfig) {
				t.Fatalf("CheckProducer = %v, want %v", err, topics.ErrProducerConfig)
			}
		})
	}
	// The flush tuning of Persist's and the processors' producers stays:
	// a synchronous write is sent at once.
	if c := topics.SaramaConfig("t"); c.Producer.Flush.Frequency != 0 || c.Producer.Flush.Bytes != 0 {
		t.Fatalf("flush frequency %v, bytes %d: want 0, 0", c.Producer.Flush.Frequency, c.Producer.Flush.Bytes)
	}
}

// TestProducerBuilderOnTheBroker: the goka producer that the processors
// build (topics.ProducerBuilder) is idempotent against the dev broker: it
// writes with acks=all are acknowledged and land once each, in order, and
// the builder leaves the shared config alone.
func TestProducerBuilderOnTheBroker(t *testing.T) {
	brokers, names, admin := newAdmin(t)
	if err := topics.Ensure(admin, names.Specs(topics.Layout{FeaturePartitions: 1})); err != nil {
		t.Fatal(err)
	}
	cfg := topics.OutputConfig(topics.SaramaConfig("shared"))
	partitioner := fmt.Sprintf("%p", cfg.Producer.Partitioner)
	p, err := topics.ProducerBuilder(cfg)(brokers, "ofs-test-out", goka.DefaultHasher())
	if err != nil {
		t.Fatal(err)
	}
	if cfg.ClientID != "shared" || fmt.Sprintf("%p", cfg.Producer.Partitioner) != partitioner {
		t.Fatalf("the builder changed the shared config: client id %q", cfg.ClientID)
	}
	const n = 50
	for i := range n {
		done := make(chan error, 1)
		p.Emit(string(names.DeadLetters), "k", fmt.Appendf(nil, "%d", i)).Then(func(err error) { done <- err })
		if err := <-done; err != nil {
			t.Fatalf("emit %d: %v", i, err)
		}
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}

	consumer, err := sarama.NewConsumer(brokers, topics.SaramaConfig("t"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = consumer.Close() })
	pc, err := consumer.ConsumePartition(string(names.DeadLetters), 0, sarama.OffsetOldest)
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	for i := range n {
		select {
		case m := <-pc.Messages():
			if got, want := string(m.Value), fmt.Sprint(i); got != want {
				t.Fatalf("message %d at offset %d is %q", i, m.Offset, got)
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("%d of %d messages arrived", i, n)
		}
	}

	// The idempotent producer of SaramaConfig gets a producer id from the
	// broker (InitProducerId), which a broker without idempotence refuses.
	client, err := sarama.NewClient(brokers, topics.SaramaConfig("t"))
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	sp, err := sarama.NewSyncProducerFromClient(client)
	if err != nil {
		t.Fatalf("idempotent producer: %v", err)
	}
	defer sp.Close()
	if _, _, err := sp.SendMessage(&sarama.ProducerMessage{Topic: string(names.DeadLetters), Value: sarama.StringEncoder("x")}); err != nil {
		t.Fatalf("send with acks=all, idempotent: %v", err)
	}
}

// TestProducerRetriesOutlastALeaderElection: the retries of one write span
// more than twice KRaft's default broker session timeout (9 s), after which
// a dead leader's partitions have a new one.
func TestProducerRetriesOutlastALeaderElection(t *testing.T) {
	var total time.Duration
	for r := range topics.ProducerRetries {
		d := topics.ProducerBackoff(r, topics.ProducerRetries)
		if d <= 0 || d > time.Second {
			t.Errorf("backoff before retry %d is %v, want (0, 1s]", r, d)
		}
		total += d
	}
	if total < 18*time.Second {
		t.Errorf("the retries span %v, want at least 18 s", total)
	}
}
