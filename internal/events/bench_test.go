package events

import (
	"fmt"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	featurev1 "github.com/ofstack/ofs/proto/ofs/feature/v1"
	"github.com/ofstack/ofs/topics"
)

// wideEvents returns a row of group wide50 for user 123456 as protobuf (by
// name and positional) and as JSON.
func wideEvents(tb testing.TB) (byName, positional, js []byte) {
	ev := &featurev1.FeatureEvent{Entity: "user", FeatureGroup: "wide50", EventTime: timestamppb.New(now),
		Keys:   map[string]*featurev1.Value{"user_id": {Kind: &featurev1.Value_Int64Value{Int64Value: 123456}}},
		Values: map[string]*featurev1.Value{}}
	var sb strings.Builder
	fmt.Fprintf(&sb, `{"entity":"user","keys":{"user_id":123456},"feature_group":"wide50","event_time":"2026-11-25T11:00:00Z","values":{`)
	for f := range 50 {
		v := float32(f) + 0.25
		ev.Values[fmt.Sprintf("f%02d", f)] = &featurev1.Value{Kind: &featurev1.Value_FloatValue{FloatValue: v}}
		if f > 0 {
			sb.WriteByte(',')
		}
		fmt.Fprintf(&sb, `"f%02d":%v`, f, v)
	}
	sb.WriteString("}}")
	var err error
	if byName, err = proto.Marshal(ev); err != nil {
		tb.Fatal(err)
	}
	pos := &featurev1.FeatureEvent{Entity: ev.Entity, FeatureGroup: ev.FeatureGroup, EventTime: ev.EventTime, Keys: ev.Keys, SchemaVersion: 1}
	for f := range 50 {
		pos.PositionalValues = append(pos.PositionalValues, ev.Values[fmt.Sprintf("f%02d", f)])
	}
	if positional, err = proto.Marshal(pos); err != nil {
		tb.Fatal(err)
	}
	return byName, positional, []byte(sb.String())
}

// BenchmarkDecode: one event of 50 fp32 features, decoded, validated and
// encoded as an uncompressed block (the ingest hot path, Kafka key checked).
func BenchmarkDecode(b *testing.B) {
	snap := fixture(b)
	byName, positional, js := wideEvents(b)
	key := topics.FeatureKey("user", "wide50", "123456")
	for _, bc := range []struct {
		name  string
		value []byte
	}{{"protobuf", byName}, {"protobuf-positional", positional}, {"json", js}} {
		b.Run(bc.name, func(b *testing.B) {
			d := newDecoder(Compress(false))
			buf := make([]byte, 0, 1024)
			b.SetBytes(int64(len(bc.value)))
			b.ReportAllocs()
			for b.Loop() {
				if _, _, err := d.Decode(snap, Message{Value: bc.value, Key: key, CheckKey: true}, buf[:0]); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
