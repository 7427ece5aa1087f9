package schema

import (
	"fmt"
	"strings"
	"time"
)

// The registry's objects. Values reachable from a Registry or a Snapshot are
// shared between states and readers and must not be modified: build a command
// instead. Slices and maps in them are never changed after construction.

// StoreKind is the engine behind an online store. The numbers match the proto
// enum StoreKind.
type StoreKind uint8

// The store kinds.
const (
	StoreKindInvalid StoreKind = 0
	Redis            StoreKind = 1
	Dragonfly        StoreKind = 2
	Scylla           StoreKind = 3
)

var storeKindNames = [...]string{"invalid", "redis", "dragonfly", "scylla"}

// Valid reports whether k is a defined store kind.
func (k StoreKind) Valid() bool { return k >= Redis && k <= Scylla }

func (k StoreKind) String() string {
	if int(k) < len(storeKindNames) {
		return storeKindNames[k]
	}
	return fmt.Sprintf("storekind(%d)", uint8(k))
}

// ParseStoreKind reads a store kind name, case-insensitively.
func ParseStoreKind(s string) (StoreKind, error) {
	n := strings.ToLower(strings.TrimSpace(s))
	for k := Redis; k <= Scylla; k++ {
		if storeKindNames[k] == n {
			return k, nil
		}
	}
	return StoreKindInvalid, fmt.Errorf("%w: unknown store kind %q", ErrInvalid, s)
}

// Meta records when and by which command an object was created and last
// changed.
type Meta struct {
	CreateRevision uint64    // registry revision of the command that created it
	ModRevision    uint64    // registry revision of the command that last changed it
	CreatedAt      time.Time // time of the creating command, UTC
	UpdatedAt      time.Time // time of the last changing command, UTC
	UpdatedBy      string    // actor of the last changing command
}

// Store is an online store that feature groups are written to.
type Store struct {
	ID         string
	Kind       StoreKind
	Connection string // name of the connection settings in the servers' configuration
	Meta       Meta
}

// KeyColumn is one column of an entity's key.
type KeyColumn struct {
	Name string
	Type DataType
}

// IsKeyType reports whether t may be the type of a key column: String,
// Int32, Int64, Uint32 or Uint64. Floats are excluded (key equality), as are
// bools and 8- and 16-bit integers (no real keys; fewer types for the stores'
// key encodings to support).
func IsKeyType(t DataType) bool {
	switch t {
	case String, Int32, Int64, Uint32, Uint64:
		return true
	}
	return false
}

// Entity is the thing features describe; its key columns identify one
// instance and never change.
type Entity struct {
	Name        string
	Keys        []KeyColumn
	Description string
	Tags        map[string]string
	Meta        Meta
}

// Key returns the key column named name.
func (e *Entity) Key(name string) (KeyColumn, bool) {
	for _, k := range e.Keys {
		if k.Name == name {
			return k, true
		}
	}
	return KeyColumn{}, false
}

// CachePolicy says which cache tiers of the feature servers hold a group's
// blocks and how long a cached block is served before it is read again. The
// zero value caches nothing.
type CachePolicy struct {
	L1  bool          // in-memory cache of uncompressed blocks
	L2  bool          // SSD cache of compressed blocks
	TTL time.Duration // whole ms in [1ms, MaxCacheTTL] when L1 or L2, else 0
}

// Feature is one feature of a group: a scalar (VectorLength 0) or a vector
// of VectorLength elements of Type.
type Feature struct {
	Name         string
	Type         DataType
	VectorLength int
	// Default is served when a block has no value for the feature; for a
	// vector it is the value of every element. In the registry it is always
	// in the canonical kind of Type; in a command the zero Value means the
	// zero value of Type.
	Default     Value
	Description string
	Tags        map[string]string
}

// IsVector reports whether f is a vector feature.
func (f *Feature) IsVector() bool { return f.VectorLength > 0 }

