package schema

import (
	"bytes"
	"errors"
	"maps"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func TestApplyCreates(t *testing.T) {
	s := newSeq(t)
	out := s.do(redisStore())
	if out.Revision != 1 || out.Noop || !out.Applied() {
		t.Fatalf("store outcome %+v", out)
	}
	st, ok := s.r.Store("redis_main")
	if !ok || st.Kind != Redis || st.Connection != "redis-main" {
		t.Fatalf("store %+v", st)
	}
	want := Meta{CreateRevision: 1, ModRevision: 1, CreatedAt: t0.Add(time.Second), UpdatedAt: t0.Add(time.Second), UpdatedBy: "alice"}
	if st.Meta != want {
		t.Errorf("store meta %+v, want %+v", st.Meta, want)
	}
	s.do(userEntity())
	out = s.do(userStats())
	if out.Revision != 3 || out.FeatureGroupID != 1 || out.FeatureGroupVersion != 1 {
		t.Fatalf("group outcome %+v", out)
	}
	g, ok := s.r.FeatureGroup("user_stats")
	if !ok {
		t.Fatal("group missing")
	}
	if g.ID != 1 || g.Entity != "user" || g.Store != "redis_main" || g.TTL != 24*time.Hour || !g.Cache.L1 || g.Cache.L2 {
		t.Errorf("group %+v", g)
	}
	if len(g.Versions) != 1 || g.Active().Number != 1 || g.Active().Revision != 3 || !g.Active().CreatedAt.Equal(t0.Add(3*time.Second)) {
		t.Fatalf("versions %+v", g.Versions)
	}
	// Defaults are held in their type's canonical kind; a missing one is the
	// type's zero value.
	for name, want := range map[string]Value{
		"clicks": IntValue(0), "ctr": FloatValue(0.5), "embedding": FloatValue(0), "country": StringValue("unknown"),
	} {
		f, ok := g.Active().Feature(name)
		if !ok || f.Default != want {
			t.Errorf("feature %s default %v, want %v", name, f.Default, want)
		}
	}
	if byID, _ := s.r.FeatureGroupByID(1); byID != g {
		t.Error("lookup by id gives another group")
	}
}

// TestApplyEvolution walks a group through its changes and checks which make
// a new version, which only move the group's mod revision, and which are
// no-ops.
func TestApplyEvolution(t *testing.T) {
	s := base(t)
	g0, _ := s.r.FeatureGroup("user_stats")

	type step struct {
		name        string
		cmd         Command
		noop        bool
		version     uint32   // active version after the step
		features    []string // its feature names, when it changed
		checkActive func(t *testing.T, g *FeatureGroup)
	}
	steps := []step{
		{name: "same desired state", cmd: userStats(), noop: true, version: 1},
		{name: "add a feature", cmd: AddFeatures{Group: "user_stats", Features: []Feature{{Name: "age", Type: Uint8, Default: IntValue(18)}}},
			version: 2, features: []string{"clicks", "ctr", "embedding", "country", "age"},
			checkActive: func(t *testing.T, g *FeatureGroup) {
				if f, _ := g.Active().Feature("age"); f.Default != UintValue(18) {
					t.Errorf("age default %v (%v), want canonical uint 18", f.Default, f.Default.Kind())
				}
			}},
		{name: "remove a feature", cmd: RemoveFeatures{Group: "user_stats", Names: []string{"ctr"}},
			version: 3, features: []string{"clicks", "embedding", "country", "age"}},
		{name: "remove and add again, same type", cmd: AddFeatures{Group: "user_stats", Features: []Feature{{Name: "ctr", Type: FP32}}},
			version: 4, features: []string{"clicks", "embedding", "country", "age", "ctr"}},
		{name: "change a default", cmd: SetDefaults{Group: "user_stats", Defaults: []FeatureDefault{{"clicks", IntValue(-1)}}},
			version: 5},
		{name: "same default again", cmd: SetDefaults{Group: "user_stats", Defaults: []FeatureDefault{{"clicks", FloatValue(-1)}}},
			noop: true, version: 5},
		{name: "ttl", cmd: SetTTL{Group: "user_stats", TTL: time.Hour}, version: 5,
			checkActive: func(t *testing.T, g *FeatureGroup) {
				if g.TTL != time.Hour {
					t.Errorf("ttl %v", g.TTL)
				}
			}},
		{name: "same ttl", cmd: SetTTL{Group: "user_stats", TTL: time.Hour}, noop: true, version: 5},
		{name: "ttl never expires", cmd: SetTTL{Group: "user_stats", TTL: 0}, version: 5},
		{name: "cache policy", cmd: SetCachePolicy{Group: "user_stats", Cache: CachePolicy{L1: true, L2: true, TTL: time.Minute}}, version: 5,
			checkActive: func(t *testing.T, g *FeatureGroup) {
				if g.Cache != (CachePolicy{L1: true, L2: true, TTL: time.Minute}) {
					t.Errorf("cache %+v", g.Cache)
				}
			}},
		{name: "cache off", cmd: SetCachePolicy{Group: "user_stats"}, version: 5},
		{name: "declarative reorder", cmd: ApplyFeatureGroup{Name: "user_stats", Entity: "user", Store: "redis_main",
			Features: []Feature{{Name: "ctr", Type: FP32}, {Name: "clicks", Type: Int64, Default: IntValue(-1)}}},
			version: 6, features: []string{"ctr", "clicks"}},
		{name: "declarative same state, id given", cmd: ApplyFeatureGroup{Name: "user_stats", Entity: "user", Store: "redis_main", ID: 1,
			Features: []Feature{{Name: "ctr", Type: FP32, Default: IntValue(0)}, {Name: "clicks", Type: Int64, Default: FloatValue(-1)}}},
			noop: true, version: 6},
		{name: "feature description", cmd: ApplyFeatureGroup{Name: "user_stats", Entity: "user", Store: "redis_main",
			Features: []Feature{{Name: "ctr", Type: FP32, Description: "click-through rate"}, {Name: "clicks", Type: Int64, Default: IntValue(-1)}}},
			version: 7, features: []string{"ctr", "clicks"},
			checkActive: func(t *testing.T, g *FeatureGroup) {
				prev, _ := g.Version(6)
				if !g.Active().SameLayout(prev) {
					t.Error("a description change altered the layout")
				}
			}},
		{name: "group description and tags", cmd: ApplyFeatureGroup{Name: "user_stats", Entity: "user", Store: "redis_main",
			Description: "user activity", Tags: map[string]string{"team": "growth"},
			Features: []Feature{{Name: "ctr", Type: FP32, Description: "click-through rate"}, {Name: "clicks", Type: Int64, Default: IntValue(-1)}}},
			version: 7},
		{name: "empty tags equal none", cmd: ApplyFeatureGroup{Name: "user_stats", Entity: "user", Store: "redis_main",
			Description: "user activity", Tags: map[string]string{"team": "growth"},
			Features: []Feature{{Name: "ctr", Type: FP32, Description: "click-through rate", Tags: map[string]string{}}, {Name: "clicks", Type: Int64, Default: IntValue(-1)}}},
			noop: true, version: 7},
	}
	for _, st := range steps {
		prev := s.r
		prevG, _ := prev.FeatureGroup("user_stats")
		out := s.do(st.cmd)
		g, _ := s.r.FeatureGroup("user_stats")
		if out.Noop != st.noop {
			t.Errorf("%s: noop %v, want %v", st.name, out.Noop, st.noop)
		}
		if st.noop {
			if s.r != prev || out.Revision != prev.Revision() {
				t.Errorf("%s: a no-op changed the registry", st.name)
			}
			if out.ModRevision != prevG.Meta.ModRevision {
				t.Errorf("%s: no-op mod revision %d, want the group's %d", st.name, out.ModRevision, prevG.Meta.ModRevision)
			}
		} else {
			if out.ModRevision != out.Revision {
				t.Errorf("%s: mod revision %d after a change at %d", st.name, out.ModRevision, out.Revision)
			}
			if s.r.Revision() != prev.Revision()+1 || out.Revision != s.r.Revision() || g.Meta.ModRevision != out.Revision {
				t.Errorf("%s: revision %d, outcome %d, group mod %d after %d", st.name, s.r.Revision(), out.Revision, g.Meta.ModRevision, prev.Revision())
			}
			if g.Meta.CreateRevision != 3 || g.Meta.UpdatedBy != "alice" {
				t.Errorf("%s: meta %+v", st.name, g.Meta)
			}
		}
		if out.FeatureGroupID != 1 || out.FeatureGroupVersion != st.version || g.Active().Number != st.version {
			t.Errorf("%s: outcome %+v, active %d, want version %d", st.name, out, g.Active().Number, st.version)
		}
		if len(g.Versions) != int(st.version) {
			t.Errorf("%s: %d versions, want %d", st.name, len(g.Versions), st.version)
		}
		// Earlier versions are kept as they were: the same pointers.
		for i := range min(len(prevG.Versions), len(g.Versions)) {
			if g.Versions[i] != prevG.Versions[i] {
				t.Errorf("%s: version %d was replaced", st.name, i+1)
			}
		}
		if st.features != nil {
			names := make([]string, 0, g.Active().Len())
			for _, f := range g.Active().Features {
				names = append(names, f.Name)
			}
			if !slices.Equal(names, st.features) {
				t.Errorf("%s: features %v, want %v", st.name, names, st.features)
			}
			if g.Active().Revision != out.Revision {
				t.Errorf("%s: version revision %d, want %d", st.name, g.Active().Revision, out.Revision)
			}
		}
		if st.checkActive != nil {
			st.checkActive(t, g)
		}
	}
	// The first state is untouched by everything since.
	if len(g0.Versions) != 1 || g0.TTL != 24*time.Hour || g0.Meta.ModRevision != 3 {
		t.Errorf("the first state changed: %+v", g0)
	}
}

func TestApplyStoresAndEntities(t *testing.T) {
	s := base(t)
	e0, _ := s.r.Entity("user")

	if out := s.do(userEntity()); !out.Noop || out.ModRevision != 2 || out.Revision != 3 {
		t.Errorf("applying the same entity: %+v, want a no-op at mod revision 2", out)
	}
	ent := userEntity()
	ent.Description, ent.Tags = "a person", map[string]string{"owner": "id-team"}
	out := s.do(ent)
	e, _ := s.r.Entity("user")
	if out.Noop || e.Description != "a person" || e.Tags["owner"] != "id-team" || e.Meta.ModRevision != 4 || e.Meta.CreateRevision != 2 {
		t.Errorf("entity update: %+v", e)
	}
	if e0.Description != "a user" {
		t.Error("the old entity changed")
	}

	if out := s.do(redisStore()); !out.Noop || out.ModRevision != 1 {
		t.Errorf("applying the same store: %+v, want a no-op at mod revision 1", out)
	}
	st := redisStore()
	st.Connection = "redis-b"
	s.do(st)
	if got, _ := s.r.Store("redis_main"); got.Connection != "redis-b" || got.Meta.ModRevision != 5 {
		t.Errorf("store update: %+v", got)
	}

	// Deleting in order: the group, then what it used.
	s.do(DeleteFeatureGroup{Name: "user_stats"}, DeleteEntity{Name: "user"}, DeleteStore{ID: "redis_main"})
	if len(s.r.Stores())+len(s.r.Entities())+len(s.r.FeatureGroups()) != 0 {
		t.Error("objects remain after deletion")
	}
	if d, ok := s.r.DeletedFeatureGroup(1); !ok || d.Name != "user_stats" || d.Entity != "user" || d.DeleteRevision != 6 {
		t.Errorf("tombstone %+v", d)
	}
}

func TestApplyGroupIDs(t *testing.T) {
	s := base(t)
	grp := func(name string, id uint32) ApplyFeatureGroup {
		return ApplyFeatureGroup{Name: name, Entity: "user", Store: "redis_main", ID: id, Features: []Feature{{Name: "x", Type: Bool}}}
	}
	if out := s.do(grp("b", 0)); out.FeatureGroupID != 2 {
		t.Errorf("assigned id %d, want 2", out.FeatureGroupID)
	}
	if out := s.do(grp("c", 10)); out.FeatureGroupID != 10 {
		t.Errorf("chosen id %d, want 10", out.FeatureGroupID)
	}
	if out := s.do(grp("d", 0)); out.FeatureGroupID != 11 {
		t.Errorf("assigned id %d, want 11 (above every id used)", out.FeatureGroupID)
	}
	if out := s.do(grp("e", 5)); out.FeatureGroupID != 5 {
		t.Errorf("chosen id %d, want 5", out.FeatureGroupID)
	}
	// A deleted group's id is never reused, not even by assignment.
	s.do(DeleteFeatureGroup{Name: "d"})
	if out := s.do(grp("d", 0)); out.FeatureGroupID != 12 {
		t.Errorf("recreated group got id %d, want 12", out.FeatureGroupID)
	}
	g, _ := s.r.FeatureGroup("d")
	if g.Active().Number != 1 || g.Meta.CreateRevision != s.r.Revision() {
		t.Errorf("recreated group %+v does not start afresh", g)
	}
	if _, ok := s.r.FeatureGroupByID(11); ok {
		t.Error("the deleted id is still live")
	}
	// A recreated group has its own history: the name may come back with
	// another type.
	s.do(DeleteFeatureGroup{Name: "b"})
	b := grp("b", 0)
	b.Features = []Feature{{Name: "x", Type: String}}
	if out := s.do(b); out.FeatureGroupID != 13 {
		t.Errorf("recreated b got id %d", out.FeatureGroupID)
	}
}

func TestApplyExpect(t *testing.T) {
	s := base(t)
	try := func(c Command, e Expect) error {
		req := s.req(c)
		req.Expect = e
		s.now = s.now.Add(time.Second)
		next, _, err := s.r.Apply(req, s.now)
		if err == nil {
			s.r = next
		}
		return err
	}
	if err := try(ApplyEntity{Name: "item", Keys: []KeyColumn{{"item_id", String}}}, ExpectAbsent()); err != nil {
		t.Fatalf("create with ExpectAbsent: %v", err)
	}
	g, _ := s.r.FeatureGroup("user_stats")
	// An unrelated change moves the registry revision, not the group's.
	if err := try(SetTTL{Group: "user_stats", TTL: time.Hour}, ExpectRevision(g.Meta.ModRevision)); err != nil {
		t.Fatalf("change at the current revision: %v", err)
	}
	// Two authors based on the same revision: the second is stale, never merged.
	err := try(AddFeatures{Group: "user_stats", Features: []Feature{{Name: "n", Type: Int64}}}, ExpectRevision(g.Meta.ModRevision))
	if !errors.Is(err, ErrStale) {
		t.Fatalf("second author: %v, want ErrStale", err)
	}
	if errors.Is(err, ErrInvalid) || errors.Is(err, ErrIncompatible) {
		t.Error("a stale rejection matches other sentinels")
	}
	g, _ = s.r.FeatureGroup("user_stats")
	if _, ok := g.Active().Feature("n"); ok {
		t.Error("the stale change was applied")
	}
	// Retrying with the current revision works.
	if err := try(AddFeatures{Group: "user_stats", Features: []Feature{{Name: "n", Type: Int64}}}, ExpectRevision(g.Meta.ModRevision)); err != nil {
		t.Fatalf("retry: %v", err)
	}
	// A delete at the right revision, then a create where it was.
	g, _ = s.r.FeatureGroup("user_stats")
	if err := try(DeleteFeatureGroup{Name: "user_stats"}, ExpectRevision(g.Meta.ModRevision)); err != nil {
		t.Fatalf("delete: %v", err)
	}
	if err := try(userStats(), ExpectAbsent()); err != nil {
		t.Fatalf("create after delete: %v", err)
	}
	// A precondition that holds does not make a no-op a change.
	g, _ = s.r.FeatureGroup("user_stats")
	rev := s.r.Revision()
	if err := try(userStats(), ExpectRevision(g.Meta.ModRevision)); err != nil || s.r.Revision() != rev {
		t.Errorf("no-op with precondition: %v, revision %d -> %d", err, rev, s.r.Revision())
	}
}

// history is a sequence of commands that exercises every command kind.
func history() []Command {
	return []Command{
		redisStore(),
		ApplyStore{ID: "scylla_main", Kind: Scylla, Connection: "scylla"},
		userEntity(),
		ApplyEntity{Name: "item", Keys: []KeyColumn{{"item_id", String}, {"market", Uint32}}, Tags: map[string]string{"b": "2", "a": "1"}},
		userStats(),
		ApplyFeatureGroup{Name: "item_stats", Entity: "item", Store: "scylla_main", ID: 40, TTL: time.Hour,
			Features: []Feature{{Name: "price", Type: FP64, Default: FloatValue(-1)}, {Name: "in_stock", Type: Bool, Default: BoolValue(true)}}},
		AddFeatures{Group: "user_stats", Features: []Feature{{Name: "vec", Type: FP16, VectorLength: 16}}},
		RemoveFeatures{Group: "user_stats", Names: []string{"ctr"}},
		SetDefaults{Group: "item_stats", Defaults: []FeatureDefault{{"price", IntValue(0)}}},
		SetTTL{Group: "user_stats", TTL: 7 * 24 * time.Hour},
		SetCachePolicy{Group: "item_stats", Cache: CachePolicy{L2: true, TTL: 30 * time.Second}},
		ApplyFeatureGroup{Name: "tmp", Entity: "user", Store: "redis_main", Features: []Feature{{Name: "t", Type: Int8}}},
		DeleteFeatureGroup{Name: "tmp"},
		ApplyStore{ID: "old", Kind: Dragonfly, Connection: "df"},
		DeleteStore{ID: "old"},
		ApplyEntity{Name: "session", Keys: []KeyColumn{{"sid", String}}},
		DeleteEntity{Name: "session"},
	}
}

func replay(t testing.TB, cmds []Command) (*Registry, []Outcome) {
	s := newSeq(t)
	outs := make([]Outcome, 0, len(cmds))
	for _, c := range cmds {
		outs = append(outs, s.do(c))
	}
	return s.r, outs
}

// TestReplayIsDeterministic: the same commands at the same times give the
// same state, byte for byte, and the same outcomes.
func TestReplayIsDeterministic(t *testing.T) {
	cmds := history()
	a, outsA := replay(t, cmds)
	b, outsB := replay(t, cmds)
	ba, bb := mustMarshal(t, a), mustMarshal(t, b)
	if !bytes.Equal(ba, bb) {
		t.Fatal("two replays give different bytes")
	}
	if !slices.EqualFunc(outsA, outsB, func(x, y Outcome) bool { return x == y }) {
		t.Error("two replays give different outcomes")
	}
	if a.Revision() != uint64(len(cmds)) {
		t.Errorf("revision %d after %d changes", a.Revision(), len(cmds))
	}
	// Marshal many times: map iteration never shows.
	for range 20 {
		if !bytes.Equal(mustMarshal(t, a), ba) {
			t.Fatal("marshal is not deterministic")
		}
	}
	// The decoded state marshals to the same bytes.
	c, err := UnmarshalRegistry(ba)
	if err != nil {
		t.Fatalf("unmarshal: %v", err)
	}
	if !bytes.Equal(mustMarshal(t, c), ba) {
		t.Error("decode and encode changes the bytes")
	}
	// Applying further commands to the decoded state gives what applying them
	// to the original gives.
	more := Request{ID: "more", Actor: "bob", Command: AddFeatures{Group: "item_stats", Features: []Feature{{Name: "rating", Type: FP8E4M3}}}}
	at := t0.Add(time.Hour)
	na, oa, errA := a.Apply(more, at)
	nc, oc, errC := c.Apply(more, at)
	if errA != nil || errC != nil || oa != oc || !sameState(t, na, nc) {
		t.Errorf("decoded state applies differently: %v %v %+v %+v", errA, errC, oa, oc)
	}
}

// TestApplyDoesNotMutate: every intermediate state keeps its bytes while
// later commands are applied on top of it, and a command's slices and maps
// are not retained.
func TestApplyDoesNotMutate(t *testing.T) {
	s := newSeq(t)
	cmds := history()
	states := make([]*Registry, 0, len(cmds))
	encoded := make([][]byte, 0, len(cmds))
	for _, c := range cmds {
		s.do(c)
		states = append(states, s.r)
		encoded = append(encoded, mustMarshal(t, s.r))
	}
	for i, r := range states {
		if !bytes.Equal(mustMarshal(t, r), encoded[i]) {
			t.Errorf("state %d changed after later commands", i+1)
		}
	}

	feats := []Feature{{Name: "a", Type: Int64, Tags: map[string]string{"k": "v"}}}
	tags := map[string]string{"team": "x"}
	s.do(ApplyFeatureGroup{Name: "own", Entity: "user", Store: "redis_main", Tags: tags, Features: feats})
	feats[0].Name, feats[0].Tags["k"], tags["team"] = "b", "changed", "y"
	g, _ := s.r.FeatureGroup("own")
	if g.Active().Features[0].Name != "a" || g.Active().Features[0].Tags["k"] != "v" || g.Tags["team"] != "x" {
		t.Error("the registry shares a command's slices or maps")
	}
	if !maps.Equal(g.Tags, map[string]string{"team": "x"}) {
		t.Errorf("tags %v", g.Tags)
	}
}

func TestApplyTimeIsUTC(t *testing.T) {
	s := newSeq(t)
	at := time.Date(2026, 1, 2, 3, 4, 5, 6, time.FixedZone("X", 3600))
	next, _, err := s.r.Apply(s.req(redisStore()), at)
	if err != nil {
		t.Fatal(err)
	}
	st, _ := next.Store("redis_main")
	if st.Meta.CreatedAt.Location() != time.UTC || !st.Meta.CreatedAt.Equal(at) {
		t.Errorf("created at %v", st.Meta.CreatedAt)
	}
	// The same instant in another zone gives the same bytes.
	other, _, _ := s.r.Apply(s.req(redisStore()), at.UTC())
	if !sameState(t, next, other) {
		t.Error("the zone of the command time shows in the state")
	}
}

func TestPointerCommands(t *testing.T) {
	s := newSeq(t)
	st := redisStore()
	if out := s.do(&st); out.Revision != 1 {
		t.Fatalf("pointer command: %+v", out)
	}
	if _, ok := s.r.Store("redis_main"); !ok {
		t.Error("pointer command not applied")
	}
}

// TestPointerCommandsAllKinds: a pointer to each command kind applies like
// the command itself; a nil pointer of each kind is rejected.
func TestPointerCommandsAllKinds(t *testing.T) {
	cmds := append(history(), SetDefaults{Group: "user_stats", Defaults: []FeatureDefault{{"clicks", IntValue(2)}}})
	byValue, byPointer := newSeq(t), newSeq(t)
	for _, c := range cmds {
		ptr := reflect.New(reflect.TypeOf(c))
		ptr.Elem().Set(reflect.ValueOf(c))
		a, b := byValue.do(c), byPointer.do(ptr.Interface().(Command))
		a.RequestID, b.RequestID = "", ""
		if a != b {
			t.Errorf("%T: by value %+v, by pointer %+v", c, a, b)
		}
		nilPtr := reflect.Zero(ptr.Type()).Interface().(Command)
		if _, _, err := byValue.r.Apply(byValue.req(nilPtr), t0); !errors.Is(err, ErrInvalid) {
			t.Errorf("nil %T: %v", nilPtr, err)
		}
	}
	if !sameState(t, byValue.r, byPointer.r) {
		t.Error("pointer commands give another state")
	}
}

// TestMessagesStayShort: names of any length and bytes are clipped and
// quoted, so a message stays short and valid UTF-8.
func TestMessagesStayShort(t *testing.T) {
	s := base(t)
	for _, name := range []string{strings.Repeat("x", 10000), strings.Repeat("é", 5000), "bad\xffname" + strings.Repeat("z", 100)} {
		_, _, err := s.r.Apply(s.req(AddFeatures{Group: "user_stats", Features: []Feature{{Name: name, Type: Bool}}}), s.now)
		msg := err.Error()
		if len(msg) > 400 || !utf8.ValidString(msg) || !strings.Contains(msg, "...") {
			t.Errorf("message of %d bytes for a %d-byte name: %.100q", len(msg), len(name), msg)
		}
	}
	// Many users of a store are summed up.
	for i := range 5 {
		s.do(ApplyFeatureGroup{Name: "g" + itoa(i), Entity: "user", Store: "redis_main", Features: []Feature{{Name: "x", Type: Bool}}})
	}
	_, _, err := s.r.Apply(s.req(DeleteStore{ID: "redis_main"}), s.now)
	if want := `used by feature groups "g0", "g1", "g2" and 3 more`; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("%v lacks %q", err, want)
	}
}

func TestExpectString(t *testing.T) {
	for e, want := range map[Expect]string{{}: "any", ExpectAbsent(): "absent", ExpectRevision(7): "7", ExpectRevision(0): "absent"} {
		if e.String() != want {
			t.Errorf("%#v prints %q, want %q", e, e.String(), want)
		}
	}
	if rev, ok := (Expect{}).Revision(); ok || rev != 0 {
		t.Error("the zero Expect expects something")
	}
}
