// Package registrycopy is the serving copy of the registry in etcd: the registry
// processor publishes every applied state into it, and feature servers and
// ingest processors watch it into a schema.Holder.
//
// Layout under a root prefix (by default /<topics prefix>/registry/):
//
//	<root>revision           the registry revision, 20 decimal digits
//	<root>stores/<id>        a Registry proto holding one store
//	<root>entities/<name>    a Registry proto holding one entity and its live feature groups
//	<root>deleted/<id>       a Registry proto holding one deleted group's tombstone
//
// Every value is a fragment of the registry state, marshaled
// deterministically; the union of the fragments at one revision is the whole
// state. A publish writes the changed fragments and then the revision key,
// and readers rebuild their snapshot only when the revision key changes, so a
// reader never sees half an update, even when a large publish takes several
// etcd transactions.
package registrycopy

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"google.golang.org/protobuf/proto"

	registryv1 "github.com/ofstack/ofs/proto/ofs/registry/v1"
	"github.com/ofstack/ofs/schema"
)

// Sentinel errors.
var (
	// ErrCorrupt is returned for a value under the root that does not decode.
	ErrCorrupt = errors.New("registrycopy: corrupt entry")
	// ErrConflict is returned when another writer moved the revision key
	// while a publish was under way; the publish is retried by the caller.
	ErrConflict = errors.New("registrycopy: concurrent publish")
)

const (
	revisionKey = "revision"
	storesDir   = "stores/"
	entitiesDir = "entities/"
	deletedDir  = "deleted/"
)

// Root returns the default root prefix for a topics prefix.
func Root(topicsPrefix string) string { return "/" + topicsPrefix + "/registry/" }

func formatRevision(rev uint64) string { return fmt.Sprintf("%020d", rev) }

func parseRevision(b []byte) (uint64, error) {
	rev, err := strconv.ParseUint(string(b), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%w: revision %q", ErrCorrupt, b)
	}
	return rev, nil
}

var marshal = proto.MarshalOptions{Deterministic: true}

// fragments splits a registry into its etcd keys (relative to the root) and
// values. The revision key is not among them.
func fragments(r *schema.Registry) (map[string][]byte, error) {
	p := r.ToProto()
	out := make(map[string][]byte, len(p.GetStores())+len(p.GetEntities())+len(p.GetDeletedFeatureGroups()))
	put := func(key string, frag *registryv1.Registry) error {
		b, err := marshal.Marshal(frag)
		if err != nil {
			return fmt.Errorf("registrycopy: marshal %s: %w", key, err)
		}
		out[key] = b
		return nil
	}
	for _, s := range p.GetStores() {
		if err := put(storesDir+s.GetId(), &registryv1.Registry{Stores: []*registryv1.Store{s}}); err != nil {
			return nil, err
		}
	}
	groups := map[string][]*registryv1.FeatureGroup{}
	for _, g := range p.GetFeatureGroups() { // sorted by id, so each entity's list is too
		groups[g.GetEntity()] = append(groups[g.GetEntity()], g)
	}
	for _, e := range p.GetEntities() {
		frag := &registryv1.Registry{Entities: []*registryv1.Entity{e}, FeatureGroups: groups[e.GetName()]}
		if err := put(entitiesDir+e.GetName(), frag); err != nil {
			return nil, err
		}
	}
	for _, d := range p.GetDeletedFeatureGroups() {
		frag := &registryv1.Registry{DeletedFeatureGroups: []*registryv1.DeletedFeatureGroup{d}}
		if err := put(deletedDir+strconv.FormatUint(uint64(d.GetId()), 10), frag); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// assemble rebuilds the registry from fragments (keys relative to the root)
// at revision rev.
func assemble(rev uint64, frags map[string][]byte) (*schema.Registry, error) {
	whole := &registryv1.Registry{Revision: rev}
	for key, b := range frags {
		if !isFragment(key) {
			continue // the lock, or a key a later version added
		}
		var f registryv1.Registry
		if err := proto.Unmarshal(b, &f); err != nil {
			return nil, fmt.Errorf("%w: %s: %w", ErrCorrupt, key, err)
		}
		whole.Stores = append(whole.Stores, f.GetStores()...)
		whole.Entities = append(whole.Entities, f.GetEntities()...)
		whole.FeatureGroups = append(whole.FeatureGroups, f.GetFeatureGroups()...)
		whole.DeletedFeatureGroups = append(whole.DeletedFeatureGroups, f.GetDeletedFeatureGroups()...)
	}
	r, err := schema.RegistryFromProto(whole)
	if err != nil {
		return nil, fmt.Errorf("registrycopy: registry at revision %d: %w", rev, err)
	}
	return r, nil
}

// isFragment reports whether a key (relative to the root) holds a fragment
// of the state.
func isFragment(key string) bool {
	return strings.HasPrefix(key, storesDir) || strings.HasPrefix(key, entitiesDir) ||
		strings.HasPrefix(key, deletedDir)
}
