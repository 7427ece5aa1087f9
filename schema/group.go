package schema

import (
	"maps"
	"math"
	"slices"
	"time"
)

// ----------------------------------------------------------------------------
// Declarative feature group commands

func (a *applier) applyFeatureGroup(c ApplyFeatureGroup) (result, error) {
	spec, err := checkGroupSpec(c)
	if err != nil {
		return result{}, err
	}
	cur, _ := a.r.FeatureGroup(c.Name)
	if err := a.checkExpect(groupSubject(c.Name), cur != nil, modRevision(cur)); err != nil {
		return result{}, err
	}
	return a.putGroup(cur, spec)
}

func (a *applier) deleteFeatureGroup(c DeleteFeatureGroup) (result, error) {
	subj := groupSubject(c.Name)
	if err := checkName(subj, "feature group name", c.Name); err != nil {
		return result{}, err
	}
	cur, err := a.liveGroup(c.Name)
	if err != nil {
		return result{}, err
	}
	n := a.next()
	n.groups = cloneMap(n.groups)
	delete(n.groups, cur.ID)
	n.names = cloneMap(n.names)
	delete(n.names, cur.Name)
	n.deleted = cloneMap(n.deleted)
	n.deleted[cur.ID] = &DeletedGroup{ID: cur.ID, Name: cur.Name, Entity: cur.Entity, DeleteRevision: a.rev, DeletedAt: a.at}
	return result{next: n, groupID: cur.ID}, nil
}

// liveGroup returns the live group a fine-grained command or a delete
// addresses, after checking the precondition.
func (a *applier) liveGroup(name string) (*FeatureGroup, error) {
	subj := groupSubject(name)
	cur, _ := a.r.FeatureGroup(name)
	if err := a.checkExpect(subj, cur != nil, modRevision(cur)); err != nil {
		return nil, err
	}
	if cur == nil {
		return nil, violation(ErrNotFound, RuleExists, subj, "it does not exist")
	}
	return cur, nil
}

// checkGroupSpec checks everything about a desired group that does not
// depend on the registry state, and returns it normalized: defaults in their
// canonical kinds, empty tags as nil, slices owned.
func checkGroupSpec(c ApplyFeatureGroup) (ApplyFeatureGroup, error) {
	subj := groupSubject(c.Name)
	if err := checkName(subj, "feature group name", c.Name); err != nil {
		return c, err
	}
	if err := checkName(subj, "entity name", c.Entity); err != nil {
		return c, err
	}
	if err := checkName(subj, "store id", c.Store); err != nil {
		return c, err
	}
	if err := checkTTL(subj, c.TTL); err != nil {
		return c, err
	}
	if err := checkCache(subj, c.Cache); err != nil {
		return c, err
	}
	if err := checkText(subj, "description", c.Description, MaxDescription); err != nil {
		return c, err
	}
	if err := checkTags(subj, c.Tags); err != nil {
		return c, err
	}
	switch {
	case len(c.Features) == 0:
		return c, violation(ErrInvalid, RuleFeatureCount, subj, "it has no features")
	case len(c.Features) > MaxFeatures:
		return c, violation(ErrLimit, RuleFeatureCount, subj, "%d features, more than %d", len(c.Features), MaxFeatures)
	}
	features := make([]Feature, len(c.Features))
	seen := make(map[string]struct{}, len(c.Features))
	for i := range c.Features {
		f, err := checkFeature(c.Name, c.Features[i])
		if err != nil {
			return c, err
		}
		if _, dup := seen[f.Name]; dup {
			return c, violation(ErrInvalid, RuleFeatureUnique, featureSubject(c.Name, f.Name), "the feature is listed twice")
		}
		seen[f.Name] = struct{}{}
		features[i] = f
	}
	c.Features, c.Tags = features, normTags(c.Tags)
	return c, nil
}

func checkTTL(subj string, ttl time.Duration) error {
	switch {
	case ttl < 0:
		return violation(ErrInvalid, RuleTTL, subj, "ttl %v is negative", ttl)
	case ttl > MaxTTL:
		return violation(ErrLimit, RuleTTL, subj, "ttl %v is more than %v", ttl, MaxTTL)
	case ttl%time.Second != 0:
		return violation(ErrInvalid, RuleTTL, subj, "ttl %v is not whole seconds", ttl)
	}
	return nil
}

