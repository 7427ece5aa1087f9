package schema

import (
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	registryv1 "github.com/ofstack/ofs/proto/ofs/registry/v1"
)

// TestDataTypeMatchesProto: every DataType has the proto enum value of the
// same number and name, and no proto value lacks a DataType.
func TestDataTypeMatchesProto(t *testing.T) {
	for _, dt := range append([]DataType{Invalid}, DataTypes()...) {
		p := DataTypeToProto(dt)
		want := "DATA_TYPE_" + strings.ToUpper(dt.String())
		if dt == Invalid {
			want = "DATA_TYPE_UNSPECIFIED"
		}
		if p.String() != want || int32(p) != int32(dt) {
			t.Errorf("%v (%d) -> %v (%d), want %s", dt, dt, p, p, want)
		}
		if DataTypeFromProto(p) != dt {
			t.Errorf("%v does not come back", dt)
		}
	}
	if n := len(registryv1.DataType_name); n != len(DataTypes())+1 {
		t.Errorf("proto has %d data types, schema %d", n, len(DataTypes())+1)
	}
	for _, bad := range []registryv1.DataType{-1, 16, 256, math.MaxInt32} {
		if DataTypeFromProto(bad).Valid() {
			t.Errorf("proto %d maps to a valid type", bad)
		}
	}
	for k := Redis; k <= Scylla; k++ {
		if p := StoreKindToProto(k); p.String() != "STORE_KIND_"+strings.ToUpper(k.String()) || StoreKindFromProto(p) != k {
			t.Errorf("store kind %v -> %v", k, p)
		}
	}
	if StoreKindFromProto(-3).Valid() || StoreKindFromProto(4).Valid() {
		t.Error("an unknown proto store kind maps to a valid one")
	}
}

// TestRegistryProtoRoundTrip: state -> proto -> bytes -> state keeps every
// field, and the proto's list order does not matter.
func TestRegistryProtoRoundTrip(t *testing.T) {
	r, _ := replay(t, history())
	p := r.ToProto()
	back, err := RegistryFromProto(p)
	if err != nil {
		t.Fatalf("from proto: %v", err)
	}
	if !reflect.DeepEqual(back, r) {
		t.Error("round trip through the proto changed the state")
	}
	// Shuffled lists decode to the same state.
	q := proto.Clone(p).(*registryv1.Registry)
	reverse(q.Stores)
	reverse(q.Entities)
	reverse(q.FeatureGroups)
	shuffled, err := RegistryFromProto(q)
	if err != nil {
		t.Fatalf("from shuffled proto: %v", err)
	}
	if !sameState(t, shuffled, r) {
		t.Error("list order changes the state")
	}
	// Changing the proto afterwards does not reach the state.
	p.FeatureGroups[0].Versions[0].Features[0].Name = "changed"
	p.Entities[0].Tags["x"] = "y"
	if !reflect.DeepEqual(back, r) {
		t.Error("the state shares memory with the proto")
	}
	// The snapshot of the proto answers like the registry.
	snap, err := SnapshotFromProto(r.ToProto())
	if err != nil {
		t.Fatal(err)
	}
	if snap.Revision() != r.Revision() || len(snap.FeatureGroupsOf("user")) != 1 {
		t.Errorf("snapshot at %d with %d user groups", snap.Revision(), len(snap.FeatureGroupsOf("user")))
	}
	// The empty registry round-trips too.
	empty, err := UnmarshalRegistry(mustMarshal(t, NewRegistry()))
	if err != nil || empty.Revision() != 0 || len(empty.Stores()) != 0 {
		t.Errorf("empty registry: %v", err)
	}
}

func reverse[T any](s []T) {
	for i, j := 0, len(s)-1; i < j; i, j = i+1, j-1 {
		s[i], s[j] = s[j], s[i]
	}
}

