package topics_test

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"google.golang.org/protobuf/proto"

	featurev1 "github.com/ofstack/ofs/proto/ofs/feature/v1"
	"github.com/ofstack/ofs/topics"
)

// TestLargeInvalidationOnTheBroker: the invalidation of 1,000 keys of 8 KiB
// (8 MiB of keys), split by topics.Invalidations and sent in one go by a
// producer of OutputConfig, is accepted by the invalidations topic that
// Ensure made, and every key arrives.
func TestLargeInvalidationOnTheBroker(t *testing.T) {
	brokers, names, admin := newAdmin(t)
	if err := topics.Ensure(admin, names.Specs(topics.Layout{FeaturePartitions: 1})); err != nil {
		t.Fatal(err)
	}
	keys := make([]*featurev1.InvalidatedKey, 1000)
	for i := range keys {
		// Digits do not compress away: the broker sees close to 8 MiB.
		var b strings.Builder
		for b.Len() < 8<<10 {
			b.WriteString(strconv.FormatUint(uint64(i)*2654435761+uint64(b.Len())*40503, 36))
		}
		keys[i] = &featurev1.InvalidatedKey{Entity: "user", KeyValues: []string{b.String()}, FeatureGroupIds: []uint32{1}}
	}
	msgs, err := topics.Invalidations(keys)
	if err != nil {
		t.Fatal(err)
	}
	cfg := topics.OutputConfig(topics.SaramaConfig("t"))
	cfg.Producer.Return.Successes = true
	producer, err := sarama.NewSyncProducer(brokers, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = producer.Close() })
	pms := make([]*sarama.ProducerMessage, len(msgs))
	for i, m := range msgs {
		pms[i] = &sarama.ProducerMessage{Topic: string(names.Invalidations), Key: sarama.StringEncoder("0"), Value: sarama.ByteEncoder(m)}
	}
	if err := producer.SendMessages(pms); err != nil {
		t.Fatalf("send %d invalidation messages of 1,000 keys of 8 KiB: %v", len(msgs), err)
	}

	consumer, err := sarama.NewConsumer(brokers, topics.SaramaConfig("t"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = consumer.Close() })
	pc, err := consumer.ConsumePartition(string(names.Invalidations), 0, sarama.OffsetOldest)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pc.Close() })
	got := 0
	deadline := time.After(60 * time.Second)
	for got < len(keys) {
		select {
		case m := <-pc.Messages():
			var inv featurev1.Invalidation
			if err := proto.Unmarshal(m.Value, &inv); err != nil {
				t.Fatal(err)
			}
			for _, k := range inv.GetKeys() {
				if k.GetKeyValues()[0] != keys[got].GetKeyValues()[0] {
					t.Fatalf("key %d differs", got)
				}
				got++
			}
		case err := <-pc.Errors():
			t.Fatal(err)
		case <-deadline:
			t.Fatalf("%d of %d keys read back within 60s", got, len(keys))
		}
	}
}

// TestEnsureRaisesMessageBytes: an invalidations topic made without
// max.message.bytes (by an older ofs) is raised by Ensure to its spec.
func TestEnsureRaisesMessageBytes(t *testing.T) {
	_, names, admin := newAdmin(t)
	if err := admin.CreateTopic(string(names.Invalidations), &sarama.TopicDetail{NumPartitions: 1, ReplicationFactor: -1}, false); err != nil {
		t.Fatal(err)
	}
	if err := topics.Ensure(admin, names.Specs(topics.Layout{FeaturePartitions: 1})); err != nil {
		t.Fatal(err)
	}
	// The broker applies an altered configuration shortly after the
	// controller took it: ask until it shows.
	want, v := strconv.Itoa(2*topics.MaxMessageBytes), ""
	for deadline := time.Now().Add(20 * time.Second); v != want && time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		res, err := admin.DescribeConfigs([]*sarama.ConfigResource{{Type: sarama.TopicResource, Name: string(names.Invalidations),
			ConfigNames: []string{"max.message.bytes"}}}, sarama.DescribeConfigsOptions{})
		if err != nil || len(res) != 1 {
			t.Fatalf("describe configs: %v %+v", err, res)
		}
		v = configValue(res[0].Configs, "max.message.bytes")
	}
	if v != want {
		t.Fatalf("max.message.bytes = %q after Ensure, want %s", v, want)
	}
}
