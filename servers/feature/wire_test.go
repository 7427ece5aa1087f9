package feature

import (
	"bytes"
	"math/rand/v2"
	"strconv"
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	featurev1 "github.com/ofstack/ofs/proto/ofs/feature/v1"
	registryv1 "github.com/ofstack/ofs/proto/ofs/registry/v1"
)

// randomResponse is an answer with every field set or left empty at
// random, and the edge values of each: negative int32s and enums, empty
// strings in a repeated field, empty matrices.
func randomResponse(rng *rand.Rand) *featurev1.RetrieveResponse {
	pick := func(vals ...string) string { return vals[rng.IntN(len(vals))] }
	resp := &featurev1.RetrieveResponse{RegistryRevision: []uint64{0, 1, 1 << 40}[rng.IntN(3)]}
	for range rng.IntN(6) {
		resp.Columns = append(resp.Columns, &featurev1.Column{
			FeatureGroup: pick("", "g", "ünïcode"), Name: pick("", "f01", "a longer feature name"),
			Type:         registryv1.DataType(rng.IntN(20)) - 1,
			VectorLength: []uint32{0, 3, 300}[rng.IntN(3)], Matrix: int32(rng.IntN(5)) - 2,
			Offset: []uint32{0, 7, 1 << 20}[rng.IntN(3)],
		})
	}
	for range rng.IntN(4) {
		data := make([]byte, []int{0, 4, 20000}[rng.IntN(3)])
		for i := range data {
			data[i] = byte(rng.Uint32())
		}
		resp.Matrices = append(resp.Matrices, &featurev1.DenseMatrix{
			Type: registryv1.DataType(rng.IntN(12)), Width: uint32(rng.IntN(3) * 50), Data: data})
	}
	for range rng.IntN(120) {
		row := &featurev1.Row{}
		for range rng.IntN(4) {
			row.Found = append(row.Found, rng.IntN(2) == 1)
		}
		for range rng.IntN(3) {
			row.Strings = append(row.Strings, pick("", "x", "a string value"))
		}
		for range rng.IntN(3) {
			v := []*featurev1.Value{
				{Kind: &featurev1.Value_FloatValue{FloatValue: rng.Float32()}},
				{Kind: &featurev1.Value_StringValue{StringValue: pick("", "s")}},
				{Kind: &featurev1.Value_Int64Value{Int64Value: -rng.Int64()}},
				{},
			}[rng.IntN(4)]
			row.Values = append(row.Values, v)
		}
		resp.Rows = append(resp.Rows, row)
	}
	for range rng.IntN(3) * rng.IntN(200) { // the compact form
		resp.Found = append(resp.Found, rng.IntN(2) == 1)
	}
	for range rng.IntN(3) * rng.IntN(20) {
		resp.Strings = append(resp.Strings, pick("", "x", "a string value"))
	}
	return resp
}

// TestAppendRetrieveResponse: the hand-written marshal gives proto.Marshal's
// bytes for random answers, appending after what dst holds.
func TestAppendRetrieveResponse(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 2000 {
		resp := randomResponse(rng)
		want, err := proto.Marshal(resp)
		if err != nil {
			t.Fatal(err)
		}
		got, err := appendRetrieveResponse([]byte("prefix"), resp)
		if err != nil {
			t.Fatalf("answer %d: %v", i, err)
		}
		if !bytes.HasPrefix(got, []byte("prefix")) || !bytes.Equal(got[len("prefix"):], want) {
			t.Fatalf("answer %d: %d bytes, proto.Marshal gives %d\n%v", i, len(got)-len("prefix"), len(want), resp)
		}
	}
}

// TestAppendRetrieveResponseKnowsEveryField fails when a field is added to
// a message that appendRetrieveResponse writes by hand: it must learn it.
func TestAppendRetrieveResponseKnowsEveryField(t *testing.T) {
	known := map[protoreflect.FullName][]protoreflect.FieldNumber{
		"ofs.feature.v1.RetrieveResponse": {1, 2, 3, 4, 5, 6},
		"ofs.feature.v1.Column":           {1, 2, 3, 4, 5, 6},
		"ofs.feature.v1.DenseMatrix":      {1, 2, 3},
		"ofs.feature.v1.Row":              {1, 2, 3},
	}
	for _, m := range []proto.Message{&featurev1.RetrieveResponse{}, &featurev1.Column{}, &featurev1.DenseMatrix{}, &featurev1.Row{}} {
		d := m.ProtoReflect().Descriptor()
		want := known[d.FullName()]
		if d.Fields().Len() != len(want) {
			t.Errorf("%s has %d fields, appendRetrieveResponse writes %d", d.FullName(), d.Fields().Len(), len(want))
			continue
		}
		for i, n := range want {
			if f := d.Fields().Get(i); f.Number() != n {
				t.Errorf("%s field %d is number %d, appendRetrieveResponse writes %d", d.FullName(), i, f.Number(), n)
			}
		}
	}
}

