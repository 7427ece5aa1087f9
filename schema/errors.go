package schema

import (
	"errors"
	"fmt"
	"strconv"
)

// Sentinel errors of the schema package. Callers match them with errors.Is;
// the wrapped message names the entity, feature group or feature concerned.
var (
	ErrUnknownDataType = errors.New("schema: unknown data type")

	// ErrInvalid: a command is malformed or breaks a rule on its own.
	ErrInvalid = errors.New("schema: invalid")
	// ErrStale: a command's expected revision does not match the object's;
	// the caller reads the object again and retries.
	ErrStale = errors.New("schema: stale revision")
	// ErrNotFound: the object addressed, or one it refers to, does not exist.
	ErrNotFound = errors.New("schema: not found")
	// ErrExists: the object, or a feature group id, exists or existed.
	ErrExists = errors.New("schema: already exists")
	// ErrIncompatible: a change breaks the evolution rules.
	ErrIncompatible = errors.New("schema: incompatible change")
	// ErrLimit: a limit is exceeded.
	ErrLimit = errors.New("schema: limit exceeded")
	// ErrInUse: an object cannot be deleted while others refer to it.
	ErrInUse = errors.New("schema: in use")
	// ErrCorrupt: a persisted registry state breaks an invariant; it was not
	// produced by Apply, or was damaged.
	ErrCorrupt = errors.New("schema: corrupt state")
)

// Rule is the stable identifier of a registry rule. It is carried in
// rejections so that tools can react to a rule without parsing messages.
type Rule string

// The registry rules.
const (
	RuleRequest          Rule = "request"              // request id, actor and time are present and well-formed
	RuleRequired         Rule = "required"             // a field that must be set is set
	RuleName             Rule = "name-syntax"          // names match ^[a-z][a-z0-9_]{0,62}$
	RuleText             Rule = "text"                 // free text is UTF-8 and not too long
	RuleTags             Rule = "tags"                 // tag keys and values are well-formed, and not too many
	RuleStoreKind        Rule = "store-kind"           // a store kind is redis, dragonfly or scylla
	RuleStoreKindFixed   Rule = "store-kind-fixed"     // a store's kind never changes
	RuleKeyColumns       Rule = "key-columns"          // an entity has 1 to MaxKeyColumns uniquely named key columns
	RuleKeyType          Rule = "key-type"             // key columns are string, int32, int64, uint32 or uint64
	RuleKeysFixed        Rule = "entity-keys-fixed"    // an entity's key columns never change
	RuleReference        Rule = "reference"            // referenced stores and entities exist
	RuleInUse            Rule = "in-use"               // stores and entities in use by a group are not deleted
	RuleExpectedRevision Rule = "expected-revision"    // the expected revision matches
	RuleExists           Rule = "exists"               // the object addressed exists (or must not)
	RuleGroupID          Rule = "group-id"             // group ids are 1 or more, unique, and never reused
	RuleGroupFixed       Rule = "group-fixed"          // a group's id, entity and store never change
	RuleTTL              Rule = "ttl"                  // a group TTL is whole seconds from 0 (never) to MaxTTL
	RuleCachePolicy      Rule = "cache-policy"         // a cache TTL is whole ms within limits when a cache is on, else 0
	RuleFeatureCount     Rule = "feature-count"        // a group has 1 to MaxFeatures features
	RuleFeatureUnique    Rule = "feature-unique"       // feature names are unique in a group and differ from key columns
	RuleFeatureMissing   Rule = "feature-missing"      // a feature removed or changed is in the active version
	RuleDataType         Rule = "data-type"            // a feature's data type is defined
	RuleVectorLength     Rule = "vector-length"        // a vector has 1 to MaxVectorLength elements (0 = scalar)
	RuleDefault          Rule = "default-fits-type"    // a default is representable in the feature's type
	RuleFeatureTypeFixed Rule = "feature-type-fixed"   // a feature name keeps its type and vector length for life
	RuleState            Rule = "state-consistent"     // a persisted state satisfies the invariants
	RuleVersionSequence  Rule = "version-sequence"     // versions are numbered 1, 2, ... without gaps
	RuleLimit            Rule = "limit"                // numeric limits (ids, counters) are not exhausted
	RuleCommand          Rule = "command"              // a command of a known kind is given
	RuleGroupName        Rule = "group-name-unique"    // live group names are unique
	RuleDefaultCanonical Rule = "default-canonical"    // a persisted default is held in its type's canonical kind
	RuleRevisionOrder    Rule = "revision-order"       // persisted revisions are consistent with the registry revision
	RuleTimestamp        Rule = "timestamp"            // a persisted or command time is in the representable range
	RuleDuration         Rule = "duration"             // a duration is well-formed
	RuleFeatureDuplicate Rule = "feature-listed-twice" // a command names each feature once
)

