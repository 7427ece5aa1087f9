package replay_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/ofstack/ofs/processors/replay"
	"github.com/ofstack/ofs/schema"
	"github.com/ofstack/ofs/topics"
	"github.com/ofstack/ofs/views"
)

// TestReplayReadsKfake: the fold's own Fetch loop works against franz-go's
// kfake, the broker of `ofs dev`, as against Kafka. The store is a
// recording one: only what the fold read matters here.
func TestReplayReadsKfake(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	brokers := c.ListenAddrs()
	names, err := topics.For("kfake")
	if err != nil {
		t.Fatal(err)
	}
	admin, err := topics.NewAdmin(brokers, topics.Security{})
	if err != nil {
		t.Fatal(err)
	}
	if err := topics.Ensure(admin, names.Specs(topics.Layout{FeaturePartitions: 3})); err != nil {
		t.Fatal(err)
	}
	admin.Close()
	cfg := topics.SaramaConfig("replay-kfake")
	cfg.Producer.Return.Successes = true
	p, err := sarama.NewSyncProducer(brokers, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	msgs := make([]*sarama.ProducerMessage, 0, 500)
	at := time.Now().Add(-time.Minute).UTC().Format(time.RFC3339Nano)
	for k := range 500 {
		msgs = append(msgs, &sarama.ProducerMessage{Topic: string(names.Features),
			Key: sarama.StringEncoder(topics.FeatureKey("user", "counts", fmt.Sprint(k))),
			Value: sarama.StringEncoder(fmt.Sprintf(`{"entity":"user","keys":{"user_id":%d},"feature_group":"counts","event_time":%q,"values":{"clicks":%d}}`,
				k, at, k))})
	}
	if err := p.SendMessages(msgs); err != nil {
		t.Fatal(err)
	}
	rec := &recording{}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	sum, err := replay.Run(ctx, replay.Config{
		Source: replay.Source{Brokers: brokers, Names: names, History: replay.HistoryOf(schema.NewSnapshot(registry(t)))},
		Stores: func(*schema.Store) (views.Store, error) { return rec, nil }})
	if err != nil || sum.Read != 500 || sum.Written != 500 || rec.n.Load() != 500 {
		t.Fatalf("replay from kfake: %+v, %v; %d blocks stored", sum, err, rec.n.Load())
	}
}

// recording is a store that counts the blocks written to it.
type recording struct {
	views.Store
	n atomic.Int64 // partitions are written concurrently
}

func (r *recording) Write(_ context.Context, b []views.Block) error {
	r.n.Add(int64(len(b)))
	return nil
}