// TestAppendRetrieveResponseRefusesBadUTF8 as proto.Marshal does, in each
// string field.
func TestAppendRetrieveResponseRefusesBadUTF8(t *testing.T) {
	bad := string([]byte{0xff, 0xfe})
	for name, resp := range map[string]*featurev1.RetrieveResponse{
		"column name":  {Columns: []*featurev1.Column{{Name: bad}}},
		"column group": {Columns: []*featurev1.Column{{FeatureGroup: bad}}},
		"row string":   {Rows: []*featurev1.Row{{Strings: []string{"ok", bad}}}},
		"strings":      {Strings: []string{"ok", bad}},
	} {
		if _, err := proto.Marshal(resp); err == nil {
			t.Fatalf("%s: proto.Marshal accepted invalid UTF-8", name)
		}
		if _, err := appendRetrieveResponse(nil, resp); err == nil {
			t.Errorf("%s: appendRetrieveResponse accepted invalid UTF-8", name)
		}
	}
}

// TestAppendRetrieveResponseUnknownFields: a message carrying unknown
// fields is written as proto.Marshal writes it.
func TestAppendRetrieveResponseUnknownFields(t *testing.T) {
	row := &featurev1.Row{Found: []bool{true}}
	row.ProtoReflect().SetUnknown(protoreflect.RawFields{0xa8, 0x1f, 0x01}) // field 500, varint 1
	resp := &featurev1.RetrieveResponse{Rows: []*featurev1.Row{row}, RegistryRevision: 3}
	want, err := proto.Marshal(resp)
	if err != nil {
		t.Fatal(err)
	}
	got, err := appendRetrieveResponse(nil, resp)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("got %x, %v; want %x", got, err, want)
	}
}

func BenchmarkAppendRetrieveResponse(b *testing.B) {
	resp := &featurev1.RetrieveResponse{RegistryRevision: 7,
		Matrices: []*featurev1.DenseMatrix{{Type: registryv1.DataType_DATA_TYPE_FP32, Width: 50, Data: make([]byte, 100*50*4)}}}
	for i := range 50 {
		resp.Columns = append(resp.Columns, &featurev1.Column{FeatureGroup: "wide50", Name: "f" + string(rune('a'+i%26)),
			Type: registryv1.DataType_DATA_TYPE_FP32, Offset: uint32(i)})
	}
	for range 100 {
		resp.Rows = append(resp.Rows, &featurev1.Row{Found: []bool{true}})
	}
	b.Run("proto.Marshal", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := proto.Marshal(resp); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("append", func(b *testing.B) {
		b.ReportAllocs()
		buf := make([]byte, 0, 32<<10)
		for b.Loop() {
			if _, err := appendRetrieveResponse(buf[:0], resp); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkUnmarshalRetrieveResponse is what a client pays to decode an
// answer of 100 keys x 50 fp32 in each form: with a Row message per key and
// the columns (the plain form), compact, and compact without the columns
// (a client that holds them, columns_revision).
func BenchmarkUnmarshalRetrieveResponse(b *testing.B) {
	answer := func(rows, columns bool) []byte {
		resp := &featurev1.RetrieveResponse{RegistryRevision: 7,
			Matrices: []*featurev1.DenseMatrix{{Type: registryv1.DataType_DATA_TYPE_FP32, Width: 50, Data: make([]byte, 100*50*4)}}}
		if columns {
			for i := range 50 {
				resp.Columns = append(resp.Columns, &featurev1.Column{FeatureGroup: "wide50", Name: "f" + strconv.Itoa(i),
					Type: registryv1.DataType_DATA_TYPE_FP32, Offset: uint32(i)})
			}
		}
		for range 100 {
			if rows {
				resp.Rows = append(resp.Rows, &featurev1.Row{Found: []bool{true}})
			} else {
				resp.Found = append(resp.Found, true)
			}
		}
		out, err := proto.Marshal(resp)
		if err != nil {
			b.Fatal(err)
		}
		return out
	}
	for _, form := range []struct {
		name          string
		rows, columns bool
	}{{"rows", true, true}, {"compact", false, true}, {"compact-no-columns", false, false}} {
		wire := answer(form.rows, form.columns)
		b.Run(form.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				var m featurev1.RetrieveResponse
				if err := proto.Unmarshal(wire, &m); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
