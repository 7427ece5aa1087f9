package schema

import (
	"cmp"
	"errors"
	"maps"
	"math"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	registryv1 "github.com/ofstack/ofs/proto/ofs/registry/v1"
)

// Conversions between the domain model's state and the registry protos
// (ofs.registry.v1): enums, values, the state objects and the whole state.
// These are strict: RegistryFromProto checks every invariant and refuses a
// state that Apply could not have produced, with an error wrapping
// ErrCorrupt. The conversions of commands and outcomes, which are lenient,
// are in commandproto.go.

// ----------------------------------------------------------------------------
// Enums and scalars

// DataTypeToProto returns the proto enum of t; the numbers are the same.
func DataTypeToProto(t DataType) registryv1.DataType { return registryv1.DataType(t) }

// DataTypeFromProto returns the DataType of a proto enum value; a value
// beyond every DataType maps to an invalid one.
func DataTypeFromProto(t registryv1.DataType) DataType {
	if t < 0 || t > math.MaxUint8 {
		return DataType(math.MaxUint8)
	}
	return DataType(t)
}

// StoreKindToProto returns the proto enum of k; the numbers are the same.
func StoreKindToProto(k StoreKind) registryv1.StoreKind { return registryv1.StoreKind(k) }

// StoreKindFromProto returns the StoreKind of a proto enum value; a value
// beyond every StoreKind maps to an invalid one.
func StoreKindFromProto(k registryv1.StoreKind) StoreKind {
	if k < 0 || k > math.MaxUint8 {
		return StoreKind(math.MaxUint8)
	}
	return StoreKind(k)
}

// ToProto returns v as a proto Value; the zero Value gives nil.
func (v Value) ToProto() *registryv1.Value {
	switch v.kind {
	case KindBool:
		return &registryv1.Value{Kind: &registryv1.Value_BoolValue{BoolValue: v.Bool()}}
	case KindInt:
		return &registryv1.Value{Kind: &registryv1.Value_IntValue{IntValue: v.Int()}}
	case KindUint:
		return &registryv1.Value{Kind: &registryv1.Value_UintValue{UintValue: v.Uint()}}
	case KindFloat:
		return &registryv1.Value{Kind: &registryv1.Value_FloatValue{FloatValue: v.Float()}}
	case KindString:
		return &registryv1.Value{Kind: &registryv1.Value_StringValue{StringValue: v.Str()}}
	}
	return nil
}

// ValueFromProto returns the Value of a proto Value; nil or an unset kind
// gives the zero Value.
func ValueFromProto(p *registryv1.Value) Value {
	switch k := p.GetKind().(type) {
	case *registryv1.Value_BoolValue:
		return BoolValue(k.BoolValue)
	case *registryv1.Value_IntValue:
		return IntValue(k.IntValue)
	case *registryv1.Value_UintValue:
		return UintValue(k.UintValue)
	case *registryv1.Value_FloatValue:
		return FloatValue(k.FloatValue)
	case *registryv1.Value_StringValue:
		return StringValue(k.StringValue)
	}
	return Value{}
}

// durationToProto gives nil for zero, so that "not set" has one encoding.
func durationToProto(d time.Duration) *durationpb.Duration {
	if d == 0 {
		return nil
	}
	return durationpb.New(d)
}

func durationFromProto(subject, what string, d *durationpb.Duration) (time.Duration, error) {
	if d == nil {
		return 0, nil
	}
	if err := d.CheckValid(); err != nil {
		return 0, violation(ErrInvalid, RuleDuration, subject, "%s: %v", what, err)
	}
	return d.AsDuration(), nil // saturates; the limits reject what is too long
}

func timeFromProto(subject, what string, ts *timestamppb.Timestamp) (time.Time, error) {
	if err := ts.CheckValid(); err != nil {
		return time.Time{}, violation(ErrCorrupt, RuleTimestamp, subject, "%s: %v", what, err)
	}
	return ts.AsTime(), nil
}

func tagsFromProto(m map[string]string) map[string]string { return normTags(m) }

// ----------------------------------------------------------------------------
// State objects

