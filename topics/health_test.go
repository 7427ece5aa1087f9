package topics_test

import (
	"errors"
	"testing"

	"github.com/IBM/sarama"

	"github.com/ofstack/ofs/topics"
)

func TestHealthOf(t *testing.T) {
	part := func(leader int32, replicas, isr []int32) *sarama.PartitionMetadata {
		return &sarama.PartitionMetadata{Leader: leader, Replicas: replicas, Isr: isr}
	}
	for _, tc := range []struct {
		name  string
		parts []*sarama.PartitionMetadata
		want  topics.Health
		bad   bool
	}{
		{"in sync", []*sarama.PartitionMetadata{part(1, []int32{1, 2, 3}, []int32{1, 2, 3}), part(2, []int32{2, 3, 1}, []int32{2, 3, 1})},
			topics.Health{Partitions: 2, Replication: 3, MinISR: 3}, false},
		{"one broker", []*sarama.PartitionMetadata{part(1, []int32{1}, []int32{1})},
			topics.Health{Partitions: 1, Replication: 1, MinISR: 1}, false},
		{"a broker down", []*sarama.PartitionMetadata{part(1, []int32{1, 2, 3}, []int32{1, 3}), part(3, []int32{3, 1, 2}, []int32{3, 1, 2})},
			topics.Health{Partitions: 2, Replication: 3, UnderReplicated: 1, MinISR: 2}, true},
		{"offline", []*sarama.PartitionMetadata{part(-1, []int32{2}, nil)},
			topics.Health{Partitions: 1, Replication: 1, UnderReplicated: 1, Offline: 1}, true},
		{"no partitions", nil, topics.Health{}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := topics.HealthOf(&sarama.TopicMetadata{Name: "x", Partitions: tc.parts})
			tc.want.Name = "x"
			if got != tc.want {
				t.Fatalf("HealthOf = %+v, want %+v", got, tc.want)
			}
			if err := got.Check(); errors.Is(err, topics.ErrUnderReplicated) != tc.bad {
				t.Fatalf("Check = %v, want under-replicated %v", err, tc.bad)
			}
		})
	}
}

// TestDescribeOnTheBroker: the topics Ensure made on the dev broker (one
// broker, replication 1) are healthy, carry the min.insync.replicas of the
// layout, and a topic the broker lacks is an error.
func TestDescribeOnTheBroker(t *testing.T) {
	_, names, admin := newAdmin(t)
	specs := names.Specs(topics.Layout{FeaturePartitions: 3, MinInsyncReplicas: 1})
	if err := topics.Ensure(admin, specs); err != nil {
		t.Fatal(err)
	}
	list := make([]string, 0, len(specs))
	for _, s := range specs {
		list = append(list, s.Name)
	}
	hs, err := topics.Describe(admin, list)
	if err != nil {
		t.Fatal(err)
	}
	for i, h := range hs {
		if h.Name != specs[i].Name || h.Partitions != int(specs[i].Partitions) || h.Replication != 1 || h.MinISR != 1 {
			t.Errorf("%+v: want %s, %d partitions, replication 1, ISR 1", h, specs[i].Name, specs[i].Partitions)
		}
		if err := h.Check(); err != nil {
			t.Error(err)
		}
	}
	res, err := admin.DescribeConfigs([]*sarama.ConfigResource{{Type: sarama.TopicResource, Name: string(names.Features)}},
		sarama.DescribeConfigsOptions{})
	if err != nil || len(res) != 1 || res[0].ErrorCode != sarama.ErrNoError {
		t.Fatalf("describe configs: %v %+v", err, res)
	}
	found := false
	for _, e := range res[0].Configs {
		if e.Name == "min.insync.replicas" {
			found = true
			if e.Value != "1" || e.Default {
				t.Errorf("min.insync.replicas = %q (default %v), want 1 set on the topic", e.Value, e.Default)
			}
		}
	}
	if !found {
		t.Error("no min.insync.replicas in the topic's configuration")
	}
	if _, err := topics.Describe(admin, []string{string(names.Features) + ".missing"}); err == nil {
		t.Error("Describe of a missing topic: no error")
	}
}
