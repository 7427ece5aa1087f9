package ingest_test

import (
	"strconv"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/ofstack/ofs/topics"
)

// TestDeadLetterTopicRefusesWrites: while the dead-letter topic refuses
// every write (its max.message.bytes set to 1 on the broker), a malformed
// event's dead letter cannot be sent: the partition stalls, and no commit
// covers the malformed event or anything after it. Once the topic takes
// writes again, the dead letter is sent, and every event is stored or
// dead-lettered and committed: nothing lost, nothing skipped.
func TestDeadLetterTopicRefusesWrites(t *testing.T) {
	e := setup(t, 1)
	admin, err := topics.NewAdmin(e.brokers, topics.Security{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = admin.Close() })
	setMax := func(v string) {
		t.Helper()
		if err := admin.IncrementalAlterConfig(sarama.TopicResource, string(e.names.DeadLetters),
			map[string]sarama.IncrementalAlterConfigsEntry{"max.message.bytes": {Operation: sarama.IncrementalAlterConfigsOperationSet, Value: &v}},
			false); err != nil {
			t.Fatal(err)
		}
	}
	committed := func() int64 {
		t.Helper()
		res, err := admin.ListConsumerGroupOffsets(string(e.names.IngestGroup), map[string][]int32{string(e.names.Features): {0}})
		if err != nil {
			t.Fatal(err)
		}
		if b := res.GetBlock(string(e.names.Features), 0); b != nil {
			return b.Offset
		}
		return -1
	}
	setMax("1")
	reg, _ := e.run(t, e.store)

	at := time.Now().Add(-time.Minute).UTC().Truncate(time.Microsecond)
	var msgs []*sarama.ProducerMessage
	for i := range 100 {
		msgs = append(msgs, jsonEvent(e.names, int64(i), at, i%100, 1, "x"))
	}
	msgs = append(msgs, &sarama.ProducerMessage{Topic: string(e.names.Features), Key: sarama.StringEncoder("junk"),
		Value: sarama.StringEncoder("{not json")})
	for i := 100; i < 200; i++ {
		msgs = append(msgs, jsonEvent(e.names, int64(i), at, i%100, 1, "x"))
	}
	e.send(t, e.producer(t), msgs)

	eventually(t, time.Minute, "the dead letter to be retried", func() bool {
		return counterValue(reg, "ofs_ingest_store_retries_total") >= 3
	})
	time.Sleep(3 * time.Second) // several commit intervals
	if off := committed(); off > 100 {
		t.Fatalf("committed offset %d while the dead letter of offset 100 was refused", off)
	}
	setMax(strconv.Itoa(2 * topics.MaxMessageBytes))

	eventually(t, time.Minute, "every offset committed", func() bool { return committed() == 201 })
	consumer, err := sarama.NewConsumer(e.brokers, sarama.NewConfig())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = consumer.Close() })
	pc, err := consumer.ConsumePartition(string(e.names.DeadLetters), 0, sarama.OffsetOldest)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pc.Close() })
	select {
	case m := <-pc.Messages():
		if string(m.Key) != "junk" || string(m.Value) != "{not json" {
			t.Fatalf("dead letter %q=%q, want the junk event", m.Key, m.Value)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("no dead letter within 30s of the topic taking writes again")
	}
	ids := make([]int64, 200)
	for i := range ids {
		ids[i] = int64(i)
	}
	if rows := readProfiles(t, e.reg, e.store, ids); len(rows) != 200 {
		t.Fatalf("%d of 200 rows stored", len(rows))
	}
}
