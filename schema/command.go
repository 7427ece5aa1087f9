package schema

import (
	"strconv"
	"time"
)

// Request is one registry command with its envelope, as read from the
// registry log.
type Request struct {
	ID      string // chosen by the author, unique per command
	Actor   string // who sent it; recorded as Meta.UpdatedBy
	Expect  Expect // optimistic concurrency on the object addressed
	Command Command
}

// Expect is a command's precondition on the mod revision of the object it
// addresses. The zero Expect checks nothing.
type Expect struct {
	rev uint64
	set bool
}

// ExpectRevision requires the object to exist at mod revision rev; 0 is the
// same as ExpectAbsent.
func ExpectRevision(rev uint64) Expect { return Expect{rev: rev, set: true} }

// ExpectAbsent requires the object not to exist: a create.
func ExpectAbsent() Expect { return Expect{set: true} }

// Revision returns the expected revision and whether one is expected.
func (e Expect) Revision() (uint64, bool) { return e.rev, e.set }

func (e Expect) String() string {
	switch {
	case !e.set:
		return "any"
	case e.rev == 0:
		return "absent"
	}
	return strconv.FormatUint(e.rev, 10)
}

// Command is one of the registry commands: ApplyStore, DeleteStore,
// ApplyEntity, DeleteEntity, ApplyFeatureGroup, DeleteFeatureGroup,
// AddFeatures, RemoveFeatures, SetDefaults, SetTTL, SetCachePolicy.
//
// The Apply* commands are declarative: they carry the whole desired state of
// an object, create it or change it to match, and are no-ops when it matches
// already (what `ofs apply` sends). The fine-grained group commands carry
// only a change, so that authors of different parts of one group need not hold
// the whole group; each is turned into the desired state it implies and goes
// through the same rules as ApplyFeatureGroup.
//
// A pointer to a command is accepted too; a nil one is rejected.
type Command interface {
	isCommand() // seals the set: only this package's commands are commands
}

// ApplyStore registers a store or changes its connection.
type ApplyStore struct {
	ID         string
	Kind       StoreKind
	Connection string
}

// DeleteStore removes a store no live group uses.
type DeleteStore struct {
	ID string
}

// ApplyEntity creates an entity or changes its description and tags.
type ApplyEntity struct {
	Name        string
	Keys        []KeyColumn
	Description string
	Tags        map[string]string
}

// DeleteEntity removes an entity no live group describes.
type DeleteEntity struct {
	Name string
}

// ApplyFeatureGroup creates a feature group or changes it to this desired
// state; a different feature list makes a new version.
type ApplyFeatureGroup struct {
	Name   string
	Entity string
	// ID 0 keeps an existing group's id, or assigns a new group the id above
	// every id ever used.
	ID          uint32
	Store       string
	TTL         time.Duration
	Cache       CachePolicy
	Description string
	Tags        map[string]string
	Features    []Feature
}

// DeleteFeatureGroup removes a feature group; its id stays reserved.
type DeleteFeatureGroup struct {
	Name string
}

// AddFeatures appends features to a group.
type AddFeatures struct {
	Group    string
	Features []Feature
}

// RemoveFeatures removes features from a group.
type RemoveFeatures struct {
	Group string
	Names []string
}

// FeatureDefault is a new default for one feature.
type FeatureDefault struct {
	Feature string
	Value   Value
}

// SetDefaults changes features' defaults.
type SetDefaults struct {
	Group    string
	Defaults []FeatureDefault
}

// SetTTL changes a group's TTL.
type SetTTL struct {
	Group string
	TTL   time.Duration
}

// SetCachePolicy changes a group's cache policy.
type SetCachePolicy struct {
	Group string
	Cache CachePolicy
}

func (ApplyStore) isCommand()         {}
func (DeleteStore) isCommand()        {}
func (ApplyEntity) isCommand()        {}
func (DeleteEntity) isCommand()       {}
func (ApplyFeatureGroup) isCommand()  {}
func (DeleteFeatureGroup) isCommand() {}
func (AddFeatures) isCommand()        {}
func (RemoveFeatures) isCommand()     {}
func (SetDefaults) isCommand()        {}
func (SetTTL) isCommand()             {}
func (SetCachePolicy) isCommand()     {}

// Outcome is the result of one command.
type Outcome struct {
	RequestID string
	// Revision is the registry revision after the command: for a change, the
	// object's new mod revision; for a no-op or a rejection, the revision the
	// command was checked against.
	Revision uint64
	// ModRevision is the addressed object's mod revision after the command:
	// the one to expect in a next command. It equals Revision after a change
	// and is the object's unchanged mod revision after a no-op.
	ModRevision uint64
	// Noop is true when the state already matched the command.
	Noop bool
	// For feature group commands: the group's id and its active version
	// after the command (0 after a delete).
	FeatureGroupID      uint32
	FeatureGroupVersion uint32
	// Err is nil when the command was applied, else the *Violation that
	// rejected it.
	Err error
}

// Applied reports whether the command was applied (possibly as a no-op).
func (o Outcome) Applied() bool { return o.Err == nil }