// TestRequestProtoRoundTrip: every command kind survives Request -> proto ->
// bytes -> Request.
func TestRequestProtoRoundTrip(t *testing.T) {
	cmds := append(history(),
		AddFeatures{Group: "g", Features: []Feature{
			{Name: "a", Type: Uint64, Default: UintValue(math.MaxUint64), Description: "d", Tags: map[string]string{"k": "v"}},
			{Name: "b", Type: FP32, VectorLength: 3, Default: FloatValue(math.NaN())},
			{Name: "c", Type: Bool},
		}},
		SetDefaults{Group: "g", Defaults: []FeatureDefault{{"a", StringValue("s")}, {"b", BoolValue(false)}, {"c", Value{}}}},
		SetCachePolicy{Group: "g"},
		SetTTL{Group: "g"},
		ApplyFeatureGroup{Name: "g", Entity: "e", Store: "s", ID: 7, TTL: time.Minute,
			Cache: CachePolicy{L1: true, TTL: time.Millisecond}, Description: "x", Tags: map[string]string{"a": "b"},
			Features: []Feature{{Name: "f", Type: Int16, Default: IntValue(-3)}}},
	)
	expects := []Expect{{}, ExpectAbsent(), ExpectRevision(42)}
	for i, c := range cmds {
		req := Request{ID: "id", Actor: "carol", Expect: expects[i%len(expects)], Command: c}
		b, err := proto.Marshal(req.ToProto())
		if err != nil {
			t.Fatalf("%T: marshal: %v", c, err)
		}
		var p registryv1.Command
		if err := proto.Unmarshal(b, &p); err != nil {
			t.Fatal(err)
		}
		back, err := RequestFromProto(&p)
		if err != nil {
			t.Fatalf("%T: from proto: %v", c, err)
		}
		if !reflect.DeepEqual(back, req) {
			t.Errorf("%T: round trip\n got %#v\nwant %#v", c, back, req)
		}
	}
}

func TestRequestFromProtoRejects(t *testing.T) {
	bad := &durationpb.Duration{Seconds: 1, Nanos: -1}
	tests := []struct {
		name string
		cmd  *registryv1.Command
		rule Rule
	}{
		{"nil", nil, RuleCommand},
		{"no command", &registryv1.Command{RequestId: "r"}, RuleCommand},
		{"bad ttl", &registryv1.Command{Command: &registryv1.Command_SetTtl{SetTtl: &registryv1.SetTtl{FeatureGroup: "g", Ttl: bad}}}, RuleDuration},
		{"bad cache ttl", &registryv1.Command{Command: &registryv1.Command_SetCachePolicy{SetCachePolicy: &registryv1.SetCachePolicy{
			FeatureGroup: "g", CachePolicy: &registryv1.CachePolicy{L1: true, Ttl: bad}}}}, RuleDuration},
		{"bad group ttl", &registryv1.Command{Command: &registryv1.Command_ApplyFeatureGroup{ApplyFeatureGroup: &registryv1.ApplyFeatureGroup{
			Name: "g", Ttl: bad}}}, RuleDuration},
		{"bad group cache ttl", &registryv1.Command{Command: &registryv1.Command_ApplyFeatureGroup{ApplyFeatureGroup: &registryv1.ApplyFeatureGroup{
			Name: "g", CachePolicy: &registryv1.CachePolicy{Ttl: bad}}}}, RuleDuration},
	}
	for _, tc := range tests {
		_, err := RequestFromProto(tc.cmd)
		v, ok := AsViolation(err)
		if !ok || v.Rule != tc.rule || !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v, want rule %s", tc.name, err, tc.rule)
		}
		// ApplyProto turns it into a rejected outcome, not a panic.
		r := NewRegistry()
		next, out := r.ApplyProto(tc.cmd, t0)
		if next != r || out.GetRejected().GetRule() != string(tc.rule) {
			t.Errorf("%s: ApplyProto outcome %v", tc.name, out)
		}
	}
}

