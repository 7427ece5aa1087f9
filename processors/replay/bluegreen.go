package replay

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/ofstack/ofs/schema"
	"github.com/ofstack/ofs/views"
	"github.com/ofstack/ofs/views/registrycopy"
)

// Errors of a blue/green plan: the command line asks for something that
// cannot be done.
var (
	ErrNothingToFill = errors.New("replay: no configured connection of that kind to fill")
	ErrSameTarget    = errors.New("replay: the connection already uses that target")
)

// Targets is what blue/green needs of the stores a command opened: it
// points connections at targets, and opens the store a connection points at
// now. The command's store set (one per process) satisfies it.
type Targets interface {
	SetTargets(map[string]registrycopy.Target)
	Connection(name string, kind schema.StoreKind) (views.Store, error)
}

// Connection is what a blue/green plan needs of one configured store
// connection, as it points now (after its current target).
type Connection struct {
	Name string
	// KeyPrefix is set for a Redis connection: its key prefix now.
	Redis     bool
	KeyPrefix string
	// Scylla connections are moved to a new keyspace.
	Scylla bool
}

// Plan returns the connections a blue/green replay to target moves, with
// their new targets: the Redis connections for a key prefix, the Scylla ones
// for a keyspace.
func Plan(conns []Connection, target registrycopy.Target) (map[string]registrycopy.Target, error) {
	moved := map[string]registrycopy.Target{}
	for _, c := range conns {
		switch {
		case c.Redis && target.KeyPrefix != "":
			if c.KeyPrefix == target.KeyPrefix {
				return nil, fmt.Errorf("%w: connection %q uses prefix %q", ErrSameTarget, c.Name, target.KeyPrefix)
			}
			moved[c.Name] = registrycopy.Target{KeyPrefix: target.KeyPrefix}
		case c.Scylla && target.Keyspace != "":
			moved[c.Name] = registrycopy.Target{Keyspace: target.Keyspace}
		}
	}
	if len(moved) == 0 {
		return nil, ErrNothingToFill
	}
	return moved, nil
}

// Prepare points stores at the moved connections' new targets (the others
// stay at current) and creates the tables of every entity in a new Scylla
// keyspace, so that a replay into stores fills the new targets.
func Prepare(ctx context.Context, snap *schema.Snapshot, stores Targets, current, moved map[string]registrycopy.Target) error {
	all := maps.Clone(current)
	if all == nil {
		all = map[string]registrycopy.Target{}
	}
	maps.Copy(all, moved)
	stores.SetTargets(all)
	for _, st := range snap.Registry().Stores() {
		if _, ok := moved[st.Connection]; !ok || st.Kind != schema.Scylla {
			continue
		}
		s, err := stores.Connection(st.Connection, st.Kind)
		if err != nil {
			return err
		}
		if sc, ok := s.(interface {
			EnsureTables(context.Context, ...views.Table) error
		}); ok {
			if err := sc.EnsureTables(ctx, ScyllaTables(snap)...); err != nil {
				return fmt.Errorf("replay: tables of connection %q: %w", st.Connection, err)
			}
		}
	}
	return nil
}

// ScyllaTables are the tables of every entity of snap.
func ScyllaTables(snap *schema.Snapshot) []views.Table {
	out := make([]views.Table, 0, len(snap.Registry().Entities()))
	for _, e := range snap.Registry().Entities() {
		t := views.Table{Entity: e.Name}
		for _, k := range e.Keys {
			t.Keys = append(t.Keys, views.KeyColumn{Name: k.Name, Type: k.Type})
		}
		out = append(out, t)
	}
	return out
}

// Switch moves the connections to their new targets in one etcd
// transaction, then waits until every process that follows the targets
// (registrycopy.WatchTargets with registrycopy.Acknowledge) has applied it. The
// switch counts only then: a laggard is named in the error
// (registrycopy.ErrNotAcknowledged), and the caller must not catch up or report
// success before every process reads and writes the new target.
func Switch(ctx context.Context, cli *clientv3.Client, root, acksRoot string, moved map[string]registrycopy.Target, timeout time.Duration) error {
	rev, err := registrycopy.SwitchTargets(ctx, cli, root, moved)
	if err != nil {
		return err
	}
	return registrycopy.WaitAcknowledged(ctx, cli, acksRoot, rev, timeout)
}
