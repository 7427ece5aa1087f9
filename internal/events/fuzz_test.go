package events

import (
	"encoding/json"
	"errors"
	"math"
	"strconv"
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/ofstack/ofs/codec"
	featurev1 "github.com/ofstack/ofs/proto/ofs/feature/v1"
)

// FuzzDecode holds Decode to its contract on any bytes: it never panics; it
// either rejects with a known code and a reason, or returns a block that
// verifies, of the group's active version, at the row's event time.
func FuzzDecode(f *testing.F) {
	f.Add([]byte(exampleJSON), "")
	f.Add([]byte(ev(`{"counts":[1,2,3],"tags":["a","b"],"flags":[true,false],"big":18446744073709551615}`)), "application/json")
	f.Add([]byte(`{"entity":"user","keys":{"user_id":1},"feature_group":"user_profile","event_time":"2026-11-25T10:00:00Z","schema_version":1,"positional_values":[5,0.5,[1,2],"NL",true,1.5,9,[1,2,3],["p","q"],[true,true],1,2,3]}`), "")
	pb := &featurev1.FeatureEvent{Entity: "user", FeatureGroup: "user_profile", EventTime: timestamppb.New(now),
		Keys: map[string]*featurev1.Value{"user_id": {Kind: &featurev1.Value_Int64Value{Int64Value: 1}}},
		Values: map[string]*featurev1.Value{
			"embedding": {Kind: &featurev1.Value_FloatList{FloatList: &featurev1.FloatList{Values: []float32{1, 2}}}},
			"counts":    {Kind: &featurev1.Value_Int64List{Int64List: &featurev1.Int64List{Values: []int64{1, 2, 3}}}},
			"country":   {Kind: &featurev1.Value_StringValue{StringValue: "x"}},
		}}
	b, err := proto.Marshal(pb)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b, "")
	f.Add(b, "application/x-protobuf")

	known := map[Code]bool{}
	for _, c := range []Code{CodeEmpty, CodeOversize, CodeBadContentType, CodeBadJSON, CodeBadProtobuf, CodeKeyMismatch,
		CodeUnknownEntity, CodeUnknownGroup, CodeWrongEntity, CodeUnknownFeature, CodeUnknownVersion, CodeMissingKey,
		CodeExtraKey, CodeBadKey, CodeWrongType, CodeWrongLength, CodeOutOfRange, CodeBadValue, CodeDuplicateFeature,
		CodeMixedValues, CodeWrongValueCount, CodeMissingEventTime, CodeBadEventTime} {
		known[c] = true
	}
	snap := fixture(f)
	f.Fuzz(func(t *testing.T, value []byte, contentType string) {
		d := newDecoder()
		row, out, err := d.Decode(snap, Message{Value: value, ContentType: contentType, Timestamp: now}, nil)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || !known[e.Code] || e.Reason == "" {
				t.Fatalf("error %#v: want a rejection with a known code and a reason", err)
			}
			return
		}
		h, verr := codec.Verify(row.Block)
		switch {
		case verr != nil:
			t.Fatalf("block does not verify: %v", verr)
		case len(out) != len(row.Block):
			t.Fatalf("returned %d bytes, block %d", len(out), len(row.Block))
		case h.SchemaVersion != row.Group.Active().Number || h.EventTime != row.EventTime:
			t.Fatalf("header %+v for row at %d of version %d", h, row.EventTime, row.Group.Active().Number)
		case len(row.Key.Values) != len(row.Entity.Keys) || row.Group.Entity != row.Entity.Name:
			t.Fatalf("row key %v of entity %s, group of %s", row.Key, row.Entity.Name, row.Group.Entity)
		}
	})
}

// FuzzJSON compares the JSON scanner with encoding/json: what is not JSON
// is always rejected as bad_json, whatever else is wrong with it.
func FuzzJSON(f *testing.F) {
	for _, s := range []string{
		exampleJSON,
		ev(`{"tags":["a\"b","\u00e9\ud83d\ude00"],"counts":[1,-0,3e0],"flags":[true,false]}`),
		`{"entity":"user","keys":{"user_id":"1"},"feature_group":"user_profile","values":{"age":1e2}}`,
		`{"entity":"user","keys":{"user_id":1},"feature_group":"user_profile","event_time":null,"values":null}`,
		`{"entity":"user" , "keys" : { "user_id" : 1 } , "feature_group":"user_profile","schema_version":1,"positional_values":[1,2,[3,4],"x",true,1,1,[1,2,3],["a","b"],[true,false],1,1,1]}`,
		`{"a":[[[[]]]],"b":{"c":{}}}`, `{"entity":01}`, `{"entity":"\x"}`, `{"entity":1.}`, `{"entity":-}`, `[`, `{`, `{"entity":"user",}`,
	} {
		f.Add([]byte(s))
	}
	snap := fixture(f)
	f.Fuzz(func(t *testing.T, value []byte) {
		_, _, err := newDecoder().Decode(snap, Message{Value: value, ContentType: "application/json", Timestamp: now}, nil)
		if json.Valid(value) || len(value) == 0 { // empty is its own code
			return
		}
		var e *Error
		if !errors.As(err, &e) || e.Code != CodeBadJSON {
			t.Fatalf("%q is not JSON, but the decoder said %v", value, err)
		}
	})
}

// FuzzParseFloat: the value the scanner reads as it scans a JSON number
// agrees with strconv, bit for bit, on every literal it reads exactly, and
// so does the value of every other number.
func FuzzParseFloat(f *testing.F) {
	for _, s := range []string{"0", "-0", "0.25", "31", "-1.5", "0.000001", "123456789012345", "1234567890123456",
		"0.1", "49.999", "1e5", "9007199254740993", "3.4028235e38"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want, werr := strconv.ParseFloat(s, 64)
		sc := scanner{b: []byte(s)}
		if s == "" || s[0] != '-' && !isDigit(s[0]) {
			return
		}
		var n jv
		if err := sc.number(&n); err != nil || sc.i != len(s) {
			return
		}
		if n.exact && (werr != nil || math.Float64bits(n.f) != math.Float64bits(want)) {
			t.Fatalf("the exact value of %q = %v, strconv %v (%v)", s, n.f, want, werr)
		}
		if werr == nil {
			if got, err := n.float(); err != nil || math.Float64bits(got) != math.Float64bits(want) {
				t.Fatalf("the scanned value of %q = %v (exact %v), %v; strconv %v", s, got, n.exact, err, want)
			}
		}
	})
}

// TestNumberExact: the literals of the fast path are read exactly as they
// are scanned, and no other is.
func TestNumberExact(t *testing.T) {
	for s, exact := range map[string]bool{"0": true, "-0": true, "0.25": true, "-1.5": true, "0.000001": true,
		"123456789012345": true, "1234567890123456": false, "1e5": false, "0.5E-3": false, "49.999": true} {
		var n jv
		sc := scanner{b: []byte(s)}
		if err := sc.number(&n); err != nil {
			t.Fatalf("number(%q): %v", s, err)
		}
		if n.exact != exact {
			t.Errorf("number(%q): exact %v, want %v", s, n.exact, exact)
		}
	}
}