func TestApplyProto(t *testing.T) {
	r := NewRegistry()
	cmds := history()
	outs := make([]*registryv1.Outcome, 0, len(cmds))
	for i, c := range cmds {
		var out *registryv1.Outcome
		r, out = r.ApplyProto(Request{ID: "r" + itoa(i), Actor: "ci", Command: c}.ToProto(), t0.Add(time.Duration(i)*time.Second))
		outs = append(outs, out)
	}
	if len(r.FeatureGroups()) != 2 || outs[4].GetApplied().GetFeatureGroupId() != 1 || outs[4].GetRequestId() != "r4" {
		t.Errorf("ApplyProto: %d groups, outcome %v", len(r.FeatureGroups()), outs[4])
	}
	// A rejection carries code, rule, subject and message.
	_, out := r.ApplyProto(Request{ID: "bad", Actor: "ci", Command: AddFeatures{Group: "user_stats",
		Features: []Feature{{Name: "clicks", Type: Int64}}}}.ToProto(), t0)
	rej := out.GetRejected()
	if rej.GetCode() != registryv1.RejectCode_REJECT_CODE_ALREADY_EXISTS || rej.GetRule() != string(RuleFeatureUnique) ||
		rej.GetSubject() != `feature group "user_stats" feature "clicks"` || !strings.Contains(rej.GetMessage(), "clicks") ||
		rej.GetRevision() != r.Revision() {
		t.Errorf("rejection %v", rej)
	}
}

// TestOutcomeProtoRoundTrip: applied and rejected outcomes survive the proto,
// a rejection keeping its sentinel, rule and message.
func TestOutcomeProtoRoundTrip(t *testing.T) {
	s := base(t)
	applied := s.do(AddFeatures{Group: "user_stats", Features: []Feature{{Name: "n", Type: Int64}}})
	req := s.req(userStats())
	req.Expect = ExpectRevision(1)
	_, stale, _ := s.r.Apply(req, s.now)
	_, bad, _ := s.r.Apply(s.req(DeleteStore{ID: "redis_main"}), s.now)
	for _, o := range []Outcome{applied, stale, bad, {RequestID: "x", Noop: true, Revision: 9, ModRevision: 4}} {
		b, err := proto.Marshal(o.ToProto())
		if err != nil {
			t.Fatal(err)
		}
		var p registryv1.Outcome
		if err := proto.Unmarshal(b, &p); err != nil {
			t.Fatal(err)
		}
		back := OutcomeFromProto(&p)
		if back.RequestID != o.RequestID || back.Revision != o.Revision || back.ModRevision != o.ModRevision || back.Noop != o.Noop ||
			back.FeatureGroupID != o.FeatureGroupID || back.FeatureGroupVersion != o.FeatureGroupVersion {
			t.Errorf("round trip %+v -> %+v", o, back)
		}
		if o.Err == nil {
			if back.Err != nil {
				t.Errorf("applied outcome came back with %v", back.Err)
			}
			continue
		}
		if back.Err.Error() != o.Err.Error() || RejectCode(back.Err) != RejectCode(o.Err) {
			t.Errorf("rejection %q came back as %q", o.Err, back.Err)
		}
	}
	if !errors.Is(OutcomeFromProto(stale.ToProto()).Err, ErrStale) {
		t.Error("a stale outcome does not say ErrStale on the client")
	}
	if OutcomeFromProto(&registryv1.Outcome{}).Err == nil {
		t.Error("an outcome without result reads as applied")
	}
	// Texts that are not UTF-8 are made so, as proto needs.
	o := Outcome{RequestID: "r\xff", Err: violation(ErrInvalid, RuleText, "x\xfe", "d\xfd")}
	if _, err := proto.Marshal(o.ToProto()); err != nil {
		t.Errorf("outcome with invalid UTF-8 does not marshal: %v", err)
	}
}