// ruleText explains each rule in one line, for messages.
var ruleText = map[Rule]string{
	RuleRequest:          "a command carries a request id, an actor and a time",
	RuleRequired:         "the field must be set",
	RuleName:             "names match ^[a-z][a-z0-9_]{0,62}$",
	RuleText:             "text is valid UTF-8 within its length limit",
	RuleTags:             "tag keys match ^[a-z][a-z0-9_.-]{0,62}$, values are UTF-8 up to 256 bytes, at most 32 tags",
	RuleStoreKind:        "a store is redis, dragonfly or scylla",
	RuleStoreKindFixed:   "a store's kind never changes; register a new store",
	RuleKeyColumns:       "an entity has 1 to 8 uniquely named key columns",
	RuleKeyType:          "key columns are string, int32, int64, uint32 or uint64",
	RuleKeysFixed:        "an entity's key columns never change; create a new entity",
	RuleReference:        "a feature group refers to an existing entity and store",
	RuleInUse:            "a store or entity used by a live feature group cannot be deleted",
	RuleExpectedRevision: "the command was based on an older revision; read again and retry",
	RuleExists:           "the object addressed must exist, or must not for a create",
	RuleGroupID:          "feature group ids are 1 or more, unique, and never reused, even after deletion",
	RuleGroupFixed:       "a feature group's id, entity and store never change; create a new group",
	RuleTTL:              "a TTL is whole seconds from 0 (never expires) to 20 years",
	RuleCachePolicy:      "with L1 or L2 on, the cache TTL is whole milliseconds from 1ms to 24h; with both off it is 0",
	RuleFeatureCount:     "a feature group has 1 to 4096 features",
	RuleFeatureUnique:    "feature names are unique within a group and differ from the entity's key columns",
	RuleFeatureMissing:   "only features of the active version can be removed or changed",
	RuleDataType:         "a feature has a defined data type",
	RuleVectorLength:     "a feature is a scalar (length 0) or a vector of 1 to 65536 elements",
	RuleDefault:          "a default value must be representable in the feature's type",
	RuleFeatureTypeFixed: "a feature name keeps its data type and vector length for life, even after removal; add a feature under a new name",
	RuleState:            "the persisted state must satisfy the registry invariants",
	RuleVersionSequence:  "versions are numbered 1, 2, 3, ... without gaps",
	RuleLimit:            "the registry's numeric limits are not exhausted",
	RuleCommand:          "a command of a known kind must be given",
	RuleGroupName:        "live feature group names are unique",
	RuleDefaultCanonical: "a stored default is held in the canonical kind of its type",
	RuleRevisionOrder:    "object revisions are between 1 and the registry revision",
	RuleTimestamp:        "times are between years 1 and 9999",
	RuleDuration:         "durations are well-formed",
	RuleFeatureDuplicate: "a command names each feature at most once",
}

// Text returns the rule's one-line explanation.
func (r Rule) Text() string { return ruleText[r] }

// Violation is the error by which a command is rejected or a state refused.
// It unwraps to one of the sentinel errors (ErrInvalid, ErrStale, ...). Its message names the object (and feature) concerned and
// the rule broken, for example:
//
//	feature group "user_stats" feature "clicks": schema: incompatible change:
//	type int64 cannot become fp32 (rule feature-type-fixed: a feature name keeps
//	its data type and vector length for life, even after removal; add a feature
//	under a new name)
type Violation struct {
	Err     error  // one of the sentinel errors
	Rule    Rule   // the rule broken
	Subject string // the object concerned, like `feature group "g" feature "f"`
	Detail  string // what was found
}

func (v *Violation) Error() string {
	s := v.Err.Error()
	if v.Subject != "" {
		s = v.Subject + ": " + s
	}
	if v.Detail != "" {
		s += ": " + v.Detail
	}
	if v.Rule != "" {
		s += " (rule " + string(v.Rule)
		if t := v.Rule.Text(); t != "" {
			s += ": " + t
		}
		s += ")"
	}
	return s
}

// Unwrap returns the sentinel error.
func (v *Violation) Unwrap() error { return v.Err }

// violation builds a *Violation; detail is formatted with args.
func violation(sentinel error, rule Rule, subject, format string, args ...any) *Violation {
	return &Violation{Err: sentinel, Rule: rule, Subject: subject, Detail: fmt.Sprintf(format, args...)}
}

// AsViolation returns the *Violation in err's chain, if any.
func AsViolation(err error) (*Violation, bool) {
	var v *Violation
	ok := errors.As(err, &v)
	return v, ok
}

// Subjects, as they appear in messages. Names are clipped and quoted, so
// that a message stays short and valid UTF-8 whatever a command holds.

func quote(s string) string { return strconv.Quote(clip(s)) }
func itoa(n int) string     { return strconv.Itoa(n) }

func requestSubject(id string) string { return "request " + quote(id) }
func storeSubject(id string) string   { return "store " + quote(id) }
func entitySubject(n string) string   { return "entity " + quote(n) }
func groupSubject(n string) string    { return "feature group " + quote(n) }
func keySubject(e, k string) string   { return "entity " + quote(e) + " key column " + quote(k) }
func featureSubject(g, f string) string {
	return "feature group " + quote(g) + " feature " + quote(f)
}