func (m *Meta) toProto() *registryv1.ObjectMeta {
	return &registryv1.ObjectMeta{
		CreateRevision: m.CreateRevision,
		ModRevision:    m.ModRevision,
		CreatedAt:      timestamppb.New(m.CreatedAt),
		UpdatedAt:      timestamppb.New(m.UpdatedAt),
		UpdatedBy:      m.UpdatedBy,
	}
}

func metaFromProto(subject string, p *registryv1.ObjectMeta) (Meta, error) {
	m := Meta{CreateRevision: p.GetCreateRevision(), ModRevision: p.GetModRevision(), UpdatedBy: p.GetUpdatedBy()}
	var err error
	if m.CreatedAt, err = timeFromProto(subject, "created_at", p.GetCreatedAt()); err != nil {
		return m, err
	}
	if m.UpdatedAt, err = timeFromProto(subject, "updated_at", p.GetUpdatedAt()); err != nil {
		return m, err
	}
	return m, nil
}

// ToProto returns s as a proto.
func (s *Store) ToProto() *registryv1.Store {
	return &registryv1.Store{Id: s.ID, Kind: StoreKindToProto(s.Kind), Connection: s.Connection, Meta: s.Meta.toProto()}
}

// StoreFromProto returns the Store of a proto. It checks only what the
// conversion needs (times); RegistryFromProto checks the invariants.
func StoreFromProto(p *registryv1.Store) (*Store, error) {
	s := &Store{ID: p.GetId(), Kind: StoreKindFromProto(p.GetKind()), Connection: p.GetConnection()}
	var err error
	s.Meta, err = metaFromProto(storeSubject(s.ID), p.GetMeta())
	return s, err
}

// ToProto returns e as a proto.
func (e *Entity) ToProto() *registryv1.Entity {
	return &registryv1.Entity{
		Name: e.Name, KeyColumns: keysToProto(e.Keys), Description: e.Description, Tags: maps.Clone(e.Tags), Meta: e.Meta.toProto(),
	}
}

func keysToProto(keys []KeyColumn) []*registryv1.KeyColumn {
	out := make([]*registryv1.KeyColumn, len(keys))
	for i, k := range keys {
		out[i] = &registryv1.KeyColumn{Name: k.Name, Type: DataTypeToProto(k.Type)}
	}
	return out
}

func keysFromProto(ks []*registryv1.KeyColumn) []KeyColumn {
	if len(ks) == 0 {
		return nil
	}
	out := make([]KeyColumn, len(ks))
	for i, k := range ks {
		out[i] = KeyColumn{Name: k.GetName(), Type: DataTypeFromProto(k.GetType())}
	}
	return out
}

// EntityFromProto returns the Entity of a proto. It checks only what the
// conversion needs (times); RegistryFromProto checks the invariants.
func EntityFromProto(p *registryv1.Entity) (*Entity, error) {
	e := &Entity{
		Name: p.GetName(), Keys: keysFromProto(p.GetKeyColumns()),
		Description: p.GetDescription(), Tags: tagsFromProto(p.GetTags()),
	}
	var err error
	e.Meta, err = metaFromProto(entitySubject(e.Name), p.GetMeta())
	return e, err
}

// ToProto returns c as a proto; a zero TTL is left unset.
func (c CachePolicy) ToProto() *registryv1.CachePolicy {
	return &registryv1.CachePolicy{L1: c.L1, L2: c.L2, Ttl: durationToProto(c.TTL)}
}

func cacheFromProto(subject string, p *registryv1.CachePolicy) (CachePolicy, error) {
	ttl, err := durationFromProto(subject, "cache ttl", p.GetTtl())
	return CachePolicy{L1: p.GetL1(), L2: p.GetL2(), TTL: ttl}, err
}

// ToProto returns f as a proto.
func (f *Feature) ToProto() *registryv1.Feature {
	return &registryv1.Feature{
		Name: f.Name, Type: DataTypeToProto(f.Type), VectorLength: uint32(min(max(f.VectorLength, 0), math.MaxUint32)),
		DefaultValue: f.Default.ToProto(), Description: f.Description, Tags: maps.Clone(f.Tags),
	}
}