// TestRegistryFromProtoRefusesCorrupt: a state that breaks an invariant is
// refused with ErrCorrupt, naming the object and the rule.
func TestRegistryFromProtoRefusesCorrupt(t *testing.T) {
	good, _ := replay(t, history())
	groupIdx := func(p *registryv1.Registry, name string) *registryv1.FeatureGroup {
		for _, g := range p.FeatureGroups {
			if g.Name == name {
				return g
			}
		}
		t.Fatalf("no group %s", name)
		return nil
	}
	tests := []struct {
		name string
		mod  func(p *registryv1.Registry)
		rule Rule
		want string
	}{
		{"store twice", func(p *registryv1.Registry) { p.Stores = append(p.Stores, p.Stores[0]) }, RuleState, `store "redis_main"`},
		{"entity twice", func(p *registryv1.Registry) { p.Entities = append(p.Entities, p.Entities[0]) }, RuleState, `entity "item"`},
		{"group id twice", func(p *registryv1.Registry) {
			g := proto.Clone(p.FeatureGroups[0]).(*registryv1.FeatureGroup)
			g.Name = "copy"
			p.FeatureGroups = append(p.FeatureGroups, g)
		}, RuleGroupID, `feature group "copy"`},
		{"group name twice", func(p *registryv1.Registry) {
			g := proto.Clone(p.FeatureGroups[0]).(*registryv1.FeatureGroup)
			g.Id = 99
			p.FeatureGroups = append(p.FeatureGroups, g)
		}, RuleGroupName, `feature group "user_stats"`},
		{"live and deleted id", func(p *registryv1.Registry) { p.DeletedFeatureGroups[0].Id = 1 }, RuleGroupID, "both live and deleted"},
		{"deleted id twice", func(p *registryv1.Registry) {
			p.DeletedFeatureGroups = append(p.DeletedFeatureGroups, p.DeletedFeatureGroups[0])
		}, RuleGroupID, "listed twice"},
		{"deleted id 0", func(p *registryv1.Registry) { p.DeletedFeatureGroups[0].Id = 0 }, RuleGroupID, "id 0"},
		{"deleted in the future", func(p *registryv1.Registry) { p.DeletedFeatureGroups[0].DeleteRevision = 1000 }, RuleRevisionOrder, "delete revision"},
		{"deleted bad time", func(p *registryv1.Registry) { p.DeletedFeatureGroups[0].DeletedAt = nil }, RuleTimestamp, "deleted_at"},
		{"store bad kind", func(p *registryv1.Registry) { p.Stores[0].Kind = 0 }, RuleStoreKind, `store "redis_main"`},
		{"entity float key", func(p *registryv1.Registry) { p.Entities[0].KeyColumns[0].Type = registryv1.DataType_DATA_TYPE_FP64 }, RuleKeyType, `key column "item_id"`},
		{"meta revision ahead", func(p *registryv1.Registry) { p.Entities[0].Meta.ModRevision = 1000 }, RuleRevisionOrder, `entity "item"`},
		{"meta create after mod", func(p *registryv1.Registry) { p.Stores[0].Meta.CreateRevision = 17 }, RuleRevisionOrder, `store "redis_main"`},
		{"meta no time", func(p *registryv1.Registry) { p.Stores[0].Meta.CreatedAt = nil }, RuleTimestamp, "created_at"},
		{"meta time out of range", func(p *registryv1.Registry) {
			p.Stores[0].Meta.UpdatedAt = &timestamppb.Timestamp{Seconds: math.MaxInt64}
		}, RuleTimestamp, "updated_at"},
		{"meta no actor", func(p *registryv1.Registry) { p.Stores[0].Meta.UpdatedBy = "" }, RuleRequired, "updated_by"},
		{"group id 0", func(p *registryv1.Registry) { groupIdx(p, "user_stats").Id = 0 }, RuleGroupID, "id is 0"},
		{"group without versions", func(p *registryv1.Registry) { groupIdx(p, "user_stats").Versions = nil }, RuleVersionSequence, "no versions"},
		{"group version gap", func(p *registryv1.Registry) { groupIdx(p, "user_stats").Versions[1].Number = 5 }, RuleVersionSequence, "version 5 is at position 2"},
		{"group version repeated", func(p *registryv1.Registry) {
			g := groupIdx(p, "user_stats")
			g.Versions[1].Features = g.Versions[0].Features
			g.Versions[2].Features = g.Versions[0].Features
		}, RuleVersionSequence, "repeats"},
		{"group version revision order", func(p *registryv1.Registry) { groupIdx(p, "user_stats").Versions[1].Revision = 2 }, RuleRevisionOrder, "version 2"},
		{"group entity gone", func(p *registryv1.Registry) { groupIdx(p, "item_stats").Entity = "nobody" }, RuleReference, `entity "nobody"`},
		{"group store gone", func(p *registryv1.Registry) { groupIdx(p, "item_stats").Store = "nowhere" }, RuleReference, `store "nowhere"`},
		{"group bad ttl", func(p *registryv1.Registry) { groupIdx(p, "item_stats").Ttl = durationpb.New(-time.Second) }, RuleTTL, "negative"},
		{"group malformed ttl", func(p *registryv1.Registry) {
			groupIdx(p, "item_stats").Ttl = &durationpb.Duration{Seconds: -1, Nanos: 1}
		}, RuleDuration, "ttl"},
		{"feature type changed across versions", func(p *registryv1.Registry) {
			groupIdx(p, "user_stats").Versions[0].Features[0].Type = registryv1.DataType_DATA_TYPE_INT32
		}, RuleFeatureTypeFixed, `feature "clicks"`},
		{"default not canonical", func(p *registryv1.Registry) {
			f := groupIdx(p, "item_stats").Versions[0].Features[0]
			f.DefaultValue = &registryv1.Value{Kind: &registryv1.Value_IntValue{IntValue: 1}}
		}, RuleDefaultCanonical, `feature "price"`},
		{"default missing", func(p *registryv1.Registry) {
			groupIdx(p, "item_stats").Versions[0].Features[0].DefaultValue = nil
		}, RuleDefaultCanonical, `feature "price"`},
		{"default out of range", func(p *registryv1.Registry) {
			g := groupIdx(p, "tmp_probe")
			g.Versions[0].Features[0].DefaultValue = &registryv1.Value{Kind: &registryv1.Value_IntValue{IntValue: 1000}}
		}, RuleDefault, `feature "t"`},
		{"feature named like a key", func(p *registryv1.Registry) {
			groupIdx(p, "item_stats").Versions[0].Features[0].Name = "market"
		}, RuleFeatureUnique, `feature "market"`},
		{"feature bad vector", func(p *registryv1.Registry) {
			groupIdx(p, "user_stats").Versions[0].Features[2].VectorLength = MaxVectorLength + 1
		}, RuleVectorLength, `feature "embedding"`},
	}
	// A group whose only feature is an int8, for the range case.
	s := newSeq(t)
	for _, c := range history() {
		s.do(c)
	}
	s.do(ApplyFeatureGroup{Name: "tmp_probe", Entity: "user", Store: "redis_main", Features: []Feature{{Name: "t", Type: Int8}}})
	good = s.r
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := good.ToProto()
			tc.mod(p)
			_, err := RegistryFromProto(p)
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %v, want ErrCorrupt", err)
			}
			if errors.Is(err, ErrInvalid) {
				t.Error("a corrupt state also reads as an invalid command")
			}
			v, ok := AsViolation(err)
			if !ok || v.Rule != tc.rule {
				t.Errorf("error %v, want rule %s", err, tc.rule)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("message %q lacks %q", err, tc.want)
			}
		})
	}
	if _, err := UnmarshalRegistry([]byte{0xff, 0xff}); !errors.Is(err, ErrCorrupt) {
		t.Errorf("garbage bytes: %v", err)
	}
}

