package ingest_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"google.golang.org/protobuf/proto"

	"github.com/ofstack/ofs/internal/testenv"
	"github.com/ofstack/ofs/processors/registry"
	registryv1 "github.com/ofstack/ofs/proto/ofs/registry/v1"
	"github.com/ofstack/ofs/views/registrycopy"
)

// TestKafkaOutage: the broker (a private one) is killed in the middle of an
// ingest and started again 20 s later. Neither the ingest nor the registry
// processor ends: both are built again until Kafka answers, resume from
// their committed offsets, and every key holds exactly its event; a
// registry command sent after the outage is decided.
func TestKafkaOutage(t *testing.T) {
	b := testenv.PrivateKafka(t)
	e := setup(t, 2)
	e.brokers = b.Brokers()
	b.Ensure(e.names, 2)

	pub := registrycopy.NewPublisher(e.etcd, e.root)
	t.Cleanup(func() { _ = pub.Close() })
	rp, err := registry.New(e.brokers, e.names, pub, registry.WithLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	rdone := make(chan error, 1)
	go func() { rdone <- rp.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-rdone; err != nil {
			t.Errorf("registry processor: %v", err)
		}
	})
	select {
	case <-rp.Ready():
	case err := <-rdone:
		t.Fatalf("registry processor stopped: %v", err)
	case <-time.After(2 * time.Minute):
		t.Fatal("registry processor not ready in 2 minutes")
	}

	reg, _ := e.run(t, e.store)
	// 60,000 events before the outage, 20,000 after it.
	const n, before = 80000, 60000
	at := time.Now().Add(-time.Minute).UTC().Truncate(time.Microsecond)
	msgs := make([]*sarama.ProducerMessage, n)
	for i := range msgs {
		msgs[i] = jsonEvent(e.names, int64(i), at, i%100, float32(i)/8, "c"+strconv.Itoa(i%5))
	}
	p := e.producer(t)
	e.send(t, p, msgs[:before])
	eventually(t, 2*time.Minute, "some rows written", func() bool { return written(reg) >= 1000 })
	b.Stop()
	stopped := written(reg)
	time.Sleep(20 * time.Second)
	b.Start()
	t.Logf("%v of %d rows written when the broker was killed, %v when it was back", stopped, before, written(reg))
	e.send(t, e.producer(t), msgs[before:])

	ids := make([]int64, n)
	for i := range ids {
		ids[i] = int64(i)
	}
	var rows map[int64]row
	eventually(t, 4*time.Minute, "every row stored after the outage", func() bool {
		if written(reg) < n {
			return false
		}
		rows = readProfiles(t, e.reg, e.store, ids)
		return len(rows) == n
	})
	if len(rows) != n {
		t.Fatalf("%d of %d rows in Redis after the outage", len(rows), n)
	}
	for _, i := range ids {
		want := row{age: i % 100, ctr: float32(i) / 8, country: "c" + strconv.FormatInt(i%5, 10), time: at.UnixMicro()}
		if rows[i] != want {
			t.Fatalf("user %d: %+v, want %+v", i, rows[i], want)
		}
	}

	// The registry processor decides a command sent after the outage.
	cmd, err := proto.Marshal(&registryv1.Command{RequestId: "after-outage", Actor: "test",
		Command: &registryv1.Command_ApplyEntity{ApplyEntity: &registryv1.ApplyEntity{Name: "item",
			KeyColumns: []*registryv1.KeyColumn{{Name: "id", Type: registryv1.DataType_DATA_TYPE_INT64}}}}})
	if err != nil {
		t.Fatal(err)
	}
	p = e.producer(t)
	if _, _, err := p.SendMessage(&sarama.ProducerMessage{Topic: string(e.names.Registry), Key: sarama.StringEncoder(registry.Key),
		Value: sarama.ByteEncoder(cmd)}); err != nil {
		t.Fatal(err)
	}
	consumer, err := sarama.NewConsumer(e.brokers, sarama.NewConfig())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = consumer.Close() })
	pc, err := consumer.ConsumePartition(string(e.names.RegistryResults), 0, sarama.OffsetOldest)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pc.Close() })
	select {
	case m := <-pc.Messages():
		var out registryv1.Outcome
		if err := proto.Unmarshal(m.Value, &out); err != nil || out.GetRequestId() != "after-outage" || out.GetApplied() == nil {
			t.Fatalf("outcome %v (%v), want after-outage applied", &out, err)
		}
	case <-time.After(2 * time.Minute):
		t.Fatal("no outcome of the command sent after the outage within 2 minutes")
	}
}
