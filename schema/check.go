package schema

import "time"

// check verifies every invariant Apply maintains, so that a state read from
// outside (etcd, a processor's table, a file) is either one Apply could have
// produced or refused. Objects are visited in sorted order so that the first
// problem reported does not depend on map iteration. Every error wraps
// ErrCorrupt.
func (r *Registry) check() error {
	for _, s := range r.Stores() {
		subj := storeSubject(s.ID)
		if err := checkStore(subj, s.ID, s.Kind, s.Connection); err != nil {
			return corrupt(err)
		}
		if err := r.checkMeta(subj, &s.Meta); err != nil {
			return err
		}
	}
	for _, e := range r.Entities() {
		subj := entitySubject(e.Name)
		if err := checkEntity(subj, ApplyEntity{Name: e.Name, Keys: e.Keys, Description: e.Description, Tags: e.Tags}); err != nil {
			return corrupt(err)
		}
		if err := r.checkMeta(subj, &e.Meta); err != nil {
			return err
		}
	}
	groups := r.FeatureGroups()
	for _, g := range groups {
		if err := r.checkGroup(g); err != nil {
			return err
		}
	}
	for _, d := range r.DeletedFeatureGroups() {
		subj := groupSubject(d.Name)
		if err := checkName(subj, "feature group name", d.Name); err != nil {
			return corrupt(err)
		}
		if err := checkName(subj, "entity name", d.Entity); err != nil {
			return corrupt(err)
		}
		if d.ID == 0 {
			return violation(ErrCorrupt, RuleGroupID, subj, "deleted group has id 0")
		}
		if d.DeleteRevision == 0 || d.DeleteRevision > r.revision {
			return violation(ErrCorrupt, RuleRevisionOrder, subj,
				"delete revision %d is not within 1..%d", d.DeleteRevision, r.revision)
		}
		if err := checkTime(subj, "deleted_at", d.DeletedAt); err != nil {
			return err
		}
	}
	return nil
}

func (r *Registry) checkMeta(subj string, m *Meta) error {
	if m.CreateRevision == 0 || m.CreateRevision > m.ModRevision || m.ModRevision > r.revision {
		return violation(ErrCorrupt, RuleRevisionOrder, subj,
			"revisions created %d, modified %d are not within 1..%d in order", m.CreateRevision, m.ModRevision, r.revision)
	}
	if err := checkTime(subj, "created_at", m.CreatedAt); err != nil {
		return err
	}
	if err := checkTime(subj, "updated_at", m.UpdatedAt); err != nil {
		return err
	}
	if m.UpdatedBy == "" {
		return violation(ErrCorrupt, RuleRequired, subj, "updated_by is missing")
	}
	return corrupt0(checkText(subj, "updated_by", m.UpdatedBy, MaxActor))
}

func checkTime(subj, what string, t time.Time) error {
	if t.IsZero() || t.Year() < 1 || t.Year() > 9999 {
		return violation(ErrCorrupt, RuleTimestamp, subj, "%s %v is missing or out of range", what, t)
	}
	return nil
}

// corrupt0 is corrupt for a possibly nil error.
func corrupt0(err error) error {
	if err == nil {
		return nil
	}
	return corrupt(err)
}

func (r *Registry) checkGroup(g *FeatureGroup) error {
	subj := groupSubject(g.Name)
	if g.ID == 0 {
		return violation(ErrCorrupt, RuleGroupID, subj, "id is 0")
	}
	if err := r.checkMeta(subj, &g.Meta); err != nil {
		return err
	}
	if len(g.Versions) == 0 {
		return violation(ErrCorrupt, RuleVersionSequence, subj, "it has no versions")
	}
	// The group's settings and its active features, as a desired state.
	if _, err := checkGroupSpec(specOf(g)); err != nil {
		return corrupt(err)
	}
	entity, ok := r.entities[g.Entity]
	if !ok {
		return violation(ErrCorrupt, RuleReference, subj, "entity %q does not exist", g.Entity)
	}
	if _, ok := r.stores[g.Store]; !ok {
		return violation(ErrCorrupt, RuleReference, subj, "store %q does not exist", g.Store)
	}
	type use struct {
		t DataType
		n int
	}
	hist := make(map[string]use)
	var prev *Version
	for i, v := range g.Versions {
		if uint64(v.Number) != uint64(i)+1 {
			return violation(ErrCorrupt, RuleVersionSequence, subj, "version %d is at position %d", v.Number, i+1)
		}
		if v.Revision < g.Meta.CreateRevision || v.Revision > g.Meta.ModRevision ||
			(prev != nil && v.Revision <= prev.Revision) {
			return violation(ErrCorrupt, RuleRevisionOrder, subj, "version %d has revision %d out of order", v.Number, v.Revision)
		}
		if err := checkTime(subj, "version created_at", v.CreatedAt); err != nil {
			return err
		}
		spec := specOf(g)
		spec.Features = v.Features
		if _, err := checkGroupSpec(spec); err != nil {
			return corrupt(err)
		}
		for j := range v.Features {
			f := &v.Features[j]
			fs := featureSubject(g.Name, f.Name)
			if f.Default.Kind() != canonicalKind(f.Type) {
				return violation(ErrCorrupt, RuleDefaultCanonical, fs,
					"version %d holds a %v default for type %v", v.Number, f.Default.Kind(), f.Type)
			}
			if _, ok := entity.Key(f.Name); ok {
				return violation(ErrCorrupt, RuleFeatureUnique, fs, "the name is a key column of entity %q", entity.Name)
			}
			if h, ok := hist[f.Name]; ok && (h.t != f.Type || h.n != f.VectorLength) {
				return violation(ErrCorrupt, RuleFeatureTypeFixed, fs,
					"version %d has %s, an earlier one %s", v.Number, f.Shape(), shape(h.t, h.n))
			}
			hist[f.Name] = use{f.Type, f.VectorLength}
		}
		if prev != nil && featuresEqual(prev.Features, v.Features) {
			return violation(ErrCorrupt, RuleVersionSequence, subj, "version %d repeats version %d", v.Number, prev.Number)
		}
		prev = v
	}
	return nil
}