func TestObjectProtos(t *testing.T) {
	s := base(t)
	g, _ := s.r.FeatureGroup("user_stats")
	pg := g.ToProto()
	if pg.GetId() != 1 || len(pg.GetVersions()) != 1 || pg.GetTtl().AsDuration() != 24*time.Hour ||
		pg.GetCachePolicy().GetTtl().AsDuration() != 5*time.Second || pg.GetMeta().GetModRevision() != 3 {
		t.Errorf("group proto %v", pg)
	}
	back, err := FeatureGroupFromProto(pg)
	if err != nil || !reflect.DeepEqual(back, g) {
		t.Errorf("group round trip: %v", err)
	}
	e, _ := s.r.Entity("user")
	if eb, err := EntityFromProto(e.ToProto()); err != nil || !reflect.DeepEqual(eb, e) {
		t.Errorf("entity round trip: %v", err)
	}
	st, _ := s.r.Store("redis_main")
	if sb, err := StoreFromProto(st.ToProto()); err != nil || !reflect.DeepEqual(sb, st) {
		t.Errorf("store round trip: %v", err)
	}
	f := g.Active().Features[3]
	if fb := FeatureFromProto(f.ToProto()); !reflect.DeepEqual(fb, f) {
		t.Errorf("feature round trip %+v -> %+v", f, fb)
	}
	// A zero TTL is left unset, so that "never expires" has one encoding.
	if (&FeatureGroup{}).ToProto().Ttl != nil || (CachePolicy{}).ToProto().Ttl != nil {
		t.Error("zero durations are encoded")
	}
}
