package schema

import (
	"cmp"
	"maps"
	"math"
	"slices"
	"time"
)

// Registry is the whole registry state: stores, entities, live feature groups
// and the ids of deleted ones. It is an immutable value: Apply returns a new
// Registry and leaves the receiver as it was, sharing every unchanged object
// with it. The zero Registry is the empty registry at revision 0.
type Registry struct {
	revision uint64
	stores   map[string]*Store
	entities map[string]*Entity
	groups   map[uint32]*FeatureGroup // live groups by id
	names    map[string]uint32        // live group name -> id
	deleted  map[uint32]*DeletedGroup // tombstones by id
	maxID    uint32                   // highest group id ever used, live or deleted
}

// NewRegistry returns the empty registry at revision 0.
func NewRegistry() *Registry { return &Registry{} }

// Revision returns the number of commands applied so far (no-ops and
// rejections excluded).
func (r *Registry) Revision() uint64 { return r.revision }

// Store returns the store with the given id.
func (r *Registry) Store(id string) (*Store, bool) {
	s, ok := r.stores[id]
	return s, ok
}

// Entity returns the named entity.
func (r *Registry) Entity(name string) (*Entity, bool) {
	e, ok := r.entities[name]
	return e, ok
}

// FeatureGroup returns the live feature group of that name.
func (r *Registry) FeatureGroup(name string) (*FeatureGroup, bool) {
	id, ok := r.names[name]
	if !ok {
		return nil, false
	}
	return r.groups[id], true
}

// FeatureGroupByID returns the live feature group with that id.
func (r *Registry) FeatureGroupByID(id uint32) (*FeatureGroup, bool) {
	g, ok := r.groups[id]
	return g, ok
}

// DeletedFeatureGroup returns the tombstone of a deleted group's id.
func (r *Registry) DeletedFeatureGroup(id uint32) (*DeletedGroup, bool) {
	d, ok := r.deleted[id]
	return d, ok
}

// Stores returns the stores ordered by id.
func (r *Registry) Stores() []*Store {
	return sortedValues(r.stores, func(a, b *Store) int { return cmp.Compare(a.ID, b.ID) })
}

// Entities returns the entities ordered by name.
func (r *Registry) Entities() []*Entity {
	return sortedValues(r.entities, func(a, b *Entity) int { return cmp.Compare(a.Name, b.Name) })
}

// FeatureGroups returns the live feature groups ordered by name.
func (r *Registry) FeatureGroups() []*FeatureGroup {
	return sortedValues(r.groups, func(a, b *FeatureGroup) int { return cmp.Compare(a.Name, b.Name) })
}

// DeletedFeatureGroups returns the tombstones ordered by id.
func (r *Registry) DeletedFeatureGroups() []*DeletedGroup {
	return sortedValues(r.deleted, func(a, b *DeletedGroup) int { return cmp.Compare(a.ID, b.ID) })
}

func sortedValues[K comparable, V any](m map[K]V, cmp func(a, b V) int) []V {
	out := slices.Collect(maps.Values(m))
	slices.SortFunc(out, cmp)
	return out
}

// Apply applies one command at time at and returns the new registry and the
// outcome. It is a pure function of the receiver, req and at: no clock, no
// randomness, no map-order dependence, so replaying the same commands with
// the same times gives the same state and the same outcomes.
//
// When the command is rejected, Apply returns the receiver unchanged, an
// Outcome whose Err is set, and that same error: a *Violation wrapping one of
// ErrInvalid, ErrStale, ErrNotFound, ErrExists, ErrIncompatible, ErrLimit or
// ErrInUse. A command that matches the state already is applied as a no-op:
// the receiver is returned and the revision does not move.
//
// at is the command's time as recorded in the log (the registry processor
// passes the record's timestamp); it is stored in UTC.
func (r *Registry) Apply(req Request, at time.Time) (*Registry, Outcome, error) {
	out := Outcome{RequestID: req.ID, Revision: r.revision}
	a := applier{r: r, req: req, at: at.UTC(), rev: r.revision + 1}
	res, err := a.run()
	if err != nil {
		out.Err = err
		return r, out, err
	}
	out.Noop = res.next == nil
	out.FeatureGroupID, out.FeatureGroupVersion = res.groupID, res.groupVersion
	if out.Noop {
		out.ModRevision = res.modRevision
		return r, out, nil
	}
	res.next.revision = a.rev
	out.Revision, out.ModRevision = a.rev, a.rev
	return res.next, out, nil
}

