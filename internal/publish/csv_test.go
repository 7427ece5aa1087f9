package publish

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/ofstack/ofs/internal/blocks"
	"github.com/ofstack/ofs/internal/events"
	"github.com/ofstack/ofs/schema"
	"github.com/ofstack/ofs/topics"
)

// csvSnapshot is a registry with a feature of every type, scalar and
// vector, for an entity with a composite key.
func csvSnapshot(t *testing.T) *schema.Snapshot {
	t.Helper()
	features := make([]schema.Feature, 0, 2*len(schema.DataTypes()))
	for _, dt := range schema.DataTypes() {
		features = append(features,
			schema.Feature{Name: "s_" + dt.String(), Type: dt},
			schema.Feature{Name: "v_" + dt.String(), Type: dt, VectorLength: 3})
	}
	r := schema.NewRegistry()
	at := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	for i, c := range []schema.Command{
		schema.ApplyStore{ID: "online", Kind: schema.Redis, Connection: "default"},
		schema.ApplyEntity{Name: "user_item", Keys: []schema.KeyColumn{{Name: "user_id", Type: schema.Int64}, {Name: "sku", Type: schema.String}}},
		schema.ApplyEntity{Name: "user", Keys: []schema.KeyColumn{{Name: "user_id", Type: schema.Uint32}}},
		schema.ApplyFeatureGroup{Name: "all_types", Entity: "user_item", ID: 1, Store: "online", Features: features},
		schema.ApplyFeatureGroup{Name: "profile", Entity: "user", ID: 2, Store: "online", Features: []schema.Feature{{Name: "age", Type: schema.Int32}}},
	} {
		next, out, err := r.Apply(schema.Request{ID: fmt.Sprint(i), Actor: "test", Command: c}, at)
		if err != nil {
			t.Fatalf("apply %T: %v (%+v)", c, err, out)
		}
		r = next
	}
	return schema.NewSnapshot(r)
}

func TestCSVConvertsEveryType(t *testing.T) {
	snap := csvSnapshot(t)
	cells := map[string]string{
		"s_bool": "true", "v_bool": "[true,false,true]",
		"s_int8": "-128", "v_int8": "[1,-2,127]",
		"s_int16": "-300", "v_int16": "[300,0,-1]",
		"s_int32": "-70000", "v_int32": "[1,2,3]",
		"s_int64": "-9223372036854775808", "v_int64": "[9223372036854775807,0,-5]",
		"s_uint8": "255", "v_uint8": "[0,1,2]",
		"s_uint16": "65535", "v_uint16": "[1,2,65535]",
		"s_uint32": "4294967295", "v_uint32": "[7,8,9]",
		"s_uint64": "18446744073709551615", "v_uint64": "[18446744073709551615,1,2]",
		"s_fp8e4m3": "448", "v_fp8e4m3": "[0.5,-1,2]",
		"s_fp8e5m2": "-0.25", "v_fp8e5m2": "[1,2,3]",
		"s_fp16": "65504", "v_fp16": "[0.1,0.2,0.3]",
		"s_fp32": "0.125", "v_fp32": "[1e-3,2.5,-3]",
		"s_fp64": "1234.5678", "v_fp64": "[0.1,0.2,0.30000000000000004]",
		"s_string": "Berlin, DE", "v_string": `["a","b,c",""]`,
	}
	header := make([]string, 0, 3+len(cells))
	header = append(header, "sku", "event_time", "user_id")
	row := make([]string, 0, 3+len(cells))
	row = append(row, "a/b", "2026-11-25T10:00:00.5Z", "42")
	for name, cell := range cells {
		header = append(header, name)
		row = append(row, cell)
	}
	conv, err := newCSVConverter(snap, "user_item", "all_types", header, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	ev, keyValues, err := conv.convert(2, row)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(keyValues, []string{"42", "a/b"}) || ev.GetKeys()["user_id"].GetInt64Value() != 42 || ev.GetKeys()["sku"].GetStringValue() != "a/b" {
		t.Fatalf("keys %v / %v, want 42, a/b in key-column order", keyValues, ev.GetKeys())
	}
	if got := ev.GetEventTime().AsTime(); !got.Equal(time.Date(2026, 11, 25, 10, 0, 0, 5e8, time.UTC)) {
		t.Fatalf("event time %v", got)
	}
	if len(ev.GetValues()) != len(cells) {
		t.Fatalf("%d values, want %d", len(ev.GetValues()), len(cells))
	}
	v := ev.GetValues()
	checks := []struct {
		name string
		ok   bool
	}{
		{"s_bool", v["s_bool"].GetBoolValue()},
		{"v_bool", slices.Equal(v["v_bool"].GetBoolList().GetValues(), []bool{true, false, true})},
		{"s_int8", v["s_int8"].GetInt64Value() == -128},
		{"v_int16", slices.Equal(v["v_int16"].GetInt64List().GetValues(), []int64{300, 0, -1})},
		{"s_int64", v["s_int64"].GetInt64Value() == math.MinInt64},
		{"v_int64", slices.Equal(v["v_int64"].GetInt64List().GetValues(), []int64{math.MaxInt64, 0, -5})},
		{"s_uint64", v["s_uint64"].GetUint64Value() == math.MaxUint64},
		{"v_uint16", slices.Equal(v["v_uint16"].GetUint64List().GetValues(), []uint64{1, 2, 65535})},
		{"s_fp8e4m3", v["s_fp8e4m3"].GetFloatValue() == 448},
		{"s_fp16", v["s_fp16"].GetFloatValue() == 65504},
		{"v_fp16", slices.Equal(v["v_fp16"].GetFloatList().GetValues(), []float32{0.1, 0.2, 0.3})},
		{"s_fp32", v["s_fp32"].GetFloatValue() == 0.125},
		{"s_fp64", v["s_fp64"].GetDoubleValue() == 1234.5678},
		{"v_fp64", slices.Equal(v["v_fp64"].GetDoubleList().GetValues(), []float64{0.1, 0.2, 0.30000000000000004})},
		{"s_string", v["s_string"].GetStringValue() == "Berlin, DE"},
		{"v_string", slices.Equal(v["v_string"].GetStringList().GetValues(), []string{"a", "b,c", ""})},
	}
	for _, c := range checks {
		if !c.ok {
			t.Errorf("%s = %v", c.name, v[c.name])
		}
	}

	// The event is one the decoder accepts, with the key the reader gives.
	b, err := proto.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	d := events.NewDecoder(&blocks.Cache{}, events.Clock(func() time.Time { return time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC) }))
	r, _, err := d.Decode(snap, events.Message{Value: b, ContentType: topics.ContentTypeProtobuf}, nil)
	if err != nil {
		t.Fatalf("decoder refuses the converted row: %v", err)
	}
	if r.KafkaKey() != topics.FeatureKey("user_item", "all_types", keyValues...) || r.KafkaKey() != "user_item/all_types/42/a%2Fb" {
		t.Fatalf("kafka key %q", r.KafkaKey())
	}
}

