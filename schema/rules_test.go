package schema

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"
)

// TestApplyRejects checks every rule by a command that breaks it: the
// rejection wraps the right sentinel, carries the rule, names the object (and
// feature) in its message, and leaves the state as it was.
func TestApplyRejects(t *testing.T) {
	manyFeatures := func(n int) []Feature {
		fs := make([]Feature, n)
		for i := range fs {
			fs[i] = Feature{Name: fmt.Sprintf("f%d", i), Type: Int32}
		}
		return fs
	}
	manyTags := func(n int) map[string]string {
		m := make(map[string]string, n)
		for i := range n {
			m[fmt.Sprintf("t%d", i)] = "v"
		}
		return m
	}
	withFeatures := func(fs ...Feature) ApplyFeatureGroup {
		g := userStats()
		g.Features = fs
		return g
	}
	withFeature := func(f Feature) ApplyFeatureGroup { // the fixture's features plus f
		g := userStats()
		g.Features = append(g.Features, f)
		return g
	}
	group := func(mod func(*ApplyFeatureGroup)) ApplyFeatureGroup {
		g := userStats()
		mod(&g)
		return g
	}
	entity := func(keys ...KeyColumn) ApplyEntity { return ApplyEntity{Name: "item", Keys: keys} }
	other := func(id uint32) ApplyFeatureGroup {
		return ApplyFeatureGroup{Name: "other", Entity: "user", Store: "redis_main", ID: id, Features: []Feature{{Name: "x", Type: Bool}}}
	}

	tests := []struct {
		name   string
		prep   []Command      // applied to the base fixture first
		cmd    Command        // the command under test
		expect Expect         // its precondition
		mod    func(*Request) // changes to its envelope
		at     *time.Time     // its time, if not the default
		err    error          // the sentinel it must wrap
		rule   Rule           // the rule it must name
		want   []string       // texts the message must hold
	}{
		// The envelope.
		{name: "request id missing", cmd: redisStore(), mod: func(r *Request) { r.ID = "" },
			err: ErrInvalid, rule: RuleRequest, want: []string{"request id is missing"}},
		{name: "actor missing", cmd: redisStore(), mod: func(r *Request) { r.Actor = "" },
			err: ErrInvalid, rule: RuleRequest, want: []string{"actor is missing"}},
		{name: "time before year 1", cmd: redisStore(), at: ptr(time.Time{}.Add(-time.Second)),
			err: ErrInvalid, rule: RuleTimestamp, want: []string{"out of range"}},
		{name: "zero time", cmd: redisStore(), at: ptr(time.Time{}),
			err: ErrInvalid, rule: RuleRequest, want: []string{"command time is missing"}},
		{name: "request id too long", cmd: redisStore(), mod: func(r *Request) { r.ID = strings.Repeat("x", MaxRequestID+1) },
			err: ErrLimit, rule: RuleText, want: []string{"request id is 129 bytes"}},
		{name: "actor not UTF-8", cmd: redisStore(), mod: func(r *Request) { r.Actor = "bob\xff" },
			err: ErrInvalid, rule: RuleText, want: []string{"actor is not valid UTF-8"}},
		{name: "no command", cmd: nil,
			err: ErrInvalid, rule: RuleCommand, want: []string{"no command"}},
		{name: "nil command pointer", cmd: (*ApplyStore)(nil),
			err: ErrInvalid, rule: RuleCommand, want: []string{"no command"}},

		// Stores.
		{name: "store id upper case", cmd: ApplyStore{ID: "Redis", Kind: Redis, Connection: "c"},
			err: ErrInvalid, rule: RuleName, want: []string{`store "Redis"`, `store id "Redis" is not a valid name`}},
		{name: "store id missing", cmd: ApplyStore{Kind: Redis, Connection: "c"},
			err: ErrInvalid, rule: RuleRequired, want: []string{"store id is missing"}},
		{name: "store id too long", cmd: ApplyStore{ID: "s" + strings.Repeat("x", 63), Kind: Redis, Connection: "c"},
			err: ErrInvalid, rule: RuleName, want: []string{"is not a valid name"}},
		{name: "store kind invalid", cmd: ApplyStore{ID: "s", Kind: 9, Connection: "c"},
			err: ErrInvalid, rule: RuleStoreKind, want: []string{`store "s"`, "storekind(9)"}},
		{name: "store connection missing", cmd: ApplyStore{ID: "s", Kind: Redis},
			err: ErrInvalid, rule: RuleRequired, want: []string{"connection is missing"}},
		{name: "store connection bad", cmd: ApplyStore{ID: "s", Kind: Redis, Connection: "Main Redis"},
			err: ErrInvalid, rule: RuleName, want: []string{`connection "Main Redis"`}},
		{name: "store kind change", cmd: ApplyStore{ID: "redis_main", Kind: Scylla, Connection: "c"},
			err: ErrIncompatible, rule: RuleStoreKindFixed, want: []string{`store "redis_main"`, "redis cannot become scylla"}},
		{name: "delete missing store", cmd: DeleteStore{ID: "nope"},
			err: ErrNotFound, rule: RuleExists, want: []string{`store "nope"`, "does not exist"}},
		{name: "delete store in use", cmd: DeleteStore{ID: "redis_main"},
			err: ErrInUse, rule: RuleInUse, want: []string{`store "redis_main"`, `feature group "user_stats"`}},

		// Entities.
		{name: "entity without keys", cmd: entity(),
			err: ErrInvalid, rule: RuleKeyColumns, want: []string{`entity "item"`, "no key columns"}},
		{name: "entity with 9 keys", cmd: entity(
			KeyColumn{"a", Int64}, KeyColumn{"b", Int64}, KeyColumn{"c", Int64}, KeyColumn{"d", Int64},
			KeyColumn{"e", Int64}, KeyColumn{"f", Int64}, KeyColumn{"g", Int64}, KeyColumn{"h", Int64}, KeyColumn{"i", Int64}),
			err: ErrLimit, rule: RuleKeyColumns, want: []string{"9 key columns, more than 8"}},
		{name: "float key", cmd: entity(KeyColumn{"score", FP32}),
			err: ErrInvalid, rule: RuleKeyType, want: []string{`entity "item" key column "score"`, "type fp32 cannot be a key"}},
		{name: "int8 key", cmd: entity(KeyColumn{"k", Int8}),
			err: ErrInvalid, rule: RuleKeyType, want: []string{`key column "k"`, "int8"}},
		{name: "invalid key type", cmd: entity(KeyColumn{"k", 77}),
			err: ErrInvalid, rule: RuleKeyType, want: []string{`key column "k"`, "datatype(77)"}},
		{name: "duplicate key", cmd: entity(KeyColumn{"k", Int64}, KeyColumn{"k", String}),
			err: ErrInvalid, rule: RuleKeyColumns, want: []string{`key column "k"`, "listed twice"}},
		{name: "bad key name", cmd: entity(KeyColumn{"2k", Int64}),
			err: ErrInvalid, rule: RuleName, want: []string{`key column name "2k"`}},
		{name: "entity keys change", cmd: ApplyEntity{Name: "user", Keys: []KeyColumn{{"user_id", String}}},
			err: ErrIncompatible, rule: RuleKeysFixed, want: []string{`entity "user"`, "(user_id int64) cannot become (user_id string)"}},
		{name: "entity key added", cmd: ApplyEntity{Name: "user", Keys: []KeyColumn{{"user_id", Int64}, {"region", String}}},
			err: ErrIncompatible, rule: RuleKeysFixed, want: []string{"user_id int64, region string"}},
		{name: "delete entity in use", cmd: DeleteEntity{Name: "user"},
			err: ErrInUse, rule: RuleInUse, want: []string{`entity "user"`, `feature group "user_stats"`}},
		{name: "delete missing entity", cmd: DeleteEntity{Name: "nope"},
			err: ErrNotFound, rule: RuleExists, want: []string{`entity "nope"`}},
		{name: "description too long", cmd: ApplyEntity{Name: "user", Keys: userEntity().Keys, Description: strings.Repeat("d", MaxDescription+1)},
			err: ErrLimit, rule: RuleText, want: []string{`entity "user"`, "description is 1025 bytes"}},
		{name: "tag key bad", cmd: ApplyEntity{Name: "user", Keys: userEntity().Keys, Tags: map[string]string{"Team": "x"}},
			err: ErrInvalid, rule: RuleTags, want: []string{`tag key "Team"`}},
		{name: "too many tags", cmd: ApplyEntity{Name: "user", Keys: userEntity().Keys, Tags: manyTags(MaxTags + 1)},
			err: ErrLimit, rule: RuleTags, want: []string{"33 tags"}},
		{name: "tag value not UTF-8", cmd: ApplyEntity{Name: "user", Keys: userEntity().Keys, Tags: map[string]string{"team": "\xc3"}},
			err: ErrInvalid, rule: RuleTags, want: []string{`tag "team" value is not valid UTF-8`}},
		{name: "tag value too long", cmd: ApplyEntity{Name: "user", Keys: userEntity().Keys, Tags: map[string]string{"team": strings.Repeat("v", MaxTagValue+1)}},
			err: ErrLimit, rule: RuleTags, want: []string{`tag "team" value is 257 bytes`}},

		// Feature groups, declared whole.
		{name: "group without features", cmd: withFeatures(),
			err: ErrInvalid, rule: RuleFeatureCount, want: []string{`feature group "user_stats"`, "no features"}},
		{name: "group with too many features", cmd: withFeatures(manyFeatures(MaxFeatures + 1)...),
			err: ErrLimit, rule: RuleFeatureCount, want: []string{"4097 features, more than 4096"}},
		{name: "group name bad", cmd: group(func(g *ApplyFeatureGroup) { g.Name = "user-stats" }),
			err: ErrInvalid, rule: RuleName, want: []string{`feature group name "user-stats"`}},
		{name: "group entity missing name", cmd: group(func(g *ApplyFeatureGroup) { g.Entity = "" }),
			err: ErrInvalid, rule: RuleRequired, want: []string{"entity name is missing"}},
		{name: "feature name bad", cmd: withFeature(Feature{Name: "Clicks", Type: Int64}),
			err: ErrInvalid, rule: RuleName, want: []string{`feature "Clicks"`, `feature name "Clicks" is not a valid name`}},
		{name: "feature name missing", cmd: withFeature(Feature{Type: Int64}),
			err: ErrInvalid, rule: RuleRequired, want: []string{`feature ""`, "feature name is missing"}},
		{name: "feature twice", cmd: withFeature(Feature{Name: "clicks", Type: Int64}),
			err: ErrInvalid, rule: RuleFeatureUnique, want: []string{`feature "clicks"`, "listed twice"}},
		{name: "feature named like a key", cmd: withFeature(Feature{Name: "user_id", Type: Int64}),
			err: ErrInvalid, rule: RuleFeatureUnique, want: []string{`feature "user_id"`, `key column of entity "user"`}},
		{name: "feature type invalid", cmd: withFeature(Feature{Name: "f", Type: 99}),
			err: ErrInvalid, rule: RuleDataType, want: []string{`feature "f"`, "datatype(99)"}},
		{name: "feature type missing", cmd: withFeature(Feature{Name: "f"}),
			err: ErrInvalid, rule: RuleDataType, want: []string{`feature "f"`, "type invalid"}},
		{name: "vector length negative", cmd: withFeature(Feature{Name: "v", Type: FP32, VectorLength: -1}),
			err: ErrInvalid, rule: RuleVectorLength, want: []string{`feature "v"`, "vector length -1"}},
		{name: "vector too long", cmd: withFeature(Feature{Name: "v", Type: FP32, VectorLength: MaxVectorLength + 1}),
			err: ErrLimit, rule: RuleVectorLength, want: []string{`feature "v"`, "65537 is more than 65536"}},
		{name: "default 300 for int8", cmd: withFeature(Feature{Name: "level", Type: Int8, Default: IntValue(300)}),
			err: ErrInvalid, rule: RuleDefault, want: []string{`feature "level"`, "300 is out of the range of int8"}},
		{name: "default -1 for uint8", cmd: withFeature(Feature{Name: "level", Type: Uint8, Default: IntValue(-1)}),
			err: ErrInvalid, rule: RuleDefault, want: []string{`feature "level"`, "-1 is out of the range of uint8"}},
		{name: "default 1.5 for int32", cmd: withFeature(Feature{Name: "n", Type: Int32, Default: FloatValue(1.5)}),
			err: ErrInvalid, rule: RuleDefault, want: []string{`feature "n"`, "1.5 is not an integer"}},
		{name: "default string for int64", cmd: withFeature(Feature{Name: "n", Type: Int64, Default: StringValue("7")}),
			err: ErrInvalid, rule: RuleDefault, want: []string{`feature "n"`, "cannot be a default of type int64"}},
		{name: "default bool for fp32", cmd: withFeature(Feature{Name: "x", Type: FP32, Default: BoolValue(true)}),
			err: ErrInvalid, rule: RuleDefault, want: []string{`feature "x"`, "bool value true"}},
		{name: "default 1e6 for fp16", cmd: withFeature(Feature{Name: "x", Type: FP16, Default: FloatValue(1e6)}),
			err: ErrInvalid, rule: RuleDefault, want: []string{`feature "x"`, "out of the range of fp16"}},
		{name: "default inf for fp8e4m3", cmd: withFeature(Feature{Name: "x", Type: FP8E4M3, Default: FloatValue(math.Inf(1))}),
			err: ErrInvalid, rule: RuleDefault, want: []string{`feature "x"`, "no infinities"}},
		{name: "default 1e40 for fp32", cmd: withFeature(Feature{Name: "x", Type: FP32, Default: FloatValue(1e40)}),
			err: ErrInvalid, rule: RuleDefault, want: []string{`feature "x"`, "fp32"}},
		{name: "default string too long", cmd: withFeature(Feature{Name: "s", Type: String, Default: StringValue(strings.Repeat("s", MaxStringDefault+1))}),
			err: ErrInvalid, rule: RuleDefault, want: []string{`feature "s"`, "1025 bytes"}},
		{name: "default string not UTF-8", cmd: withFeature(Feature{Name: "s", Type: String, Default: StringValue("\xff")}),
			err: ErrInvalid, rule: RuleDefault, want: []string{`feature "s"`, "not valid UTF-8"}},
		{name: "default uint for bool", cmd: withFeature(Feature{Name: "b", Type: Bool, Default: UintValue(1)}),
			err: ErrInvalid, rule: RuleDefault, want: []string{`feature "b"`, "bool"}},
		{name: "feature description too long", cmd: withFeature(Feature{Name: "d", Type: Bool, Description: strings.Repeat("d", MaxDescription+1)}),
			err: ErrLimit, rule: RuleText, want: []string{`feature "d"`, "description"}},
		{name: "feature tag bad", cmd: withFeature(Feature{Name: "d", Type: Bool, Tags: map[string]string{"": "x"}}),
			err: ErrInvalid, rule: RuleTags, want: []string{`feature "d"`, `tag key ""`}},
		{name: "ttl negative", cmd: group(func(g *ApplyFeatureGroup) { g.TTL = -time.Second }),
			err: ErrInvalid, rule: RuleTTL, want: []string{`feature group "user_stats"`, "ttl -1s is negative"}},
		{name: "ttl fraction", cmd: group(func(g *ApplyFeatureGroup) { g.TTL = 1500 * time.Millisecond }),
			err: ErrInvalid, rule: RuleTTL, want: []string{"1.5s is not whole seconds"}},
		{name: "ttl too long", cmd: group(func(g *ApplyFeatureGroup) { g.TTL = MaxTTL + time.Second }),
			err: ErrLimit, rule: RuleTTL, want: []string{"ttl"}},
		{name: "cache ttl without tier", cmd: group(func(g *ApplyFeatureGroup) { g.Cache = CachePolicy{TTL: time.Second} }),
			err: ErrInvalid, rule: RuleCachePolicy, want: []string{"neither L1 nor L2"}},
		{name: "cache tier without ttl", cmd: group(func(g *ApplyFeatureGroup) { g.Cache = CachePolicy{L2: true} }),
			err: ErrInvalid, rule: RuleCachePolicy, want: []string{"cache ttl 0s is not positive"}},
		{name: "cache ttl too long", cmd: group(func(g *ApplyFeatureGroup) { g.Cache = CachePolicy{L1: true, TTL: 25 * time.Hour} }),
			err: ErrLimit, rule: RuleCachePolicy, want: []string{"25h0m0s is more than 24h0m0s"}},
		{name: "cache ttl fraction", cmd: group(func(g *ApplyFeatureGroup) { g.Cache = CachePolicy{L1: true, TTL: 1500 * time.Microsecond} }),
			err: ErrInvalid, rule: RuleCachePolicy, want: []string{"not whole milliseconds"}},
		{name: "entity missing", cmd: group(func(g *ApplyFeatureGroup) { g.Name, g.Entity = "g2", "item" }),
			err: ErrNotFound, rule: RuleReference, want: []string{`feature group "g2"`, `entity "item" does not exist`}},
		{name: "store missing", cmd: group(func(g *ApplyFeatureGroup) { g.Name, g.Store = "g2", "scylla" }),
			err: ErrNotFound, rule: RuleReference, want: []string{`store "scylla" does not exist`}},
		{name: "group entity change", prep: []Command{ApplyEntity{Name: "item", Keys: []KeyColumn{{"item_id", String}}}},
			cmd: group(func(g *ApplyFeatureGroup) { g.Entity = "item" }),
			err: ErrIncompatible, rule: RuleGroupFixed, want: []string{`feature group "user_stats"`, `entity "user" cannot become "item"`}},
		{name: "group store change", prep: []Command{ApplyStore{ID: "scylla", Kind: Scylla, Connection: "scylla"}},
			cmd: group(func(g *ApplyFeatureGroup) { g.Store = "scylla" }),
			err: ErrIncompatible, rule: RuleGroupFixed, want: []string{`store "redis_main" cannot become "scylla"`}},
		{name: "group id change", cmd: group(func(g *ApplyFeatureGroup) { g.ID = 9 }),
			err: ErrIncompatible, rule: RuleGroupFixed, want: []string{"id 1 cannot become 9"}},
		{name: "feature type change", cmd: withFeatures(Feature{Name: "clicks", Type: FP32}),
			err: ErrIncompatible, rule: RuleFeatureTypeFixed, want: []string{`feature group "user_stats" feature "clicks"`, "int64 cannot become fp32"}},
		{name: "vector length change", cmd: withFeatures(Feature{Name: "embedding", Type: FP32, VectorLength: 8}),
			err: ErrIncompatible, rule: RuleFeatureTypeFixed, want: []string{`feature "embedding"`, "fp32[4] cannot become fp32[8]"}},
		{name: "vector to scalar", cmd: withFeatures(Feature{Name: "embedding", Type: FP32}),
			err: ErrIncompatible, rule: RuleFeatureTypeFixed, want: []string{`feature "embedding"`, "fp32[4] cannot become fp32"}},
		{name: "scalar to vector of one", cmd: withFeatures(Feature{Name: "ctr", Type: FP32, VectorLength: 1}),
			err: ErrIncompatible, rule: RuleFeatureTypeFixed, want: []string{`feature "ctr"`, "fp32 cannot become fp32[1]"}},
		{name: "removed name back with another type",
			prep: []Command{RemoveFeatures{Group: "user_stats", Names: []string{"ctr"}}},
			cmd:  AddFeatures{Group: "user_stats", Features: []Feature{{Name: "ctr", Type: FP64}}},
			err:  ErrIncompatible, rule: RuleFeatureTypeFixed,
			want: []string{`feature "ctr"`, "was fp32 from version 1 and was removed since", "cannot come back as fp64"}},
		{name: "removed name back declaratively with another type",
			prep: []Command{RemoveFeatures{Group: "user_stats", Names: []string{"clicks"}}},
			cmd:  withFeatures(Feature{Name: "clicks", Type: String}),
			err:  ErrIncompatible, rule: RuleFeatureTypeFixed, want: []string{`feature "clicks"`, "int64", "string"}},
		{name: "id used by a live group", cmd: other(1),
			err: ErrExists, rule: RuleGroupID, want: []string{`feature group "other"`, `id 1 is used by feature group "user_stats"`}},
		{name: "id of a deleted group",
			prep: []Command{other(7), DeleteFeatureGroup{Name: "other"}},
			cmd:  group(func(g *ApplyFeatureGroup) { g.Name, g.ID = "third", 7 }),
			err:  ErrExists, rule: RuleGroupID, want: []string{`feature group "third"`, `id 7 was used by feature group "other", deleted at revision 5`}},
		{name: "id of a deleted group, same name",
			prep: []Command{other(7), DeleteFeatureGroup{Name: "other"}},
			cmd:  other(7),
			err:  ErrExists, rule: RuleGroupID, want: []string{`id 7 was used by feature group "other"`}},

		// Optimistic concurrency.
		{name: "create over existing", cmd: userStats(), expect: ExpectAbsent(),
			err: ErrStale, rule: RuleExpectedRevision, want: []string{`feature group "user_stats"`, "expected it not to exist, but it exists at revision 3"}},
		{name: "stale revision", cmd: userStats(), expect: ExpectRevision(2),
			err: ErrStale, rule: RuleExpectedRevision, want: []string{"expected revision 2, but it is at revision 3"}},
		{name: "stale after a change", prep: []Command{SetTTL{Group: "user_stats", TTL: time.Hour}},
			cmd: AddFeatures{Group: "user_stats", Features: []Feature{{Name: "n", Type: Int64}}}, expect: ExpectRevision(3),
			err: ErrStale, rule: RuleExpectedRevision, want: []string{"expected revision 3, but it is at revision 4"}},
		{name: "expected revision of a missing object", cmd: DeleteStore{ID: "gone"}, expect: ExpectRevision(1),
			err: ErrStale, rule: RuleExpectedRevision, want: []string{`store "gone"`, "expected revision 1, but it does not exist"}},
		{name: "stale entity", cmd: userEntity(), expect: ExpectRevision(1),
			err: ErrStale, rule: RuleExpectedRevision, want: []string{`entity "user"`, "at revision 2"}},
		{name: "stale before invalid state change", cmd: withFeatures(Feature{Name: "clicks", Type: FP32}), expect: ExpectRevision(1),
			err: ErrStale, rule: RuleExpectedRevision, want: []string{"expected revision 1"}},

		// Feature groups, changed piecewise.
		{name: "add existing feature", cmd: AddFeatures{Group: "user_stats", Features: []Feature{{Name: "ctr", Type: FP32}}},
			err: ErrExists, rule: RuleFeatureUnique, want: []string{`feature "ctr"`, "in the active version 1 already"}},
		{name: "add to missing group", cmd: AddFeatures{Group: "nope", Features: []Feature{{Name: "x", Type: Bool}}},
			err: ErrNotFound, rule: RuleExists, want: []string{`feature group "nope"`, "does not exist"}},
		{name: "add nothing", cmd: AddFeatures{Group: "user_stats"},
			err: ErrInvalid, rule: RuleRequired, want: []string{"no features given"}},
		{name: "add beyond the limit", cmd: AddFeatures{Group: "user_stats", Features: manyFeatures(MaxFeatures - 3)},
			err: ErrLimit, rule: RuleFeatureCount, want: []string{"4097 features"}},
		{name: "add with bad default", cmd: AddFeatures{Group: "user_stats", Features: []Feature{{Name: "age", Type: Uint8, Default: IntValue(256)}}},
			err: ErrInvalid, rule: RuleDefault, want: []string{`feature "age"`, "256 is out of the range of uint8"}},
		{name: "add twice in one command", cmd: AddFeatures{Group: "user_stats", Features: []Feature{{Name: "a", Type: Bool}, {Name: "a", Type: Bool}}},
			err: ErrInvalid, rule: RuleFeatureUnique, want: []string{`feature "a"`, "listed twice"}},
		{name: "remove missing feature", cmd: RemoveFeatures{Group: "user_stats", Names: []string{"nope"}},
			err: ErrNotFound, rule: RuleFeatureMissing, want: []string{`feature "nope"`, "not in the active version 1"}},
		{name: "remove every feature", cmd: RemoveFeatures{Group: "user_stats", Names: []string{"clicks", "ctr", "embedding", "country"}},
			err: ErrInvalid, rule: RuleFeatureCount, want: []string{"delete the feature group instead"}},
		{name: "remove twice", cmd: RemoveFeatures{Group: "user_stats", Names: []string{"ctr", "ctr"}},
			err: ErrInvalid, rule: RuleFeatureDuplicate, want: []string{`feature "ctr"`, "listed twice"}},
		{name: "remove bad name", cmd: RemoveFeatures{Group: "user_stats", Names: []string{"A"}},
			err: ErrInvalid, rule: RuleName, want: []string{`feature "A"`}},
		{name: "set default of another type", cmd: SetDefaults{Group: "user_stats", Defaults: []FeatureDefault{{"clicks", StringValue("many")}}},
			err: ErrInvalid, rule: RuleDefault, want: []string{`feature "clicks"`, `string value "many" cannot be a default of type int64`}},
		{name: "set default out of range", cmd: SetDefaults{Group: "user_stats", Defaults: []FeatureDefault{{"ctr", FloatValue(-1e39)}}},
			err: ErrInvalid, rule: RuleDefault, want: []string{`feature "ctr"`, "out of the range of fp32"}},
		{name: "set default of missing feature", cmd: SetDefaults{Group: "user_stats", Defaults: []FeatureDefault{{"nope", IntValue(1)}}},
			err: ErrNotFound, rule: RuleFeatureMissing, want: []string{`feature "nope"`}},
		{name: "set default of removed feature",
			prep: []Command{RemoveFeatures{Group: "user_stats", Names: []string{"ctr"}}},
			cmd:  SetDefaults{Group: "user_stats", Defaults: []FeatureDefault{{"ctr", FloatValue(1)}}},
			err:  ErrNotFound, rule: RuleFeatureMissing, want: []string{`feature "ctr"`, "active version 2"}},
		{name: "set default twice", cmd: SetDefaults{Group: "user_stats", Defaults: []FeatureDefault{{"ctr", FloatValue(1)}, {"ctr", FloatValue(2)}}},
			err: ErrInvalid, rule: RuleFeatureDuplicate, want: []string{`feature "ctr"`}},
		{name: "set no defaults", cmd: SetDefaults{Group: "user_stats"},
			err: ErrInvalid, rule: RuleRequired, want: []string{"no defaults given"}},
		{name: "set ttl negative", cmd: SetTTL{Group: "user_stats", TTL: -time.Hour},
			err: ErrInvalid, rule: RuleTTL, want: []string{`feature group "user_stats"`, "negative"}},
		{name: "set ttl on missing group", cmd: SetTTL{Group: "nope", TTL: time.Hour},
			err: ErrNotFound, rule: RuleExists, want: []string{`feature group "nope"`}},
		{name: "set cache policy bad", cmd: SetCachePolicy{Group: "user_stats", Cache: CachePolicy{L1: true}},
			err: ErrInvalid, rule: RuleCachePolicy, want: []string{`feature group "user_stats"`}},
		{name: "set cache policy bad group name", cmd: SetCachePolicy{Group: "Bad"},
			err: ErrInvalid, rule: RuleName, want: []string{`feature group "Bad"`}},
		{name: "delete missing group", cmd: DeleteFeatureGroup{Name: "nope"},
			err: ErrNotFound, rule: RuleExists, want: []string{`feature group "nope"`}},
		{name: "delete group twice", prep: []Command{DeleteFeatureGroup{Name: "user_stats"}}, cmd: DeleteFeatureGroup{Name: "user_stats"},
			err: ErrNotFound, rule: RuleExists, want: []string{`feature group "user_stats"`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := base(t)
			s.do(tc.prep...)
			before := mustMarshal(t, s.r)
			req := s.req(tc.cmd)
			req.Expect = tc.expect
			if tc.mod != nil {
				tc.mod(&req)
			}
			at := s.now.Add(time.Second)
			if tc.at != nil {
				at = *tc.at
			}
			next, out, err := s.r.Apply(req, at)
			if err == nil {
				t.Fatalf("applied; want a rejection wrapping %v", tc.err)
			}
			if !errors.Is(err, tc.err) {
				t.Errorf("error %q does not wrap %v", err, tc.err)
			}
			v, ok := AsViolation(err)
			if !ok {
				t.Fatalf("error %T is not a *Violation", err)
			}
			if v.Rule != tc.rule {
				t.Errorf("rule %q, want %q (%v)", v.Rule, tc.rule, err)
			}
			msg := err.Error()
			for _, w := range append(tc.want, "(rule "+string(tc.rule)+": ", tc.err.Error()) {
				if !strings.Contains(msg, w) {
					t.Errorf("message %q lacks %q", msg, w)
				}
			}
			if next != s.r {
				t.Error("a rejection returned another registry")
			}
			if !errors.Is(out.Err, err) || out.Applied() || out.Revision != s.r.Revision() || out.RequestID != req.ID {
				t.Errorf("outcome %+v does not match the rejection", out)
			}
			if after := mustMarshal(t, s.r); string(after) != string(before) {
				t.Error("a rejected command changed the state")
			}
			if code := out.ToProto().GetRejected().GetCode(); code != RejectCode(tc.err) || code == 0 {
				t.Errorf("proto reject code %v, want %v", code, RejectCode(tc.err))
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }
