package events

import (
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/ofstack/ofs/codec"
	featurev1 "github.com/ofstack/ofs/proto/ofs/feature/v1"
	"github.com/ofstack/ofs/schema"
	"github.com/ofstack/ofs/topics"
)

const exampleJSON = `{"entity":"user","keys":{"user_id":42},"feature_group":"user_profile","event_time":"2026-11-25T10:00:00Z",
	"values":{"age":31,"ctr":0.12,"embedding":[0.1,0.2],"country":"DE"}}`

func TestDecodeJSONExample(t *testing.T) {
	snap := fixture(t)
	d := newDecoder()
	key := topics.FeatureKey("user", "user_profile", "42")
	row, buf, err := d.Decode(snap, Message{Value: []byte(exampleJSON), Key: key, CheckKey: true}, []byte("prefix"))
	if err != nil {
		t.Fatal(err)
	}
	if string(buf[:6]) != "prefix" || &buf[6] != &row.Block[0] {
		t.Fatal("the block is not appended to dst")
	}
	if row.Key.Entity != "user" || !reflect.DeepEqual(row.Key.Values, []string{"42"}) || row.Group.ID != 1 {
		t.Fatalf("row key %v group %d", row.Key, row.Group.ID)
	}
	wantTime := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC).UnixMicro()
	if row.EventTime != wantTime || row.Expiry != wantTime+(24*time.Hour).Microseconds() {
		t.Fatalf("event time %d expiry %d, want %d and a day later", row.EventTime, row.Expiry, wantTime)
	}
	if row.KafkaKey() != key {
		t.Fatalf("KafkaKey %q, want %q", row.KafkaKey(), key)
	}
	h, err := codec.ReadHeader(row.Block)
	if err != nil || h.SchemaVersion != 2 || h.EventTime != wantTime {
		t.Fatalf("header %+v %v: want version 2 (the active one) at the event time", h, err)
	}
	got := readBlock(t, snap, "user_profile", row.Block)
	want := map[string]any{
		"age": int64(31), "ctr": float64(float32(0.12)), "embedding": []float64{float64(float32(0.1)), float64(float32(0.2))},
		"country": "DE",
		// Not in the event: the defaults.
		"active": false, "score": 0.0, "big": uint64(0), "counts": []int64{0, 0, 0}, "tags": []string{"", ""},
		"flags": []bool{false, false}, "e4": 0.0, "d": 0.0, "id64": int64(0), "extra": int64(7),
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("decoded row\n got %v\nwant %v", got, want)
	}
}