// applier holds one command being applied.
type applier struct {
	r   *Registry
	req Request
	at  time.Time
	rev uint64 // the revision the command gets if it changes something
}

// result is what an applied command did; next is nil for a no-op.
type result struct {
	next                  *Registry
	groupID, groupVersion uint32
	modRevision           uint64 // of the object, for a no-op
}

func (a *applier) run() (result, error) {
	if err := a.checkEnvelope(); err != nil {
		return result{}, err
	}
	switch c := deref(a.req.Command).(type) {
	case ApplyStore:
		return a.applyStore(c)
	case DeleteStore:
		return a.deleteStore(c)
	case ApplyEntity:
		return a.applyEntity(c)
	case DeleteEntity:
		return a.deleteEntity(c)
	case ApplyFeatureGroup:
		return a.applyFeatureGroup(c)
	case DeleteFeatureGroup:
		return a.deleteFeatureGroup(c)
	case AddFeatures:
		return a.addFeatures(c)
	case RemoveFeatures:
		return a.removeFeatures(c)
	case SetDefaults:
		return a.setDefaults(c)
	case SetTTL:
		return a.setTTL(c)
	case SetCachePolicy:
		return a.setCachePolicy(c)
	}
	return result{}, violation(ErrInvalid, RuleCommand, requestSubject(a.req.ID), "no command, or a command of an unknown kind")
}

// deref turns a pointer to a command into the command; a nil pointer becomes
// nil.
func deref(c Command) Command {
	switch p := c.(type) {
	case *ApplyStore:
		return derefOrNil(p)
	case *DeleteStore:
		return derefOrNil(p)
	case *ApplyEntity:
		return derefOrNil(p)
	case *DeleteEntity:
		return derefOrNil(p)
	case *ApplyFeatureGroup:
		return derefOrNil(p)
	case *DeleteFeatureGroup:
		return derefOrNil(p)
	case *AddFeatures:
		return derefOrNil(p)
	case *RemoveFeatures:
		return derefOrNil(p)
	case *SetDefaults:
		return derefOrNil(p)
	case *SetTTL:
		return derefOrNil(p)
	case *SetCachePolicy:
		return derefOrNil(p)
	}
	return c
}

func derefOrNil[T Command](p *T) Command {
	if p == nil {
		return nil
	}
	return *p
}

func (a *applier) checkEnvelope() error {
	subj := requestSubject(a.req.ID)
	switch {
	case a.req.ID == "":
		return violation(ErrInvalid, RuleRequest, subj, "request id is missing")
	case a.req.Actor == "":
		return violation(ErrInvalid, RuleRequest, subj, "actor is missing")
	case a.at.IsZero():
		return violation(ErrInvalid, RuleRequest, subj, "command time is missing")
	case a.at.Year() < 1 || a.at.Year() > 9999:
		return violation(ErrInvalid, RuleTimestamp, subj, "command time %v is out of range", a.at)
	case a.r.revision == math.MaxUint64:
		return violation(ErrLimit, RuleLimit, subj, "the registry revision is exhausted")
	}
	if err := checkText(subj, "request id", a.req.ID, MaxRequestID); err != nil {
		return err
	}
	return checkText(subj, "actor", a.req.Actor, MaxActor)
}

// checkExpect checks the command's precondition against the object it
// addresses: exists and, if so, its mod revision.
func (a *applier) checkExpect(subject string, exists bool, modRevision uint64) error {
	want, set := a.req.Expect.Revision()
	switch {
	case !set:
		return nil
	case want == 0 && exists:
		return violation(ErrStale, RuleExpectedRevision, subject,
			"expected it not to exist, but it exists at revision %d", modRevision)
	case want != 0 && !exists:
		return violation(ErrStale, RuleExpectedRevision, subject,
			"expected revision %d, but it does not exist", want)
	case want != 0 && modRevision != want:
		return violation(ErrStale, RuleExpectedRevision, subject,
			"expected revision %d, but it is at revision %d", want, modRevision)
	}
	return nil
}