// FeatureFromProto returns the Feature of a proto, unchecked.
func FeatureFromProto(p *registryv1.Feature) Feature {
	return Feature{
		Name: p.GetName(), Type: DataTypeFromProto(p.GetType()), VectorLength: int(p.GetVectorLength()),
		Default: ValueFromProto(p.GetDefaultValue()), Description: p.GetDescription(), Tags: tagsFromProto(p.GetTags()),
	}
}

func featuresToProto(fs []Feature) []*registryv1.Feature {
	out := make([]*registryv1.Feature, len(fs))
	for i := range fs {
		out[i] = fs[i].ToProto()
	}
	return out
}

func featuresFromProto(ps []*registryv1.Feature) []Feature {
	if len(ps) == 0 {
		return nil
	}
	out := make([]Feature, len(ps))
	for i, p := range ps {
		out[i] = FeatureFromProto(p)
	}
	return out
}

// ToProto returns v as a proto.
func (v *Version) ToProto() *registryv1.FeatureGroupVersion {
	return &registryv1.FeatureGroupVersion{
		Number: v.Number, Revision: v.Revision, CreatedAt: timestamppb.New(v.CreatedAt), Features: featuresToProto(v.Features),
	}
}

// ToProto returns g as a proto, with every version.
func (g *FeatureGroup) ToProto() *registryv1.FeatureGroup {
	p := &registryv1.FeatureGroup{
		Id: g.ID, Name: g.Name, Entity: g.Entity, Store: g.Store,
		Ttl: durationToProto(g.TTL), CachePolicy: g.Cache.ToProto(),
		Description: g.Description, Tags: maps.Clone(g.Tags), Meta: g.Meta.toProto(),
		Versions: make([]*registryv1.FeatureGroupVersion, len(g.Versions)),
	}
	for i, v := range g.Versions {
		p.Versions[i] = v.ToProto()
	}
	return p
}

// FeatureGroupFromProto returns the FeatureGroup of a proto. It checks only
// what the conversion needs (times, durations); RegistryFromProto checks the
// invariants.
func FeatureGroupFromProto(p *registryv1.FeatureGroup) (*FeatureGroup, error) {
	subj := groupSubject(p.GetName())
	g := &FeatureGroup{
		ID: p.GetId(), Name: p.GetName(), Entity: p.GetEntity(), Store: p.GetStore(),
		Description: p.GetDescription(), Tags: tagsFromProto(p.GetTags()),
	}
	var err error
	if g.TTL, err = durationFromProto(subj, "ttl", p.GetTtl()); err != nil {
		return nil, err
	}
	if g.Cache, err = cacheFromProto(subj, p.GetCachePolicy()); err != nil {
		return nil, err
	}
	if g.Meta, err = metaFromProto(subj, p.GetMeta()); err != nil {
		return nil, err
	}
	g.Versions = make([]*Version, len(p.GetVersions()))
	for i, pv := range p.GetVersions() {
		at, err := timeFromProto(subj, "version created_at", pv.GetCreatedAt())
		if err != nil {
			return nil, err
		}
		g.Versions[i] = NewVersion(pv.GetNumber(), pv.GetRevision(), at, featuresFromProto(pv.GetFeatures()))
	}
	return g, nil
}

// ToProto returns d as a proto.
func (d *DeletedGroup) ToProto() *registryv1.DeletedFeatureGroup {
	return &registryv1.DeletedFeatureGroup{
		Id: d.ID, Name: d.Name, Entity: d.Entity, DeleteRevision: d.DeleteRevision, DeletedAt: timestamppb.New(d.DeletedAt),
	}
}

// ----------------------------------------------------------------------------
// The whole state

// ToProto returns the whole state as a proto, every list sorted (stores by
// id, entities by name, groups and deleted groups by id), so that equal
// states give equal protos.
func (r *Registry) ToProto() *registryv1.Registry {
	p := &registryv1.Registry{Revision: r.revision}
	for _, s := range r.Stores() {
		p.Stores = append(p.Stores, s.ToProto())
	}
	for _, e := range r.Entities() {
		p.Entities = append(p.Entities, e.ToProto())
	}
	for _, g := range sortedValues(r.groups, func(a, b *FeatureGroup) int { return cmp.Compare(a.ID, b.ID) }) {
		p.FeatureGroups = append(p.FeatureGroups, g.ToProto())
	}
	for _, d := range r.DeletedFeatureGroups() {
		p.DeletedFeatureGroups = append(p.DeletedFeatureGroups, d.ToProto())
	}
	return p
}

