package ingest_test

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"google.golang.org/protobuf/proto"

	"github.com/ofstack/ofs/processors/ingest"
	featurev1 "github.com/ofstack/ofs/proto/ofs/feature/v1"
	"github.com/ofstack/ofs/schema"
	"github.com/ofstack/ofs/topics"
)

// TestInvalidationOf1000KeysOf8KiB: one batch of 1,000 events whose keys
// are 8 KiB each (8 string columns of 1 KiB) is stored, and its
// invalidation, 8 MiB of keys, reaches the invalidations topic of the real
// broker in messages of at most 1 MiB; every key is announced, and the
// offsets are committed.
func TestInvalidationOf1000KeysOf8KiB(t *testing.T) {
	cols := make([]schema.KeyColumn, 8)
	for i := range cols {
		cols[i] = schema.KeyColumn{Name: fmt.Sprintf("k%d", i), Type: schema.String}
	}
	e := setup(t, 1,
		schema.ApplyEntity{Name: "doc", Keys: cols},
		schema.ApplyFeatureGroup{Name: "doc_stats", Entity: "doc", ID: 9, Store: "main",
			Features: []schema.Feature{{Name: "n", Type: schema.Int32}}})
	const n = 1000
	rnd := rand.New(rand.NewPCG(3, 4))
	letters := "abcdefghijklmnopqrstuvwxyz0123456789"
	random := func() string {
		var b strings.Builder
		for range 1024 {
			b.WriteByte(letters[rnd.IntN(len(letters))])
		}
		return b.String()
	}
	at := time.Now().Add(-time.Minute).UTC().Format(time.RFC3339Nano)
	msgs := make([]*sarama.ProducerMessage, n)
	for i := range msgs {
		vals := make([]string, len(cols))
		keys := map[string]string{}
		for c := range cols {
			vals[c] = random()
			keys[cols[c].Name] = vals[c]
		}
		kj, err := json.Marshal(keys)
		if err != nil {
			t.Fatal(err)
		}
		msgs[i] = &sarama.ProducerMessage{Topic: string(e.names.Features), Key: sarama.StringEncoder(topics.FeatureKey("doc", "doc_stats", vals...)),
			Value: sarama.StringEncoder(fmt.Sprintf(`{"entity":"doc","keys":%s,"feature_group":"doc_stats","event_time":%q,"values":{"n":%d}}`, kj, at, i))}
	}
	e.send(t, e.producer(t), msgs) // all there before the processor starts: one batch
	// A long linger: the batch fills to its 1,000 events.
	reg, _ := e.run(t, e.store, ingest.WithLinger(5*time.Second))
	eventually(t, 2*time.Minute, "1,000 rows written", func() bool { return written(reg) >= n })

	consumer, err := sarama.NewConsumer(e.brokers, topics.SaramaConfig("t"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = consumer.Close() })
	pc, err := consumer.ConsumePartition(string(e.names.Invalidations), 0, sarama.OffsetOldest)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pc.Close() })
	got, messages := 0, 0
	for got < n {
		select {
		case m := <-pc.Messages():
			messages++
			if len(m.Value) > topics.MaxInvalidationBytes {
				t.Fatalf("an invalidation of %d bytes, more than %d", len(m.Value), topics.MaxInvalidationBytes)
			}
			var inv featurev1.Invalidation
			if err := proto.Unmarshal(m.Value, &inv); err != nil {
				t.Fatal(err)
			}
			got += len(inv.GetKeys())
		case <-time.After(time.Minute):
			t.Fatalf("%d of %d keys announced within a minute", got, n)
		}
	}
	t.Logf("%d keys in %d invalidation messages", got, messages)
	if messages < 8 || messages > 10 {
		t.Fatalf("%d invalidation messages for one batch of 8 MiB of keys, want 8 to 10 (split at 1 MiB)", messages)
	}
	eventually(t, 30*time.Second, "no lag", func() bool { return lag(t, reg) == 0 })
}