func (a *applier) created() Meta {
	return Meta{CreateRevision: a.rev, ModRevision: a.rev, CreatedAt: a.at, UpdatedAt: a.at, UpdatedBy: a.req.Actor}
}

func (a *applier) updated(m Meta) Meta {
	m.ModRevision, m.UpdatedAt, m.UpdatedBy = a.rev, a.at, a.req.Actor
	return m
}

// next returns a shallow copy of the registry to change: the maps are shared
// until a with/without method replaces the one it changes.
func (a *applier) next() *Registry {
	c := *a.r
	return &c
}

func cloneMap[K comparable, V any](m map[K]V) map[K]V {
	if m == nil {
		return make(map[K]V)
	}
	return maps.Clone(m)
}

func (r *Registry) withStore(s *Store) *Registry {
	r.stores = cloneMap(r.stores)
	r.stores[s.ID] = s
	return r
}

func (r *Registry) withEntity(e *Entity) *Registry {
	r.entities = cloneMap(r.entities)
	r.entities[e.Name] = e
	return r
}

func (r *Registry) withGroup(g *FeatureGroup) *Registry {
	r.groups = cloneMap(r.groups)
	r.groups[g.ID] = g
	if id, ok := r.names[g.Name]; !ok || id != g.ID {
		r.names = cloneMap(r.names)
		r.names[g.Name] = g.ID
	}
	r.maxID = max(r.maxID, g.ID)
	return r
}

// ----------------------------------------------------------------------------
// Stores

func (a *applier) applyStore(c ApplyStore) (result, error) {
	subj := storeSubject(c.ID)
	if err := checkStore(subj, c.ID, c.Kind, c.Connection); err != nil {
		return result{}, err
	}
	cur := a.r.stores[c.ID]
	if err := a.checkExpect(subj, cur != nil, modRevision(cur)); err != nil {
		return result{}, err
	}
	if cur == nil {
		s := &Store{ID: c.ID, Kind: c.Kind, Connection: c.Connection, Meta: a.created()}
		return result{next: a.next().withStore(s)}, nil
	}
	if cur.Kind != c.Kind {
		return result{}, violation(ErrIncompatible, RuleStoreKindFixed, subj, "kind %v cannot become %v", cur.Kind, c.Kind)
	}
	if cur.Connection == c.Connection {
		return result{modRevision: cur.Meta.ModRevision}, nil
	}
	s := *cur
	s.Connection, s.Meta = c.Connection, a.updated(cur.Meta)
	return result{next: a.next().withStore(&s)}, nil
}

func checkStore(subj, id string, kind StoreKind, connection string) error {
	if err := checkName(subj, "store id", id); err != nil {
		return err
	}
	if !kind.Valid() {
		return violation(ErrInvalid, RuleStoreKind, subj, "kind %v is not a store kind", kind)
	}
	if connection == "" {
		return violation(ErrInvalid, RuleRequired, subj, "connection is missing")
	}
	if !validLabel(connection) {
		return violation(ErrInvalid, RuleName, subj, "connection %q is not a valid name", clip(connection))
	}
	return nil
}

func modRevision[T interface{ meta() *Meta }](o T) uint64 {
	if m := o.meta(); m != nil {
		return m.ModRevision
	}
	return 0
}

func (s *Store) meta() *Meta {
	if s == nil {
		return nil
	}
	return &s.Meta
}

func (e *Entity) meta() *Meta {
	if e == nil {
		return nil
	}
	return &e.Meta
}

func (g *FeatureGroup) meta() *Meta {
	if g == nil {
		return nil
	}
	return &g.Meta
}

func (a *applier) deleteStore(c DeleteStore) (result, error) {
	subj := storeSubject(c.ID)
	if err := checkName(subj, "store id", c.ID); err != nil {
		return result{}, err
	}
	cur := a.r.stores[c.ID]
	if err := a.checkExpect(subj, cur != nil, modRevision(cur)); err != nil {
		return result{}, err
	}
	if cur == nil {
		return result{}, violation(ErrNotFound, RuleExists, subj, "it does not exist")
	}
	if users := a.r.groupsWhere(func(g *FeatureGroup) bool { return g.Store == c.ID }); len(users) > 0 {
		return result{}, violation(ErrInUse, RuleInUse, subj, "it is used by %s", groupList(users))
	}
	n := a.next()
	n.stores = cloneMap(n.stores)
	delete(n.stores, c.ID)
	return result{next: n}, nil
}

