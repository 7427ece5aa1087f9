package testenv_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/ofstack/ofs/internal/testenv"
	"github.com/ofstack/ofs/topics"
)

func TestPrivateKafkaStopsAndStarts(t *testing.T) {
	b := testenv.PrivateKafka(t)
	names, _ := topics.For(testenv.Name(t))
	b.Ensure(names, 2)
	t0 := time.Now()
	b.Stop()
	b.Start()
	t.Logf("restart took %v", time.Since(t0))
	b.Ensure(names, 2) // the topics survived
}

// TestPrivateKafkaClusterLosesANode checks the 3-node cluster's defaults:
// topics get 3 replicas, and with one node killed an acks=all producer
// still writes (min.insync.replicas 2); the node comes back with its data.
func TestPrivateKafkaClusterLosesANode(t *testing.T) {
	c := testenv.PrivateKafkaCluster(t, 3)
	names, _ := topics.For(testenv.Name(t))
	c.Ensure(names, 3)
	admin, err := sarama.NewClusterAdmin(c.Brokers(), topics.SaramaConfig("testenv"))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	meta, err := admin.DescribeTopics([]string{string(names.Features)})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range meta[0].Partitions {
		if len(p.Replicas) != 3 {
			t.Fatalf("partition %d has replicas %v, want 3", p.ID, p.Replicas)
		}
	}
	t0 := time.Now()
	c.Stop(1)
	producer, err := sarama.NewSyncProducer([]string{c.Nodes[0].Addr, c.Nodes[2].Addr}, topics.SaramaConfig("testenv"))
	if err != nil {
		t.Fatal(err)
	}
	defer producer.Close()
	for i := range 10 {
		if _, _, err := producer.SendMessage(&sarama.ProducerMessage{Topic: string(names.Features),
			Key: sarama.StringEncoder(fmt.Sprint(i)), Value: sarama.StringEncoder("v")}); err != nil {
			t.Fatalf("write %d with a node down: %v", i, err)
		}
	}
	c.Start(1)
	t.Logf("a node's outage and restart took %v", time.Since(t0))
}

// TestTopicsAreDeletedAfterThePassingTest checks that a test's topics on the
// dev Kafka, streams and goka's group tables alike, are gone once it ends.
func TestTopicsAreDeletedAfterThePassingTest(t *testing.T) {
	brokers := testenv.Kafka(t)
	var names topics.Names
	t.Run("inner", func(t *testing.T) {
		names, _ = testenv.Topics(t, 2)
	})
	admin, err := topics.NewAdmin(brokers, topics.Security{})
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	var left []string
	for range 50 {
		all, err := admin.ListTopics()
		if err != nil {
			t.Fatal(err)
		}
		left = left[:0]
		for topic := range all {
			if strings.HasPrefix(topic, names.Prefix) {
				left = append(left, topic)
			}
		}
		if len(left) == 0 {
			return
		}
		time.Sleep(100 * time.Millisecond) // deletion is asynchronous on the broker
	}
	t.Fatalf("topics left after the test ended: %v", left)
}