// Marshal returns the canonical encoding of the state: the proto of ToProto
// marshaled deterministically. Equal states give equal bytes, so a replay
// into a fresh store can be compared byte for byte with the original.
func (r *Registry) Marshal() ([]byte, error) {
	return proto.MarshalOptions{Deterministic: true}.Marshal(r.ToProto())
}

// UnmarshalRegistry decodes what Marshal encoded and checks it like
// RegistryFromProto.
func UnmarshalRegistry(b []byte) (*Registry, error) {
	var p registryv1.Registry
	if err := proto.Unmarshal(b, &p); err != nil {
		return nil, errors.Join(ErrCorrupt, err)
	}
	return RegistryFromProto(&p)
}

// RegistryFromProto returns the state a proto holds, after checking every
// invariant Apply maintains; a state that breaks one is refused with a
// *Violation wrapping ErrCorrupt. The order of the proto's lists does not
// matter.
func RegistryFromProto(p *registryv1.Registry) (*Registry, error) {
	r := &Registry{revision: p.GetRevision()}
	for _, ps := range p.GetStores() {
		s, err := StoreFromProto(ps)
		if err != nil {
			return nil, corrupt(err)
		}
		if _, dup := r.stores[s.ID]; dup {
			return nil, violation(ErrCorrupt, RuleState, storeSubject(s.ID), "the store is listed twice")
		}
		r.stores = cloneMap(r.stores)
		r.stores[s.ID] = s
	}
	for _, pe := range p.GetEntities() {
		e, err := EntityFromProto(pe)
		if err != nil {
			return nil, corrupt(err)
		}
		if _, dup := r.entities[e.Name]; dup {
			return nil, violation(ErrCorrupt, RuleState, entitySubject(e.Name), "the entity is listed twice")
		}
		r.entities = cloneMap(r.entities)
		r.entities[e.Name] = e
	}
	for _, pg := range p.GetFeatureGroups() {
		g, err := FeatureGroupFromProto(pg)
		if err != nil {
			return nil, corrupt(err)
		}
		subj := groupSubject(g.Name)
		if _, dup := r.groups[g.ID]; dup {
			return nil, violation(ErrCorrupt, RuleGroupID, subj, "id %d is listed twice", g.ID)
		}
		if _, dup := r.names[g.Name]; dup {
			return nil, violation(ErrCorrupt, RuleGroupName, subj, "the name is listed twice")
		}
		r.withGroup(g)
	}
	for _, pd := range p.GetDeletedFeatureGroups() {
		subj := groupSubject(pd.GetName())
		at, err := timeFromProto(subj, "deleted_at", pd.GetDeletedAt())
		if err != nil {
			return nil, err
		}
		d := &DeletedGroup{ID: pd.GetId(), Name: pd.GetName(), Entity: pd.GetEntity(), DeleteRevision: pd.GetDeleteRevision(), DeletedAt: at}
		if _, dup := r.groups[d.ID]; dup {
			return nil, violation(ErrCorrupt, RuleGroupID, subj, "id %d is both live and deleted", d.ID)
		}
		if _, dup := r.deleted[d.ID]; dup {
			return nil, violation(ErrCorrupt, RuleGroupID, subj, "deleted id %d is listed twice", d.ID)
		}
		r.deleted = cloneMap(r.deleted)
		r.deleted[d.ID] = d
		r.maxID = max(r.maxID, d.ID)
	}
	if err := r.check(); err != nil {
		return nil, err
	}
	return r, nil
}

// corrupt turns a violation found in a persisted state into one wrapping
// ErrCorrupt, keeping its subject, detail and rule.
func corrupt(err error) error {
	v, ok := AsViolation(err)
	if !ok {
		return errors.Join(ErrCorrupt, err)
	}
	c := *v
	c.Err = ErrCorrupt
	return &c
}