// groupsWhere returns the names of the live groups for which f holds, sorted.
func (r *Registry) groupsWhere(f func(*FeatureGroup) bool) []string {
	var names []string
	for _, g := range r.groups {
		if f(g) {
			names = append(names, g.Name)
		}
	}
	slices.Sort(names)
	return names
}

// groupList formats group names for a message, naming at most three.
func groupList(names []string) string {
	s := "feature group"
	if len(names) > 1 {
		s += "s"
	}
	for i, n := range names {
		if i == 3 {
			return s + " and " + itoa(len(names)-3) + " more"
		}
		if i > 0 {
			s += ","
		}
		s += " " + quote(n)
	}
	return s
}

// ----------------------------------------------------------------------------
// Entities

func (a *applier) applyEntity(c ApplyEntity) (result, error) {
	subj := entitySubject(c.Name)
	if err := checkEntity(subj, c); err != nil {
		return result{}, err
	}
	cur := a.r.entities[c.Name]
	if err := a.checkExpect(subj, cur != nil, modRevision(cur)); err != nil {
		return result{}, err
	}
	tags := normTags(c.Tags)
	if cur == nil {
		e := &Entity{Name: c.Name, Keys: slices.Clone(c.Keys), Description: c.Description, Tags: tags, Meta: a.created()}
		return result{next: a.next().withEntity(e)}, nil
	}
	if !slices.Equal(cur.Keys, c.Keys) {
		return result{}, violation(ErrIncompatible, RuleKeysFixed, subj,
			"key columns (%s) cannot become (%s)", keyList(cur.Keys), keyList(c.Keys))
	}
	if cur.Description == c.Description && maps.Equal(cur.Tags, tags) {
		return result{modRevision: cur.Meta.ModRevision}, nil
	}
	e := *cur
	e.Description, e.Tags, e.Meta = c.Description, tags, a.updated(cur.Meta)
	return result{next: a.next().withEntity(&e)}, nil
}

func checkEntity(subj string, c ApplyEntity) error {
	if err := checkName(subj, "entity name", c.Name); err != nil {
		return err
	}
	switch {
	case len(c.Keys) == 0:
		return violation(ErrInvalid, RuleKeyColumns, subj, "it has no key columns")
	case len(c.Keys) > MaxKeyColumns:
		return violation(ErrLimit, RuleKeyColumns, subj, "%d key columns, more than %d", len(c.Keys), MaxKeyColumns)
	}
	for i, k := range c.Keys {
		ks := keySubject(c.Name, k.Name)
		if err := checkName(ks, "key column name", k.Name); err != nil {
			return err
		}
		if !IsKeyType(k.Type) {
			return violation(ErrInvalid, RuleKeyType, ks, "type %v cannot be a key", k.Type)
		}
		for _, prev := range c.Keys[:i] {
			if prev.Name == k.Name {
				return violation(ErrInvalid, RuleKeyColumns, ks, "the key column is listed twice")
			}
		}
	}
	if err := checkText(subj, "description", c.Description, MaxDescription); err != nil {
		return err
	}
	return checkTags(subj, c.Tags)
}

func keyList(keys []KeyColumn) string {
	s := ""
	for i, k := range keys {
		if i > 0 {
			s += ", "
		}
		s += k.Name + " " + k.Type.String()
	}
	return s
}

func (a *applier) deleteEntity(c DeleteEntity) (result, error) {
	subj := entitySubject(c.Name)
	if err := checkName(subj, "entity name", c.Name); err != nil {
		return result{}, err
	}
	cur := a.r.entities[c.Name]
	if err := a.checkExpect(subj, cur != nil, modRevision(cur)); err != nil {
		return result{}, err
	}
	if cur == nil {
		return result{}, violation(ErrNotFound, RuleExists, subj, "it does not exist")
	}
	if users := a.r.groupsWhere(func(g *FeatureGroup) bool { return g.Entity == c.Name }); len(users) > 0 {
		return result{}, violation(ErrInUse, RuleInUse, subj, "it is described by %s", groupList(users))
	}
	n := a.next()
	n.entities = cloneMap(n.entities)
	delete(n.entities, c.Name)
	return result{next: n}, nil
}
