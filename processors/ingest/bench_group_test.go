package ingest_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/prometheus/client_golang/prometheus"
)

// BenchmarkIngestProcessors measures one consumer group of 1, 2 and 3
// ingest processors sharing a features topic of 6 partitions: the
// processors start, join and settle on the empty topic first, then the
// clock runs from the first produced row until the store has acknowledged
// every row (the sum of the processors' ofs_ingest_rows_written_total).
// Producing is inside the clock here (unlike BenchmarkIngest, where the
// rows wait in the topic): with the processors idle and settled, it is the
// only way to have every processor take its share from the first row.
func BenchmarkIngestProcessors(b *testing.B) {
	for _, n := range []int{1, 2, 3} {
		b.Run(fmt.Sprintf("processors=%d", n), func(b *testing.B) { benchGroup(b, n) })
	}
}

func benchGroup(b *testing.B, n int) {
	e := setup(b, 6)
	store := benchStore(b, e)
	rows := int64(b.N) * benchRows
	at := time.Now().Add(-time.Minute).UTC().Truncate(time.Microsecond)
	msgs := make([]*sarama.ProducerMessage, rows)
	for i := range msgs {
		msgs[i] = wideEvent(e.names, int64(i), at, "protobuf")
	}
	p := e.producer(b)
	b.ResetTimer()
	b.StopTimer()
	regs := make([]*prometheus.Registry, n)
	for i := range regs {
		regs[i], _ = e.run(b, store)
	}
	time.Sleep(3 * time.Second) // the last join's rebalance ends
	b.StartTimer()
	start := time.Now()
	e.send(b, p, msgs)
	total := func() float64 {
		var sum float64
		for _, r := range regs {
			sum += written(r)
		}
		return sum
	}
	for total() < float64(rows) {
		time.Sleep(2 * time.Millisecond)
	}
	elapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(rows)/elapsed.Seconds(), "rows/s")
	for i, r := range regs {
		if written(r) == 0 && n <= 6 {
			b.Errorf("processor %d of %d wrote no row: the group did not share the partitions", i+1, n)
		}
	}
}
