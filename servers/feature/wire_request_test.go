package feature

import (
	"math/rand/v2"
	"strconv"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	featurev1 "github.com/ofstack/ofs/proto/ofs/feature/v1"
)

// randomRequest returns a RetrieveRequest that uses every field, some of
// them more than once, with unknown fields between them when unknown is set.
func randomRequest(r *rand.Rand, unknown bool) []byte {
	req := &featurev1.RetrieveRequest{Entity: []string{"", "user", "user_item", "é"}[r.IntN(4)], TypedValues: r.IntN(2) == 0,
		Compact: r.IntN(2) == 0, ColumnsRevision: []uint64{0, 1, 1 << 40}[r.IntN(3)]}
	for range r.IntN(3) {
		k := &featurev1.EntityKey{}
		for range r.IntN(3) {
			k.Values = append(k.Values, strconv.Itoa(r.IntN(1000)))
		}
		req.Keys = append(req.Keys, k)
	}
	for range r.IntN(4) {
		g := &featurev1.GroupSelection{FeatureGroup: "g" + strconv.Itoa(r.IntN(9))}
		for range r.IntN(3) {
			g.Features = append(g.Features, "f"+strconv.Itoa(r.IntN(50)))
		}
		req.Groups = append(req.Groups, g)
	}
	for range r.IntN(200) {
		req.KeyValues = append(req.KeyValues, []string{"", strconv.Itoa(r.IntN(1_000_000)), "ü-" + strconv.Itoa(r.IntN(99))}[r.IntN(3)])
	}
	b, err := proto.Marshal(req)
	if err != nil {
		panic(err)
	}
	if !unknown {
		return b
	}
	b = protowire.AppendTag(b, 99, protowire.VarintType)
	b = protowire.AppendVarint(b, r.Uint64())
	b = protowire.AppendTag(b, reqKeyValues, protowire.VarintType) // a known field of the wrong type is unknown
	b = protowire.AppendVarint(b, 7)
	b = protowire.AppendTag(b, reqEntity, protowire.Fixed32Type)
	b = protowire.AppendFixed32(b, 7)
	b = protowire.AppendTag(b, 200, protowire.BytesType)
	b = protowire.AppendBytes(b, []byte("not a field of ours"))
	if r.IntN(2) == 0 { // a second entity and typed_values: the last one counts
		b = protowire.AppendTag(b, reqEntity, protowire.BytesType)
		b = protowire.AppendString(b, "again")
		b = protowire.AppendTag(b, reqTypedValues, protowire.VarintType)
		b = protowire.AppendVarint(b, uint64(r.IntN(3)))
		b = protowire.AppendTag(b, reqCompact, protowire.VarintType)
		b = protowire.AppendVarint(b, uint64(r.IntN(3)))
		b = protowire.AppendTag(b, reqColumnsRev, protowire.VarintType)
		b = protowire.AppendVarint(b, r.Uint64())
	}
	return b
}

// sameAsProto decodes b both ways and fails unless they agree: both refuse
// it, or both give equal messages (unknown fields aside, which
// unmarshalRetrieveRequest drops).
func sameAsProto(t *testing.T, b []byte) {
	t.Helper()
	want := &featurev1.RetrieveRequest{}
	wantErr := proto.Unmarshal(b, want)
	got := &featurev1.RetrieveRequest{Entity: "stale", KeyValues: []string{"stale"}}
	gotErr := unmarshalRetrieveRequest(append([]byte(nil), b...), got)
	if (wantErr == nil) != (gotErr == nil) {
		t.Fatalf("proto.Unmarshal: %v; unmarshalRetrieveRequest: %v (input %x)", wantErr, gotErr, b)
	}
	if wantErr != nil {
		return
	}
	want.ProtoReflect().SetUnknown(nil)
	if !proto.Equal(got, want) {
		t.Fatalf("decoded\n%v\nwant\n%v\n(input %x)", got, want, b)
	}
}

func TestUnmarshalRetrieveRequest(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 2000 {
		sameAsProto(t, randomRequest(r, i%2 == 1))
	}
	sameAsProto(t, nil)
}

func TestUnmarshalRetrieveRequestRefuses(t *testing.T) {
	valid := randomRequest(rand.New(rand.NewPCG(3, 4)), false)
	for name, b := range map[string][]byte{
		"key value not UTF-8": protowire.AppendString(protowire.AppendTag(nil, reqKeyValues, protowire.BytesType), "\xff\xfe"),
		"entity not UTF-8":    protowire.AppendString(protowire.AppendTag(nil, reqEntity, protowire.BytesType), "a\xc0"),
		"group not UTF-8": protowire.AppendBytes(protowire.AppendTag(nil, reqGroups, protowire.BytesType),
			protowire.AppendString(protowire.AppendTag(nil, 1, protowire.BytesType), "\xff")),
		"truncated":             valid[:len(valid)-1],
		"length past the end":   append(protowire.AppendTag(nil, reqKeyValues, protowire.BytesType), 9, 'a'),
		"field number 0":        {0x02, 0x00},
		"end group without one": protowire.AppendTag(nil, 7, protowire.EndGroupType),
	} {
		t.Run(name, func(t *testing.T) {
			if err := unmarshalRetrieveRequest(b, &featurev1.RetrieveRequest{}); err == nil {
				t.Fatalf("accepted %x", b)
			}
			sameAsProto(t, b)
		})
	}
}

func FuzzUnmarshalRetrieveRequest(f *testing.F) {
	r := rand.New(rand.NewPCG(5, 6))
	for i := range 8 {
		f.Add(randomRequest(r, i%2 == 1))
	}
	f.Fuzz(sameAsProto)
}

// BenchmarkUnmarshalRetrieveRequest compares the hand-written decoder of a
// Retrieve of 100 keys with proto.Unmarshal.
func BenchmarkUnmarshalRetrieveRequest(b *testing.B) {
	req := &featurev1.RetrieveRequest{Entity: "user", Groups: []*featurev1.GroupSelection{{FeatureGroup: "user_activity"}}}
	for i := range 100 {
		req.KeyValues = append(req.KeyValues, strconv.Itoa(100_000+i*7919))
	}
	raw, err := proto.Marshal(req)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("hand", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			// The codec's copy of gRPC's buffers, as a server makes it.
			if err := unmarshalRetrieveRequest(append([]byte(nil), raw...), &featurev1.RetrieveRequest{}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("proto", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if err := proto.Unmarshal(raw, &featurev1.RetrieveRequest{}); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// TestUnmarshalRetrieveRequestKnowsEveryField fails when a field is added
// to RetrieveRequest: unmarshalRetrieveRequest would drop it as unknown.
func TestUnmarshalRetrieveRequestKnowsEveryField(t *testing.T) {
	want := []protowire.Number{reqEntity, reqKeys, reqGroups, reqTypedValues, reqKeyValues, reqCompact, reqColumnsRev}
	fields := (&featurev1.RetrieveRequest{}).ProtoReflect().Descriptor().Fields()
	if fields.Len() != len(want) {
		t.Fatalf("RetrieveRequest has %d fields, unmarshalRetrieveRequest reads %d", fields.Len(), len(want))
	}
	for i, n := range want {
		if f := fields.Get(i); f.Number() != n {
			t.Errorf("RetrieveRequest field %d (%s) is number %d, unmarshalRetrieveRequest reads %d", i, f.Name(), f.Number(), n)
		}
	}
}