func TestCSVEmptyCellsAndEventTimeUnits(t *testing.T) {
	snap := csvSnapshot(t)
	header := []string{"user_id", "s_int32", "v_fp32", "s_string", "event_time"}
	for _, tc := range []struct {
		unit time.Duration
		cell string
		want time.Time
	}{
		{time.Second, "1764064800", time.Unix(1764064800, 0)},
		{time.Millisecond, "1764064800123", time.UnixMilli(1764064800123)},
		{time.Microsecond, "1764064800123456", time.UnixMicro(1764064800123456)},
		{time.Second, "2026-11-25T11:00:00+01:00", time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)},
	} {
		conv, err := newCSVConverter(snap, "user_item", "all_types", append(header, "sku"), tc.unit)
		if err != nil {
			t.Fatal(err)
		}
		ev, _, err := conv.convert(2, []string{"7", "", "", "", tc.cell, "x"})
		if err != nil {
			t.Fatalf("%s in %v: %v", tc.cell, tc.unit, err)
		}
		if !ev.GetEventTime().AsTime().Equal(tc.want) {
			t.Errorf("%s in %v: %v, want %v", tc.cell, tc.unit, ev.GetEventTime().AsTime(), tc.want)
		}
		if len(ev.GetValues()) != 0 {
			t.Errorf("empty cells gave values %v, want none (defaults)", ev.GetValues())
		}
	}
	conv, err := newCSVConverter(snap, "user", "profile", []string{"user_id", "age"}, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	ev, keyValues, err := conv.convert(2, []string{"4294967295", "31"})
	if err != nil || ev.GetEventTime() != nil || keyValues[0] != "4294967295" || ev.GetKeys()["user_id"].GetUint64Value() != math.MaxUint32 {
		t.Fatalf("no event_time column: %v %v %v, want no event time and key 4294967295", ev, keyValues, err)
	}
}

