package ingest_test

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/ofstack/ofs/codec"
	"github.com/ofstack/ofs/internal/blocks"
	"github.com/ofstack/ofs/internal/events"
	"github.com/ofstack/ofs/processors/ingest"
	featurev1 "github.com/ofstack/ofs/proto/ofs/feature/v1"
	"github.com/ofstack/ofs/topics"
	"github.com/ofstack/ofs/views"
)

// benchRows is the number of rows of one op of BenchmarkIngest.
const benchRows = 50_000

// wideValue is feature f of row i of the benchmark.
func wideValue(i int64, f int) float32 { return float32(i%1000)/1000 + float32(f) }

// wideEvent is row i of group wide50: 50 fp32 features, as protobuf (by
// name) or JSON.
func wideEvent(names topics.Names, i int64, at time.Time, format string) *sarama.ProducerMessage {
	key := sarama.StringEncoder(topics.FeatureKey("user", "wide50", strconv.FormatInt(i, 10)))
	if format == "json" {
		var sb strings.Builder
		fmt.Fprintf(&sb, `{"entity":"user","keys":{"user_id":%d},"feature_group":"wide50","event_time":%q,"values":{`, i, at.Format(time.RFC3339Nano))
		for f := range 50 {
			if f > 0 {
				sb.WriteByte(',')
			}
			fmt.Fprintf(&sb, `"f%02d":%v`, f, wideValue(i, f))
		}
		sb.WriteString("}}")
		return &sarama.ProducerMessage{Topic: string(names.Features), Key: key, Value: sarama.StringEncoder(sb.String())}
	}
	ev := &featurev1.FeatureEvent{Entity: "user", FeatureGroup: "wide50", EventTime: timestamppb.New(at),
		Keys:   map[string]*featurev1.Value{"user_id": {Kind: &featurev1.Value_Int64Value{Int64Value: i}}},
		Values: make(map[string]*featurev1.Value, 50)}
	for f := range 50 {
		ev.Values[fmt.Sprintf("f%02d", f)] = &featurev1.Value{Kind: &featurev1.Value_FloatValue{FloatValue: wideValue(i, f)}}
	}
	b, err := proto.Marshal(ev)
	if err != nil {
		panic(err)
	}
	return &sarama.ProducerMessage{Topic: string(names.Features), Key: key, Value: sarama.ByteEncoder(b)}
}

// BenchmarkIngest measures end-to-end ingest into a store (Redis, or the one
// OFS_BENCH_STORE names: redis-cluster, scylla): rows of 50 fp32
// features are produced to the features topic (4 partitions) beforehand;
// the clock runs from the moment the processor is ready until the store
// has acknowledged every row. One op is benchRows rows; rows/s is the figure.
// The processor runs with its defaults, blocks compressed when smaller,
// except in the nozstd case.
func BenchmarkIngest(b *testing.B) {
	b.Run("fp32x50/protobuf", func(b *testing.B) { benchIngest(b, "protobuf") })
	b.Run("fp32x50/protobuf-nozstd", func(b *testing.B) {
		benchIngest(b, "protobuf", ingest.WithDecoderOptions(events.Compress(false)))
	})
	b.Run("fp32x50/json", func(b *testing.B) { benchIngest(b, "json") })
}

func benchIngest(b *testing.B, format string, opts ...ingest.Option) {
	e := setup(b, 4)
	store := benchStore(b, e)
	rows := int64(b.N) * benchRows
	at := time.Now().Add(-time.Minute).UTC().Truncate(time.Microsecond)
	p := e.producer(b)
	msgs := make([]*sarama.ProducerMessage, 0, 10_000)
	for i := range rows {
		msgs = append(msgs, wideEvent(e.names, i, at, format))
		if len(msgs) == cap(msgs) || i == rows-1 {
			e.send(b, p, msgs)
			msgs = msgs[:0]
		}
	}

	b.ResetTimer()
	b.StopTimer()
	reg, stop := e.run(b, store, opts...)
	b.StartTimer()
	start := time.Now()
	for written(reg) < float64(rows) {
		time.Sleep(2 * time.Millisecond)
	}
	elapsed := time.Since(start)
	b.StopTimer()
	stop()
	b.ReportMetric(float64(rows)/elapsed.Seconds(), "rows/s")

	// The last row reads back.
	g, _ := e.reg.FeatureGroup("wide50")
	got, err := store.Read(context.Background(), []views.Key{{Entity: "user", Values: []string{strconv.FormatInt(rows-1, 10)}}}, []uint32{g.ID})
	if err != nil || got[0] == nil {
		b.Fatalf("row %d not in the store: %v", rows-1, err)
	}
	l, err := blocks.NewLayout(g.Active())
	if err != nil {
		b.Fatal(err)
	}
	proj, _ := codec.NewProjection(l, []*codec.Layout{l}, nil)
	var r codec.Reader
	if err := r.Open(got[0], proj, math.MinInt64); err != nil {
		b.Fatal(err)
	}
	if v := r.Float32(49); v != wideValue(rows-1, 49) {
		b.Fatalf("row %d f49 = %v, want %v", rows-1, v, wideValue(rows-1, 49))
	}
}