// Shape formats the type and vector length: "fp32", "fp32[128]".
func (f *Feature) Shape() string { return shape(f.Type, f.VectorLength) }

func shape(t DataType, n int) string {
	if n == 0 {
		return t.String()
	}
	return fmt.Sprintf("%v[%d]", t, n)
}

// Column is what a block encoder needs of one feature: its type, its vector
// length (0 for a scalar) and its default. A version's Columns are in block
// order.
type Column struct {
	Name         string
	Type         DataType
	VectorLength int
	Default      Value
}

// Version is one immutable layout of a feature group's features.
type Version struct {
	Number    uint32    // 1, 2, 3, ... within its group
	Revision  uint64    // registry revision of the command that made it
	CreatedAt time.Time // time of that command, UTC
	Features  []Feature // in block order

	index map[string]int // feature name -> position in Features
}

// NewVersion returns a Version over features (which it keeps; the caller
// must not change them afterwards) with its name index built.
func NewVersion(number uint32, revision uint64, createdAt time.Time, features []Feature) *Version {
	v := &Version{Number: number, Revision: revision, CreatedAt: createdAt, Features: features}
	v.index = make(map[string]int, len(features))
	for i := range features {
		v.index[features[i].Name] = i
	}
	return v
}

// Len returns the number of features.
func (v *Version) Len() int { return len(v.Features) }

// Index returns the position of the named feature in the block.
func (v *Version) Index(name string) (int, bool) {
	if v.index != nil {
		i, ok := v.index[name]
		return i, ok
	}
	for i := range v.Features {
		if v.Features[i].Name == name {
			return i, true
		}
	}
	return 0, false
}

// Feature returns the named feature.
func (v *Version) Feature(name string) (*Feature, bool) {
	i, ok := v.Index(name)
	if !ok {
		return nil, false
	}
	return &v.Features[i], true
}

// Columns returns the block layout of the version: one Column per feature,
// in order. The slice is new on every call.
func (v *Version) Columns() []Column {
	out := make([]Column, len(v.Features))
	for i := range v.Features {
		f := &v.Features[i]
		out[i] = Column{Name: f.Name, Type: f.Type, VectorLength: f.VectorLength, Default: f.Default}
	}
	return out
}

// SameLayout reports whether v and w encode blocks identically: the same
// columns in the same order. Versions that differ only in descriptions or
// tags have the same layout.
func (v *Version) SameLayout(w *Version) bool {
	if len(v.Features) != len(w.Features) {
		return false
	}
	for i := range v.Features {
		a, b := &v.Features[i], &w.Features[i]
		if a.Name != b.Name || a.Type != b.Type || a.VectorLength != b.VectorLength || a.Default != b.Default {
			return false
		}
	}
	return true
}

// FeatureGroup is a set of features of one entity written and read together,
// one block per entity key.
type FeatureGroup struct {
	ID          uint32 // storage identity: unique, never reused
	Name        string // unique among live groups
	Entity      string // never changes
	Store       string // store id; never changes
	TTL         time.Duration
	Cache       CachePolicy
	Description string
	Tags        map[string]string
	Versions    []*Version // ascending, numbered 1..len; the last is active
	Meta        Meta
}

// Active returns the version new blocks are written with: the latest.
func (g *FeatureGroup) Active() *Version {
	if len(g.Versions) == 0 {
		return nil
	}
	return g.Versions[len(g.Versions)-1]
}

// Version returns version n.
func (g *FeatureGroup) Version(n uint32) (*Version, bool) {
	if n == 0 || uint64(n) > uint64(len(g.Versions)) {
		return nil, false
	}
	return g.Versions[n-1], true
}

// DeletedGroup is what remains of a deleted feature group: its id stays
// reserved.
type DeletedGroup struct {
	ID             uint32
	Name           string
	Entity         string
	DeleteRevision uint64
	DeletedAt      time.Time
}