func checkCache(subj string, c CachePolicy) error {
	on := c.L1 || c.L2
	switch {
	case !on && c.TTL != 0:
		return violation(ErrInvalid, RuleCachePolicy, subj, "cache ttl %v is set but neither L1 nor L2 is on", c.TTL)
	case !on:
		return nil
	case c.TTL <= 0:
		return violation(ErrInvalid, RuleCachePolicy, subj, "cache ttl %v is not positive while a cache is on", c.TTL)
	case c.TTL > MaxCacheTTL:
		return violation(ErrLimit, RuleCachePolicy, subj, "cache ttl %v is more than %v", c.TTL, MaxCacheTTL)
	case c.TTL%time.Millisecond != 0:
		return violation(ErrInvalid, RuleCachePolicy, subj, "cache ttl %v is not whole milliseconds", c.TTL)
	}
	return nil
}

// checkFeature checks one feature on its own and returns it normalized.
func checkFeature(group string, f Feature) (Feature, error) {
	subj := featureSubject(group, f.Name)
	if err := checkName(subj, "feature name", f.Name); err != nil {
		return f, err
	}
	if !f.Type.Valid() {
		return f, violation(ErrInvalid, RuleDataType, subj, "type %v is not defined", f.Type)
	}
	switch {
	case f.VectorLength < 0:
		return f, violation(ErrInvalid, RuleVectorLength, subj, "vector length %d is negative", f.VectorLength)
	case f.VectorLength > MaxVectorLength:
		return f, violation(ErrLimit, RuleVectorLength, subj, "vector length %d is more than %d", f.VectorLength, MaxVectorLength)
	}
	def, why := f.Default.convert(f.Type)
	if why != "" {
		return f, violation(ErrInvalid, RuleDefault, subj, "default: %s", why)
	}
	if err := checkText(subj, "description", f.Description, MaxDescription); err != nil {
		return f, err
	}
	if err := checkTags(subj, f.Tags); err != nil {
		return f, err
	}
	f.Default, f.Tags = def, normTags(f.Tags)
	return f, nil
}

// putGroup applies a checked desired state to the group cur (nil for a new
// group): the rules that depend on the state, then the change, if any.
func (a *applier) putGroup(cur *FeatureGroup, spec ApplyFeatureGroup) (result, error) {
	subj := groupSubject(spec.Name)
	if cur != nil {
		switch {
		case spec.ID != 0 && spec.ID != cur.ID:
			return result{}, violation(ErrIncompatible, RuleGroupFixed, subj, "id %d cannot become %d", cur.ID, spec.ID)
		case spec.Entity != cur.Entity:
			return result{}, violation(ErrIncompatible, RuleGroupFixed, subj, "entity %q cannot become %q", cur.Entity, spec.Entity)
		case spec.Store != cur.Store:
			return result{}, violation(ErrIncompatible, RuleGroupFixed, subj, "store %q cannot become %q", cur.Store, spec.Store)
		}
	}
	entity, ok := a.r.entities[spec.Entity]
	if !ok {
		return result{}, violation(ErrNotFound, RuleReference, subj, "entity %q does not exist", spec.Entity)
	}
	if _, ok := a.r.stores[spec.Store]; !ok {
		return result{}, violation(ErrNotFound, RuleReference, subj, "store %q does not exist", spec.Store)
	}
	for i := range spec.Features {
		f := &spec.Features[i]
		if _, ok := entity.Key(f.Name); ok {
			return result{}, violation(ErrInvalid, RuleFeatureUnique, featureSubject(spec.Name, f.Name),
				"the name is a key column of entity %q", entity.Name)
		}
	}
	if cur == nil {
		return a.createGroup(spec)
	}
	if err := checkHistory(cur, spec.Features); err != nil {
		return result{}, err
	}

	active := cur.Active()
	sameFeatures := featuresEqual(active.Features, spec.Features)
	sameSettings := cur.TTL == spec.TTL && cur.Cache == spec.Cache &&
		cur.Description == spec.Description && maps.Equal(cur.Tags, spec.Tags)
	if sameFeatures && sameSettings {
		return result{groupID: cur.ID, groupVersion: active.Number, modRevision: cur.Meta.ModRevision}, nil
	}
	g := *cur
	g.TTL, g.Cache, g.Description, g.Tags = spec.TTL, spec.Cache, spec.Description, spec.Tags
	g.Meta = a.updated(cur.Meta)
	if !sameFeatures {
		if active.Number == math.MaxUint32 {
			return result{}, violation(ErrLimit, RuleLimit, subj, "the version numbers are exhausted")
		}
		g.Versions = make([]*Version, len(cur.Versions), len(cur.Versions)+1)
		copy(g.Versions, cur.Versions)
		g.Versions = append(g.Versions, NewVersion(active.Number+1, a.rev, a.at, spec.Features))
	}
	return result{next: a.next().withGroup(&g), groupID: g.ID, groupVersion: g.Active().Number}, nil
}