func TestDecodeJSONEveryType(t *testing.T) {
	snap := fixture(t)
	ev := `{"entity":"user","keys":{"user_id":"-9223372036854775808"},"feature_group":"user_profile",
		"event_time":"2026-11-25T10:00:00.123456789+01:00",
		"values":{"age":-128,"ctr":1,"embedding":[1e-3,-2],"country":"\u00e9t\u00e9","active":true,"score":65504,
		"big":18446744073709551615,"counts":[2147483647,-2147483648,3.0],"tags":["a","b"],"flags":[true,false],
		"e4":448,"d":1e300,"id64":9007199254740993,"extra":-32768}}`
	row, _, err := newDecoder().Decode(snap, Message{Value: []byte(ev)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if row.Key.Values[0] != "-9223372036854775808" {
		t.Fatalf("key %v", row.Key.Values)
	}
	if want := time.Date(2026, 11, 25, 9, 0, 0, 123456000, time.UTC).UnixMicro(); row.EventTime != want {
		t.Fatalf("event time %d, want %d (truncated to µs, in UTC)", row.EventTime, want)
	}
	got := readBlock(t, snap, "user_profile", row.Block)
	want := map[string]any{
		"age": int64(-128), "ctr": 1.0, "embedding": []float64{float64(float32(1e-3)), -2}, "country": "été",
		"active": true, "score": 65504.0, "big": uint64(math.MaxUint64),
		"counts": []int64{math.MaxInt32, math.MinInt32, 3}, "tags": []string{"a", "b"}, "flags": []bool{true, false},
		"e4": 448.0, "d": 1e300, "id64": int64(9007199254740993), "extra": int64(-32768),
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("decoded row\n got %v\nwant %v", got, want)
	}
}

func TestDecodeProtobuf(t *testing.T) {
	snap := fixture(t)
	ev := &featurev1.FeatureEvent{
		Entity:       "user",
		FeatureGroup: "user_profile",
		Keys:         map[string]*featurev1.Value{"user_id": {Kind: &featurev1.Value_Int64Value{Int64Value: 7}}},
		EventTime:    timestamppb.New(time.Date(2026, 11, 25, 10, 0, 0, 5000, time.UTC)),
		Values: map[string]*featurev1.Value{
			"age":       {Kind: &featurev1.Value_Int64Value{Int64Value: 20}},
			"ctr":       {Kind: &featurev1.Value_FloatValue{FloatValue: 0.25}},
			"embedding": {Kind: &featurev1.Value_FloatList{FloatList: &featurev1.FloatList{Values: []float32{1, 2}}}},
			"country":   {Kind: &featurev1.Value_StringValue{StringValue: "FR"}},
			"active":    {Kind: &featurev1.Value_BoolValue{BoolValue: true}},
			"score":     {Kind: &featurev1.Value_DoubleValue{DoubleValue: 0.5}},
			"big":       {Kind: &featurev1.Value_Uint64Value{Uint64Value: math.MaxUint64}},
			"counts":    {Kind: &featurev1.Value_Int64List{Int64List: &featurev1.Int64List{Values: []int64{1, -2, 3}}}},
			"tags":      {Kind: &featurev1.Value_StringList{StringList: &featurev1.StringList{Values: []string{"x", "y"}}}},
			"flags":     {Kind: &featurev1.Value_BoolList{BoolList: &featurev1.BoolList{Values: []bool{false, true}}}},
			"e4":        {Kind: &featurev1.Value_Int64Value{Int64Value: -2}},
			"d":         {Kind: &featurev1.Value_DoubleList{DoubleList: &featurev1.DoubleList{Values: []float64{math.Pi}}}},
			"extra":     {Kind: &featurev1.Value_Uint64Value{Uint64Value: 3}},
		},
	}
	// "d" is a scalar: a list of one is the wrong type.
	b, err := proto.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = newDecoder().Decode(snap, Message{Value: b}, nil)
	wantReject(t, err, CodeWrongType, `feature "d" is fp64; got a vector of floats`)

	ev.Values["d"] = &featurev1.Value{Kind: &featurev1.Value_DoubleValue{DoubleValue: math.Pi}}
	b, _ = proto.Marshal(ev)
	row, _, err := newDecoder().Decode(snap, Message{Value: b, ContentType: "application/x-protobuf; proto=ofs.feature.v1.FeatureEvent"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC).UnixMicro() + 5; row.EventTime != want {
		t.Fatalf("event time %d, want %d", row.EventTime, want)
	}
	got := readBlock(t, snap, "user_profile", row.Block)
	want := map[string]any{
		"age": int64(20), "ctr": 0.25, "embedding": []float64{1, 2}, "country": "FR", "active": true, "score": 0.5,
		"big": uint64(math.MaxUint64), "counts": []int64{1, -2, 3}, "tags": []string{"x", "y"},
		"flags": []bool{false, true}, "e4": -2.0, "d": math.Pi, "id64": int64(0), "extra": int64(3),
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("decoded row\n got %v\nwant %v", got, want)
	}
}

func TestDecodeAllocationFree(t *testing.T) {
	if testing.Short() {
		t.Skip("allocation counts are not interesting with -short")
	}
	snap := fixture(t)
	ev := &featurev1.FeatureEvent{
		Entity: "user", FeatureGroup: "user_profile",
		Keys:      map[string]*featurev1.Value{"user_id": {Kind: &featurev1.Value_Int64Value{Int64Value: 7}}},
		EventTime: timestamppb.New(now),
		Values: map[string]*featurev1.Value{
			"ctr":       {Kind: &featurev1.Value_FloatValue{FloatValue: 0.25}},
			"embedding": {Kind: &featurev1.Value_FloatList{FloatList: &featurev1.FloatList{Values: []float32{1, 2}}}},
			"d":         {Kind: &featurev1.Value_DoubleValue{DoubleValue: 1}},
		},
	}
	b, _ := proto.Marshal(ev)
	d := newDecoder(Compress(false))
	buf := make([]byte, 0, 4096)
	allocs := testing.AllocsPerRun(100, func() {
		if _, _, err := d.Decode(snap, Message{Value: b}, buf[:0]); err != nil {
			t.Fatal(err)
		}
	})
	// The row's key values slice (one allocation; the small key 7 has a
	// preallocated string) is all that is left.
	if allocs > 1 {
		t.Fatalf("%v allocations per decode of a protobuf event, want at most 1", allocs)
	}
}

func TestPositionalValues(t *testing.T) {
	snap := fixture(t)
	// Version 1 has 13 features; "extra" came with version 2 and takes its default.
	v1 := `{"entity":"user","keys":{"user_id":1},"feature_group":"user_profile","event_time":"2026-11-25T10:00:00Z",
		"schema_version":1,"positional_values":[5,0.5,[1,2],"NL",true,1.5,9,[1,2,3],["p","q"],[true,true],1,2,3]}`
	row, _, err := newDecoder().Decode(snap, Message{Value: []byte(v1)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	got := readBlock(t, snap, "user_profile", row.Block)
	if got["age"] != int64(5) || got["country"] != "NL" || got["id64"] != int64(3) || got["extra"] != int64(7) {
		t.Fatalf("positional row %v", got)
	}

	pb := &featurev1.FeatureEvent{Entity: "user", FeatureGroup: "user_profile", SchemaVersion: 2,
		Keys:      map[string]*featurev1.Value{"user_id": {Kind: &featurev1.Value_StringValue{StringValue: "12"}}},
		EventTime: timestamppb.New(now)}
	for range 13 {
		pb.PositionalValues = append(pb.PositionalValues, &featurev1.Value{Kind: &featurev1.Value_Int64Value{Int64Value: 1}})
	}
	b, _ := proto.Marshal(pb)
	_, _, err = newDecoder().Decode(snap, Message{Value: b}, nil)
	wantReject(t, err, CodeWrongValueCount, "13 positional_values for version 2, which has 14 features")
}

func TestEventTimeFromKafkaTimestamp(t *testing.T) {
	snap := fixture(t)
	ev := `{"entity":"session","keys":{"sid":"a/b","n":3},"feature_group":"session_stats","values":{"clicks":4}}`
	ts := time.Date(2026, 11, 25, 11, 0, 0, 0, time.UTC)
	row, _, err := newDecoder().Decode(snap, Message{Value: []byte(ev), Timestamp: ts,
		Key: "session/session_stats/a%2Fb/3", CheckKey: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if row.EventTime != ts.UnixMicro() || row.Expiry != codec.NeverExpires {
		t.Fatalf("event time %d expiry %d: want the message timestamp and no expiry (TTL 0)", row.EventTime, row.Expiry)
	}
	_, _, err = newDecoder().Decode(snap, Message{Value: []byte(ev)}, nil)
	wantReject(t, err, CodeMissingEventTime, "no event_time and the message no timestamp")
}

func wantReject(t *testing.T, err error, code Code, reason string) {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v, want a rejection %s", err, code)
	}
	if e.Code != code || !strings.Contains(e.Reason, reason) {
		t.Fatalf("rejected %s: %s\nwant %s containing %q", e.Code, e.Reason, code, reason)
	}
}

// ev builds a JSON event of user_profile for user 42 with the given values.
func ev(values string) string {
	return `{"entity":"user","keys":{"user_id":42},"feature_group":"user_profile","event_time":"2026-11-25T10:00:00Z","values":` + values + `}`
}

func TestRejections(t *testing.T) {
	snap := fixture(t)
	key42 := topics.FeatureKey("user", "user_profile", "42")
	for _, tc := range []struct {
		name   string
		msg    Message
		code   Code
		reason string
	}{
		{"empty", Message{}, CodeEmpty, "no value"},
		{"oversize", Message{Value: []byte(ev(`{"country":"` + strings.Repeat("x", 2000) + `"}`))}, CodeOversize, "more than the limit of 1024"},
		{"content type", Message{Value: []byte(exampleJSON), ContentType: "text/csv"}, CodeBadContentType, `"text/csv"`},
		{"not json", Message{Value: []byte(`{"entity": "user",`)}, CodeBadJSON, "ends early"},
		{"json syntax", Message{Value: []byte(`{"entity" "user"}`)}, CodeBadJSON, "not valid JSON"},
		{"json array", Message{Value: []byte(`[1]`), ContentType: "application/json"}, CodeBadJSON, "a JSON object"},
		{"unknown field", Message{Value: []byte(`{"entity":"user","feature-group":"x"}`)}, CodeBadJSON, `unknown field "feature-group"`},
		{"field twice", Message{Value: []byte(`{"entity":"user","entity":"user"}`)}, CodeBadJSON, `"entity" is given twice`},
		{"entity not string", Message{Value: []byte(`{"entity":3}`)}, CodeBadJSON, `field "entity" is a string; found a number`},
		{"trailing", Message{Value: []byte(exampleJSON + `{}`)}, CodeBadJSON, "data after"},
		{"bad protobuf", Message{Value: []byte{0x0a, 0x20, 'u'}}, CodeBadProtobuf, "FeatureEvent"},
		{"protobuf wire type", Message{Value: []byte{0x08, 0x01}}, CodeBadProtobuf, "wire type 0, want 2"},
		{"no entity", Message{Value: []byte(`{"feature_group":"user_profile"}`)}, CodeUnknownEntity, "names no entity"},
		{"unknown entity", Message{Value: []byte(`{"entity":"usr","feature_group":"user_profile"}`)}, CodeUnknownEntity, `entity "usr" is not in the registry`},
		{"unknown group", Message{Value: []byte(`{"entity":"user","feature_group":"user_profil"}`)}, CodeUnknownGroup, `feature group "user_profil" is not in the registry`},
		{"wrong entity", Message{Value: []byte(`{"entity":"session","feature_group":"user_profile"}`)}, CodeWrongEntity, `belongs to entity "user", not "session"`},
		{"missing key", Message{Value: []byte(`{"entity":"user","feature_group":"user_profile","event_time":"2026-11-25T10:00:00Z"}`)}, CodeMissingKey, `key "user_id" of entity "user" has no value`},
		{"extra key", Message{Value: []byte(`{"entity":"user","keys":{"user_id":1,"uid":2},"feature_group":"user_profile","event_time":"2026-11-25T10:00:00Z"}`)}, CodeExtraKey, `"uid" is not a key column of entity "user"`},
		{"key type", Message{Value: []byte(`{"entity":"user","keys":{"user_id":true},"feature_group":"user_profile","event_time":"2026-11-25T10:00:00Z"}`)}, CodeBadKey, `key "user_id" is int64; got a bool`},
		{"key not decimal", Message{Value: []byte(`{"entity":"user","keys":{"user_id":"x1"},"feature_group":"user_profile","event_time":"2026-11-25T10:00:00Z"}`)}, CodeBadKey, `not a decimal integer`},
		{"key range", Message{Value: []byte(`{"entity":"session","keys":{"sid":"a","n":-1},"feature_group":"session_stats","event_time":"2026-11-25T10:00:00Z"}`)}, CodeBadKey, `key "n": -1 is out of the range of uint32`},
		{"empty string key", Message{Value: []byte(`{"entity":"session","keys":{"sid":"","n":1},"feature_group":"session_stats","event_time":"2026-11-25T10:00:00Z"}`)}, CodeBadKey, `key "sid" is empty`},
		{"key mismatch", Message{Value: []byte(exampleJSON), Key: "42", CheckKey: true}, CodeKeyMismatch, `message key "42" is not the event's key "` + key42 + `"`},
		{"unknown feature", Message{Value: []byte(ev(`{"agee":3}`))}, CodeUnknownFeature, `has no feature "agee"`},
		{"duplicate feature", Message{Value: []byte(ev(`{"age":3,"age":4}`))}, CodeDuplicateFeature, `feature "age" is given twice`},
		{"string for int", Message{Value: []byte(ev(`{"age":"3"}`))}, CodeWrongType, `feature "age" is int8; got a string`},
		{"number for string", Message{Value: []byte(ev(`{"country":3}`))}, CodeWrongType, `feature "country" is string; got a number`},
		{"float for int", Message{Value: []byte(ev(`{"age":3.5}`))}, CodeWrongType, `3.5 is not an integer`},
		{"int8 range", Message{Value: []byte(ev(`{"age":300}`))}, CodeOutOfRange, `300 is out of the range of int8 (-128 to 127)`},
		{"uint64 negative", Message{Value: []byte(ev(`{"big":-1}`))}, CodeOutOfRange, `-1 is out of the range of uint64`},
		{"int64 overflow", Message{Value: []byte(ev(`{"id64":9223372036854775808}`))}, CodeOutOfRange, `out of the range of int64`},
		{"fp16 range", Message{Value: []byte(ev(`{"score":70000}`))}, CodeOutOfRange, `70000 is out of the range of fp16`},
		{"fp32 range", Message{Value: []byte(ev(`{"ctr":1e39}`))}, CodeOutOfRange, `out of the range of fp32`},
		{"vector element range", Message{Value: []byte(ev(`{"counts":[1,2,3000000000]}`))}, CodeOutOfRange, `feature "counts" element 2: 3000000000 is out of the range of int32`},
		{"vector length", Message{Value: []byte(ev(`{"embedding":[1,2,3]}`))}, CodeWrongLength, `feature "embedding" is fp32[2]; got a vector of 3`},
		{"scalar for vector", Message{Value: []byte(ev(`{"embedding":1}`))}, CodeWrongType, `feature "embedding" is fp32[2]; got a number`},
		{"vector for scalar", Message{Value: []byte(ev(`{"ctr":[1]}`))}, CodeWrongType, `feature "ctr" is fp32; got an array`},
		{"vector element type", Message{Value: []byte(ev(`{"tags":["a",1]}`))}, CodeWrongType, `element 1 is the number 1`},
		{"object value", Message{Value: []byte(ev(`{"ctr":{"v":1}}`))}, CodeWrongType, `got an object`},
		{"null value", Message{Value: []byte(ev(`{"ctr":null}`))}, CodeBadValue, `feature "ctr" is null`},
		{"mixed values", Message{Value: []byte(`{"entity":"user","keys":{"user_id":1},"feature_group":"user_profile","event_time":"2026-11-25T10:00:00Z","values":{},"schema_version":1,"positional_values":[]}`)}, CodeMixedValues, "both values and positional_values"},
		{"unknown version", Message{Value: []byte(`{"entity":"user","keys":{"user_id":1},"feature_group":"user_profile","event_time":"2026-11-25T10:00:00Z","schema_version":9,"positional_values":[]}`)}, CodeUnknownVersion, `has no version 9 (its versions are 1 to 2)`},
		{"bad time", Message{Value: []byte(`{"entity":"user","keys":{"user_id":1},"feature_group":"user_profile","event_time":"yesterday"}`)}, CodeBadEventTime, `"yesterday" is not an RFC 3339 time`},
		{"time before 1970", Message{Value: []byte(`{"entity":"user","keys":{"user_id":1},"feature_group":"user_profile","event_time":"1960-01-01T00:00:00Z"}`)}, CodeBadEventTime, `not between 1970 and 9999`},
		{"time in the future", Message{Value: []byte(`{"entity":"user","keys":{"user_id":1},"feature_group":"user_profile","event_time":"2027-01-01T00:00:00Z"}`)}, CodeBadEventTime, `more than 1h0m0s ahead`},
		{"time zero", Message{Value: []byte(`{"entity":"user","keys":{"user_id":1},"feature_group":"user_profile","event_time":"1970-01-01T00:00:00Z"}`)}, CodeBadEventTime, `not after 1970`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, out, err := newDecoder(MaxBytes(1024)).Decode(snap, tc.msg, []byte("keep"))
			wantReject(t, err, tc.code, tc.reason)
			if string(out) != "keep" {
				t.Fatalf("dst changed on a rejection: %q", out)
			}
		})
	}
}

func TestProtobufRejections(t *testing.T) {
	snap := fixture(t)
	base := func() *featurev1.FeatureEvent {
		return &featurev1.FeatureEvent{Entity: "user", FeatureGroup: "user_profile", EventTime: timestamppb.New(now),
			Keys: map[string]*featurev1.Value{"user_id": {Kind: &featurev1.Value_Int64Value{Int64Value: 1}}}}
	}
	val := func(v *featurev1.Value) *featurev1.FeatureEvent {
		e := base()
		e.Values = map[string]*featurev1.Value{"x": v}
		return e
	}
	for _, tc := range []struct {
		name    string
		feature string
		ev      *featurev1.FeatureEvent
		code    Code
		reason  string
	}{
		{"empty value", "ctr", val(&featurev1.Value{}), CodeBadValue, `feature "ctr": the Value is empty`},
		{"float for int", "age", val(&featurev1.Value{Kind: &featurev1.Value_DoubleValue{DoubleValue: 1}}), CodeWrongType, `feature "age" is int8; got 1, not an integer`},
		{"uint range", "age", val(&featurev1.Value{Kind: &featurev1.Value_Uint64Value{Uint64Value: 128}}), CodeOutOfRange, `128 is out of the range of int8`},
		{"e4m3 inf", "e4", val(&featurev1.Value{Kind: &featurev1.Value_DoubleValue{DoubleValue: math.Inf(1)}}), CodeOutOfRange, `fp8e4m3 has no infinities`},
		{"float list for fp16 range", "score", val(&featurev1.Value{Kind: &featurev1.Value_FloatList{FloatList: &featurev1.FloatList{Values: []float32{1}}}}), CodeWrongType, `feature "score" is fp16; got a vector of floats`},
		{"vector length", "embedding", val(&featurev1.Value{Kind: &featurev1.Value_FloatList{FloatList: &featurev1.FloatList{Values: []float32{1}}}}), CodeWrongLength, `got a vector of 1`},
		{"string list for ints", "counts", val(&featurev1.Value{Kind: &featurev1.Value_StringList{StringList: &featurev1.StringList{Values: []string{"a", "b", "c"}}}}), CodeWrongType, `feature "counts" is int32[3]; got a vector of strings`},
		{"bool for string", "country", val(&featurev1.Value{Kind: &featurev1.Value_BoolValue{BoolValue: true}}), CodeWrongType, `feature "country" is string; got a bool`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.ev.Values = map[string]*featurev1.Value{tc.feature: tc.ev.Values["x"]}
			b, err := proto.Marshal(tc.ev)
			if err != nil {
				t.Fatal(err)
			}
			_, _, err = newDecoder().Decode(snap, Message{Value: b}, nil)
			wantReject(t, err, tc.code, tc.reason)
		})
	}

	t.Run("invalid UTF-8", func(t *testing.T) {
		// Generated code refuses to marshal invalid UTF-8, so write the wire by hand:
		// values {"country": {string_value: "\xff"}}.
		e := base()
		b, _ := proto.Marshal(e)
		value := []byte{0x32, 1, 0xff}
		entry := append([]byte{0x0a, 7}, "country"...)
		entry = append(append(entry, 0x12, byte(len(value))), value...)
		b = append(append(b, 0x2a, byte(len(entry))), entry...)
		_, _, err := newDecoder().Decode(snap, Message{Value: b}, nil)
		wantReject(t, err, CodeBadValue, `feature "country": the string is not valid UTF-8`)
	})
}

func TestDetectFormat(t *testing.T) {
	for _, tc := range []struct {
		ct    string
		value string
		want  Format
	}{
		{"", ` {"a":1}`, FormatJSON},
		{"", "\n\t{", FormatJSON},
		{"", "\n\x04user", FormatProtobuf},
		{"", "", FormatProtobuf},
		{"Application/JSON; charset=utf-8", "\x0a", FormatJSON},
		{"application/protobuf", "{", FormatProtobuf},
		{"application/vnd.google.protobuf", "{", FormatProtobuf},
	} {
		if got, err := DetectFormat(tc.ct, []byte(tc.value)); err != nil || got != tc.want {
			t.Errorf("DetectFormat(%q, %q) = %v, %v; want %v", tc.ct, tc.value, got, err, tc.want)
		}
	}
}

func TestLaterSnapshotIsUsed(t *testing.T) {
	// The decoder caches names per snapshot: a new snapshot is looked up anew.
	d := newDecoder()
	full := fixture(t)
	if _, _, err := d.Decode(full, Message{Value: []byte(exampleJSON)}, nil); err != nil {
		t.Fatal(err)
	}
	_, _, err := d.Decode(schema.NewSnapshot(nil), Message{Value: []byte(exampleJSON)}, nil)
	wantReject(t, err, CodeUnknownEntity, `entity "user" is not in the registry (revision 0)`)
	if _, _, err := d.Decode(full, Message{Value: []byte(exampleJSON)}, nil); err != nil {
		t.Fatalf("with the registry back: %v", err)
	}
}

func TestJSONForms(t *testing.T) {
	snap := fixture(t)
	for _, tc := range []struct {
		name, event string
		want        map[string]any
	}{
		{"escapes and white space", " \n{ \"entity\" : \"user\" , \"keys\" : { \"user_\\u0069d\" : 7 } ,\t\"feature_group\":\"user_profile\"," +
			"\"event_time\":\"2026-11-25T10:00:00Z\",\"values\":{\"country\":\"a\\\"b\\\\c\\u00e9\\ud83d\\ude00\",\"tags\":[\"\\/\",\"\"]} }\n",
			map[string]any{"country": "a\"b\\cé😀", "tags": []string{"/", ""}}},
		{"number forms", ev(`{"age":-0,"counts":[1e2,-2.0E+1,0.3e1],"d":-1.5e-300,"big":1E15}`),
			map[string]any{"age": int64(0), "counts": []int64{100, -20, 3}, "d": -1.5e-300, "big": uint64(1e15)}},
		{"nulls are absent", `{"entity":"user","keys":{"user_id":7},"feature_group":"user_profile","event_time":null,"values":{"age":5}}`,
			map[string]any{"age": int64(5)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			row, _, err := newDecoder().Decode(snap, Message{Value: []byte(tc.event), Timestamp: now}, nil)
			if err != nil {
				t.Fatal(err)
			}
			got := readBlock(t, snap, "user_profile", row.Block)
			for k, v := range tc.want {
				if !reflect.DeepEqual(got[k], v) {
					t.Errorf("%s = %#v, want %#v", k, got[k], v)
				}
			}
		})
	}
	for _, bad := range []string{`{"entity":01}`, `{"entity":"\x"}`, `{"entity":1.}`, `{"entity":"user",}`, `{"entity":"a` + "\x01" + `"}`,
		`{"entity":"` + "\xff" + `"}`, `{"values":{"a":` + strings.Repeat("[", 40) + strings.Repeat("]", 40) + `}}`, `{"entity":tru}`} {
		_, _, err := newDecoder().Decode(snap, Message{Value: []byte(bad), ContentType: "application/json"}, nil)
		var e *Error
		if !errors.As(err, &e) || e.Code != CodeBadJSON {
			t.Errorf("%q: %v, want bad_json", bad, err)
		}
	}
}
