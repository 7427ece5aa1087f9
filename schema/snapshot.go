package schema

import (
	"context"
	"sync"
	"sync/atomic"

	registryv1 "github.com/ofstack/ofs/proto/ofs/registry/v1"
)

// Snapshot is an immutable, read-only view of the whole registry at one
// revision, for readers (feature servers, ingest): every lookup is a map or
// slice access, and nothing in it changes after NewSnapshot returns, so any
// number of goroutines may use it without locks. Swap snapshots through a
// Holder.
type Snapshot struct {
	reg      *Registry
	byEntity map[string][]*FeatureGroup // live groups of each entity, by name
}

// NewSnapshot returns the snapshot of r.
func NewSnapshot(r *Registry) *Snapshot {
	if r == nil {
		r = NewRegistry()
	}
	s := &Snapshot{reg: r, byEntity: make(map[string][]*FeatureGroup, len(r.entities))}
	for _, g := range r.FeatureGroups() {
		s.byEntity[g.Entity] = append(s.byEntity[g.Entity], g)
	}
	return s
}

// SnapshotFromProto returns the snapshot of a registry state proto (from etcd
// or Watch), checked like RegistryFromProto.
func SnapshotFromProto(p *registryv1.Registry) (*Snapshot, error) {
	r, err := RegistryFromProto(p)
	if err != nil {
		return nil, err
	}
	return NewSnapshot(r), nil
}

// Registry returns the state the snapshot views.
func (s *Snapshot) Registry() *Registry { return s.reg }

// Revision returns the registry revision of the snapshot.
func (s *Snapshot) Revision() uint64 { return s.reg.revision }

// Store returns the store with the given id.
func (s *Snapshot) Store(id string) (*Store, bool) { return s.reg.Store(id) }

// Entity returns the named entity.
func (s *Snapshot) Entity(name string) (*Entity, bool) { return s.reg.Entity(name) }

// FeatureGroup returns the live feature group of that name.
func (s *Snapshot) FeatureGroup(name string) (*FeatureGroup, bool) { return s.reg.FeatureGroup(name) }

// FeatureGroupByID returns the live feature group with that id, as read from
// a storage key or a block.
func (s *Snapshot) FeatureGroupByID(id uint32) (*FeatureGroup, bool) {
	return s.reg.FeatureGroupByID(id)
}

// FeatureGroupsOf returns the live feature groups of an entity, by name. The
// slice is shared: do not modify it.
func (s *Snapshot) FeatureGroupsOf(entity string) []*FeatureGroup { return s.byEntity[entity] }

// Version returns version n of the live group with that id: what a reader
// needs to decode a block, which records both.
func (s *Snapshot) Version(groupID, n uint32) (*Version, bool) {
	g, ok := s.reg.groups[groupID]
	if !ok {
		return nil, false
	}
	return g.Version(n)
}

// Feature returns a feature of a group's active version and its index in
// that version.
func (s *Snapshot) Feature(group, feature string) (*Feature, int, bool) {
	g, ok := s.reg.FeatureGroup(group)
	if !ok {
		return nil, 0, false
	}
	v := g.Active()
	i, ok := v.Index(feature)
	if !ok {
		return nil, 0, false
	}
	return &v.Features[i], i, true
}

// Holder holds the current Snapshot for readers that must never see a half
// update: Load is one atomic pointer read. Update installs a newer snapshot,
// and Wait blocks until the held one reaches a revision. The zero Holder
// holds the empty registry.
type Holder struct {
	cur atomic.Pointer[Snapshot]

	mu      sync.Mutex    // serializes Update; guards changed
	changed chan struct{} // closed and replaced on every Update
}

var emptySnapshot = NewSnapshot(NewRegistry())

// NewHolder returns a Holder holding s (the empty registry if s is nil).
func NewHolder(s *Snapshot) *Holder {
	h := &Holder{}
	if s != nil {
		h.cur.Store(s)
	}
	return h
}

// Load returns the current snapshot; never nil.
func (h *Holder) Load() *Snapshot {
	if s := h.cur.Load(); s != nil {
		return s
	}
	return emptySnapshot
}

// Update installs s if its revision is above the held one's and reports
// whether it did; an older or equal snapshot (a late watch event, a
// duplicate) is ignored, so the held revision never goes back.
func (h *Holder) Update(s *Snapshot) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if cur := h.cur.Load(); s == nil || (cur != nil && s.Revision() <= cur.Revision()) {
		return false
	}
	h.cur.Store(s)
	if h.changed != nil {
		close(h.changed)
		h.changed = nil
	}
	return true
}

// Wait returns the held snapshot once its revision is at least rev, or the
// context's error. A server calls it after an Apply that returned revision
// rev, so that it answers with the state that includes its own change.
func (h *Holder) Wait(ctx context.Context, rev uint64) (*Snapshot, error) {
	for {
		h.mu.Lock()
		s := h.Load()
		if s.Revision() >= rev {
			h.mu.Unlock()
			return s, nil
		}
		if h.changed == nil {
			h.changed = make(chan struct{})
		}
		ch := h.changed
		h.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}