func (a *applier) createGroup(spec ApplyFeatureGroup) (result, error) {
	subj := groupSubject(spec.Name)
	id := spec.ID
	if id == 0 {
		if a.r.maxID == math.MaxUint32 {
			return result{}, violation(ErrLimit, RuleLimit, subj, "the feature group ids are exhausted")
		}
		id = a.r.maxID + 1
	}
	if g, ok := a.r.groups[id]; ok {
		return result{}, violation(ErrExists, RuleGroupID, subj, "id %d is used by feature group %q", id, g.Name)
	}
	if d, ok := a.r.deleted[id]; ok {
		return result{}, violation(ErrExists, RuleGroupID, subj,
			"id %d was used by feature group %q, deleted at revision %d", id, d.Name, d.DeleteRevision)
	}
	g := &FeatureGroup{
		ID: id, Name: spec.Name, Entity: spec.Entity, Store: spec.Store,
		TTL: spec.TTL, Cache: spec.Cache, Description: spec.Description, Tags: spec.Tags,
		Versions: []*Version{NewVersion(1, a.rev, a.at, spec.Features)},
		Meta:     a.created(),
	}
	return result{next: a.next().withGroup(g), groupID: id, groupVersion: 1}, nil
}

// checkHistory rejects a feature whose name was used in any version of the
// group, the active one or an earlier one, with another type or vector
// length: old blocks still hold values under that name, and readers map
// features across versions by name.
func checkHistory(g *FeatureGroup, features []Feature) error {
	type use struct {
		f       *Feature
		version uint32
	}
	hist := make(map[string]use, len(features))
	for _, v := range g.Versions {
		for i := range v.Features {
			f := &v.Features[i]
			if _, ok := hist[f.Name]; !ok {
				hist[f.Name] = use{f, v.Number}
			}
		}
	}
	active := g.Active()
	for i := range features {
		f := &features[i]
		h, ok := hist[f.Name]
		if !ok || (h.f.Type == f.Type && h.f.VectorLength == f.VectorLength) {
			continue
		}
		subj := featureSubject(g.Name, f.Name)
		if _, live := active.Index(f.Name); live {
			return violation(ErrIncompatible, RuleFeatureTypeFixed, subj, "type %s cannot become %s", h.f.Shape(), f.Shape())
		}
		return violation(ErrIncompatible, RuleFeatureTypeFixed, subj,
			"the name was %s from version %d and was removed since; it cannot come back as %s",
			h.f.Shape(), h.version, f.Shape())
	}
	return nil
}

func featuresEqual(a, b []Feature) bool {
	return slices.EqualFunc(a, b, func(x, y Feature) bool {
		return x.Name == y.Name && x.Type == y.Type && x.VectorLength == y.VectorLength &&
			x.Default == y.Default && x.Description == y.Description && maps.Equal(x.Tags, y.Tags)
	})
}

// specOf returns the desired state that leaves g as it is.
func specOf(g *FeatureGroup) ApplyFeatureGroup {
	return ApplyFeatureGroup{
		Name: g.Name, Entity: g.Entity, ID: g.ID, Store: g.Store,
		TTL: g.TTL, Cache: g.Cache, Description: g.Description, Tags: g.Tags,
		Features: slices.Clone(g.Active().Features),
	}
}

// ----------------------------------------------------------------------------
// Fine-grained feature group commands: each turns the group's current state
// and the change into a desired state, checked and applied like
// ApplyFeatureGroup.

// fineGrained checks the command's precondition and returns the live group
// and the desired state that leaves it as it is.
func (a *applier) fineGrained(group string) (*FeatureGroup, ApplyFeatureGroup, error) {
	cur, err := a.liveGroup(group)
	if err != nil {
		return nil, ApplyFeatureGroup{}, err
	}
	return cur, specOf(cur), nil
}

// checkCount rejects a fine-grained command that lists nothing or too much.
func checkCount(subj, what string, n int) error {
	switch {
	case n == 0:
		return violation(ErrInvalid, RuleRequired, subj, "no %s given", what)
	case n > MaxCommandObjects:
		return violation(ErrLimit, RuleFeatureCount, subj, "%d %s, more than %d", n, what, MaxCommandObjects)
	}
	return nil
}

// applySpec checks the desired state and applies it.
func (a *applier) applySpec(cur *FeatureGroup, spec ApplyFeatureGroup) (result, error) {
	spec, err := checkGroupSpec(spec)
	if err != nil {
		return result{}, err
	}
	return a.putGroup(cur, spec)
}

