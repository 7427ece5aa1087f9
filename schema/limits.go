package schema

import (
	"maps"
	"slices"
	"strconv"
	"time"
	"unicode/utf8"
)

// Limits of the registry. They are constants, not options: a command's outcome
// must depend on the log alone, so that a replay gives the same state, and a
// limit that differed between two processors would break that.
const (
	MaxNameLength     = 63                        // bytes in a name
	MaxKeyColumns     = 8                         // key columns of an entity
	MaxFeatures       = 4096                      // features in one version of a group
	MaxVectorLength   = 65536                     // elements of a vector feature
	MaxTTL            = 20 * 365 * 24 * time.Hour // a group's TTL (ScyllaDB's limit)
	MaxCacheTTL       = 24 * time.Hour            // a cache policy's TTL
	MaxDescription    = 1024                      // bytes of a description
	MaxTags           = 32                        // tags on one object
	MaxTagValue       = 256                       // bytes of a tag value
	MaxStringDefault  = 1024                      // bytes of a string default
	MaxRequestID      = 128                       // bytes of a request id
	MaxActor          = 256                       // bytes of an actor
	MaxCommandObjects = MaxFeatures               // features or names in one fine-grained command
)

// ValidName reports whether s is a valid name for a store, entity, key
// column, feature group or feature: ^[a-z][a-z0-9_]{0,62}$.
func ValidName(s string) bool {
	if len(s) == 0 || len(s) > MaxNameLength || s[0] < 'a' || s[0] > 'z' {
		return false
	}
	for i := 1; i < len(s); i++ {
		c := s[i]
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '_' {
			return false
		}
	}
	return true
}

// validLabel reports whether s is a valid tag key or connection name:
// ^[a-z][a-z0-9_.-]{0,62}$.
func validLabel(s string) bool {
	if len(s) == 0 || len(s) > MaxNameLength || s[0] < 'a' || s[0] > 'z' {
		return false
	}
	for i := 1; i < len(s); i++ {
		c := s[i]
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '_' && c != '.' && c != '-' {
			return false
		}
	}
	return true
}

// checkName checks a name; what says which name it is ("feature name").
func checkName(subject, what, name string) error {
	if name == "" {
		return violation(ErrInvalid, RuleRequired, subject, "%s is missing", what)
	}
	if !ValidName(name) {
		return violation(ErrInvalid, RuleName, subject, "%s %q is not a valid name", what, clip(name))
	}
	return nil
}

// checkText checks free text: UTF-8 and at most max bytes.
func checkText(subject, what, s string, max int) error {
	if !utf8.ValidString(s) {
		return violation(ErrInvalid, RuleText, subject, "%s is not valid UTF-8", what)
	}
	if len(s) > max {
		return violation(ErrLimit, RuleText, subject, "%s is %d bytes, more than %d", what, len(s), max)
	}
	return nil
}

// checkTags checks a tag map, in key order so that the first problem
// reported does not depend on map iteration.
func checkTags(subject string, tags map[string]string) error {
	if len(tags) > MaxTags {
		return violation(ErrLimit, RuleTags, subject, "%d tags, more than %d", len(tags), MaxTags)
	}
	for _, k := range slices.Sorted(maps.Keys(tags)) {
		if !validLabel(k) {
			return violation(ErrInvalid, RuleTags, subject, "tag key %q is not valid", clip(k))
		}
		v := tags[k]
		if !utf8.ValidString(v) {
			return violation(ErrInvalid, RuleTags, subject, "tag %q value is not valid UTF-8", k)
		}
		if len(v) > MaxTagValue {
			return violation(ErrLimit, RuleTags, subject, "tag %q value is %d bytes, more than %d", k, len(v), MaxTagValue)
		}
	}
	return nil
}

// Clip makes s fit a message: printable (invalid UTF-8 is quoted as Go
// would) and at most limit bytes (limit >= 3), cut on a rune boundary and
// marked "...".
// Every error and log line that repeats input goes through it.
func Clip(s string, limit int) string {
	if !utf8.ValidString(s) {
		s = strconv.QuoteToASCII(s)
		s = s[1 : len(s)-1]
	}
	if len(s) <= limit {
		return s
	}
	n := max(limit-3, 0)
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "..."
}

// clip shortens s for a message of the registry's rules.
func clip(s string) string {
	return Clip(s, 70)

}

// normTags returns a copy of tags, nil when empty, so that "no tags" has one
// representation.
func normTags(tags map[string]string) map[string]string {
	if len(tags) == 0 {
		return nil
	}
	return maps.Clone(tags)
}