func TestCSVBadCellsNameRowAndColumn(t *testing.T) {
	snap := csvSnapshot(t)
	header := []string{"user_id", "sku", "s_int8", "s_uint16", "s_fp16", "s_bool", "v_fp32", "v_string", "event_time", "s_fp32"}
	good := []string{"1", "a", "1", "1", "1", "true", "[1,2,3]", `["a","b","c"]`, "", "0.5"}
	conv, err := newCSVConverter(snap, "user_item", "all_types", header, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := conv.convert(2, good); err != nil {
		t.Fatalf("the good row: %v", err)
	}
	for _, tc := range []struct {
		col  int // 0-based
		cell string
		want string
	}{
		{0, "x", `"x" is not a int64 key`},
		{0, "", "the key is empty"},
		{1, "", "the key is empty"},
		{2, "128", "128 is out of the range of int8"},
		{2, "1.5", `"1.5" is not an integer`},
		{3, "-1", `"-1" is not an unsigned integer`},
		{3, "65536", "65536 is out of the range of uint16"},
		{4, "70000", "70000 is out of the range of fp16"},
		{4, "abc", `"abc" is not a number`},
		{5, "yes", `"yes" is not a bool`},
		{6, "[1,2]", "the vector has 2 elements, feature v_fp32 is fp32[3]"},
		{6, "1,2,3", "is not a JSON array"},
		{6, `[1,"2",3]`, "element 1 is a string"},
		{6, "[1,2,3] [4]", "is not a JSON array"},
		{7, "[1,2,3]", "element 0 is a number"},
		{8, "yesterday", `"yesterday" is neither an RFC 3339 time nor an integer count of 1s`},
		{9, "1e39", "1e39 is out of the range of fp32"},
	} {
		row := slices.Clone(good)
		row[tc.col] = tc.cell
		_, _, err := conv.convert(17, row)
		var ce *CSVError
		if !errors.As(err, &ce) {
			t.Errorf("%s=%q: %v, want a *CSVError", header[tc.col], tc.cell, err)
			continue
		}
		wantCol := fmt.Sprintf("column %d (%s): ", tc.col+1, header[tc.col])
		if ce.line != 17 || !strings.HasPrefix(err.Error(), wantCol) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s=%q: line %d, %q; want line 17 and %q ... %q", header[tc.col], tc.cell, ce.line, err, wantCol, tc.want)
		}
	}
	if _, _, err := conv.convert(3, good[:4]); err == nil || !strings.Contains(err.Error(), "4 fields, the header 10") {
		t.Errorf("a short row: %v", err)
	}
}

func TestCSVHeaderErrors(t *testing.T) {
	snap := csvSnapshot(t)
	for _, tc := range []struct {
		entity, group string
		header        []string
		want          string
	}{
		{"user_item", "all_types", []string{"user_id", "s_int8"}, `no column for key "sku"`},
		{"user_item", "all_types", []string{"user_id", "sku", "nope"}, "column 3 (nope) is neither a key column"},
		{"user_item", "all_types", []string{"user_id", "sku", "s_int8", "s_int8"}, "column 4 (s_int8) repeats column 3"},
		{"user_item", "profile", []string{"user_id"}, `feature group "profile" belongs to entity "user"`},
		{"nobody", "profile", []string{"user_id"}, `entity "nobody" is not in the registry`},
		{"user", "nothing", []string{"user_id"}, `feature group "nothing" is not in the registry`},
	} {
		_, err := newCSVConverter(snap, tc.entity, tc.group, tc.header, time.Second)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s/%s %v: %v, want %q", tc.entity, tc.group, tc.header, err, tc.want)
		}
	}
	// A byte order mark before the first column name is not part of it.
	if _, err := newCSVConverter(snap, "user", "profile", []string{"\uFEFFuser_id", "age"}, time.Second); err != nil {
		t.Errorf("header with a BOM: %v", err)
	}
}

func TestGuessJSONKey(t *testing.T) {
	snap := csvSnapshot(t)
	for in, want := range map[string]string{
		`{"entity":"user_item","feature_group":"g","keys":{"sku":"a/b","user_id":42}}`: "user_item/g/42/a%2Fb",
		`{"entity":"other","feature_group":"g","keys":{"b":2,"a":"x"}}`:                "other/g/x/2",
		`{"entity":"user_item","keys":{"user_id":1}}`:                                  "user_item//1/",
		`not json`:                        "",
		`{"feature_group":"g","keys":{}}`: "",
	} {
		if got := GuessJSONKey(snap, []byte(in)); got != want {
			t.Errorf("GuessJSONKey(%s) = %q, want %q", in, got, want)
		}
	}
}