func (a *applier) addFeatures(c AddFeatures) (result, error) {
	subj := groupSubject(c.Group)
	if err := checkName(subj, "feature group name", c.Group); err != nil {
		return result{}, err
	}
	if err := checkCount(subj, "features", len(c.Features)); err != nil {
		return result{}, err
	}
	// The new features are checked on their own first, so that a bad one is
	// reported before a missing group or a stale revision hides it.
	for i := range c.Features {
		if _, err := checkFeature(c.Group, c.Features[i]); err != nil {
			return result{}, err
		}
	}
	cur, spec, err := a.fineGrained(c.Group)
	if err != nil {
		return result{}, err
	}
	active := cur.Active()
	for i := range c.Features {
		f := &c.Features[i]
		if _, ok := active.Index(f.Name); ok {
			return result{}, violation(ErrExists, RuleFeatureUnique, featureSubject(c.Group, f.Name),
				"the feature is in the active version %d already", active.Number)
		}
	}
	spec.Features = append(spec.Features, c.Features...)
	return a.applySpec(cur, spec)
}

func (a *applier) removeFeatures(c RemoveFeatures) (result, error) {
	subj := groupSubject(c.Group)
	if err := checkName(subj, "feature group name", c.Group); err != nil {
		return result{}, err
	}
	if err := checkCount(subj, "feature names", len(c.Names)); err != nil {
		return result{}, err
	}
	drop := make(map[string]struct{}, len(c.Names))
	for _, n := range c.Names {
		fs := featureSubject(c.Group, n)
		if err := checkName(fs, "feature name", n); err != nil {
			return result{}, err
		}
		if _, dup := drop[n]; dup {
			return result{}, violation(ErrInvalid, RuleFeatureDuplicate, fs, "the feature is listed twice")
		}
		drop[n] = struct{}{}
	}
	cur, spec, err := a.fineGrained(c.Group)
	if err != nil {
		return result{}, err
	}
	active := cur.Active()
	for _, n := range c.Names {
		if _, ok := active.Index(n); !ok {
			return result{}, violation(ErrNotFound, RuleFeatureMissing, featureSubject(c.Group, n),
				"the feature is not in the active version %d", active.Number)
		}
	}
	spec.Features = slices.DeleteFunc(spec.Features, func(f Feature) bool {
		_, ok := drop[f.Name]
		return ok
	})
	if len(spec.Features) == 0 {
		return result{}, violation(ErrInvalid, RuleFeatureCount, subj,
			"removing every feature would leave it empty; delete the feature group instead")
	}
	return a.applySpec(cur, spec)
}

func (a *applier) setDefaults(c SetDefaults) (result, error) {
	subj := groupSubject(c.Group)
	if err := checkName(subj, "feature group name", c.Group); err != nil {
		return result{}, err
	}
	if err := checkCount(subj, "defaults", len(c.Defaults)); err != nil {
		return result{}, err
	}
	seen := make(map[string]struct{}, len(c.Defaults))
	for _, d := range c.Defaults {
		fs := featureSubject(c.Group, d.Feature)
		if err := checkName(fs, "feature name", d.Feature); err != nil {
			return result{}, err
		}
		if _, dup := seen[d.Feature]; dup {
			return result{}, violation(ErrInvalid, RuleFeatureDuplicate, fs, "the feature is listed twice")
		}
		seen[d.Feature] = struct{}{}
	}
	cur, spec, err := a.fineGrained(c.Group)
	if err != nil {
		return result{}, err
	}
	active := cur.Active()
	for _, d := range c.Defaults {
		i, ok := active.Index(d.Feature)
		if !ok {
			return result{}, violation(ErrNotFound, RuleFeatureMissing, featureSubject(c.Group, d.Feature),
				"the feature is not in the active version %d", active.Number)
		}
		spec.Features[i].Default = d.Value // checked against the type by applySpec
	}
	return a.applySpec(cur, spec)
}

func (a *applier) setTTL(c SetTTL) (result, error) {
	subj := groupSubject(c.Group)
	if err := checkName(subj, "feature group name", c.Group); err != nil {
		return result{}, err
	}
	if err := checkTTL(subj, c.TTL); err != nil {
		return result{}, err
	}
	cur, spec, err := a.fineGrained(c.Group)
	if err != nil {
		return result{}, err
	}
	spec.TTL = c.TTL
	return a.applySpec(cur, spec)
}

func (a *applier) setCachePolicy(c SetCachePolicy) (result, error) {
	subj := groupSubject(c.Group)
	if err := checkName(subj, "feature group name", c.Group); err != nil {
		return result{}, err
	}
	if err := checkCache(subj, c.Cache); err != nil {
		return result{}, err
	}
	cur, spec, err := a.fineGrained(c.Group)
	if err != nil {
		return result{}, err
	}
	spec.Cache = c.Cache
	return a.applySpec(cur, spec)
}
