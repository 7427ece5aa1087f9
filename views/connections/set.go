package connections

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"github.com/gocql/gocql"
	"github.com/redis/go-redis/v9"

	"github.com/ofstack/ofs/schema"
	"github.com/ofstack/ofs/views"
	"github.com/ofstack/ofs/views/registrycopy"
)

// Set opens the online stores of the configuration on first use and finds
// the one behind a registry store: the registry names a connection, the
// configuration says where that connection goes, and a target in etcd (set
// by a blue/green replay) may move it to another key prefix or keyspace.
// It is safe for concurrent use.
type Set struct {
	cfg    Configs
	holder *schema.Holder
	log    *slog.Logger

	mu      sync.Mutex
	open    map[string]views.Store // by connection name and target
	targets map[string]registrycopy.Target
	closed  bool
}

// NewSet returns a Set of the connections cfg, which finds registry stores
// in holder's registry.
func NewSet(cfg Configs, holder *schema.Holder, log *slog.Logger) *Set {
	return &Set{cfg: cfg, holder: holder, log: log, open: map[string]views.Store{}}
}

// SetTargets moves connections to new targets: the next lookup of a moved
// connection opens (once) the store of its target. Stores of old targets
// stay open until Close, for the calls still using them.
func (s *Set) SetTargets(t map[string]registrycopy.Target) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for name, tg := range t {
		if s.targets[name] != tg {
			s.log.Info("store connection switched", "connection", name, "key_prefix", tg.KeyPrefix, "keyspace", tg.Keyspace)
		}
	}
	s.targets = t
}

// ForStore returns the store behind the registry store id.
func (s *Set) ForStore(id string) (views.Store, error) {
	st, ok := s.holder.Load().Store(id)
	if !ok {
		return nil, fmt.Errorf("the registry has no store %q", id)
	}
	return s.Connection(st.Connection, st.Kind)
}

// Resolve returns the store behind a registry store: that of its
// connection, opened once. It is a views.StoreResolver.
func (s *Set) Resolve(st *schema.Store) (views.Store, error) {
	return s.Connection(st.Connection, st.Kind)
}

// Connection returns the store of a configured connection, opening it once.
func (s *Set) Connection(name string, kind schema.StoreKind) (views.Store, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, errors.New("stores are closed")
	}
	tg := s.targets[name]
	id := name + "\x00" + tg.KeyPrefix + "\x00" + tg.Keyspace
	if st, ok := s.open[id]; ok {
		return st, nil
	}
	c, ok := s.cfg[name]
	if !ok {
		return nil, fmt.Errorf("connection %q is not configured (stores.%s in the configuration file)", name, name)
	}
	st, err := c.Retarget(tg).open(kind, s.holder, s.log)
	if errors.Is(err, errWrongKind) {
		return nil, fmt.Errorf("connection %q is not a %s connection", name, kind)
	}
	if err != nil {
		return nil, fmt.Errorf("connection %q: %w", name, err)
	}
	s.open[id] = st
	return st, nil
}

// errWrongKind: the connection is not of the registry store's kind.
var errWrongKind = errors.New("connections: wrong kind")

// open opens the store of c for a registry store of that kind.
func (c Config) open(kind schema.StoreKind, holder *schema.Holder, log *slog.Logger) (views.Store, error) {
	switch {
	case c.Pebble != nil:
		return openEmbedded(c.Pebble.Dir, log)
	case c.Redis != nil && (kind == schema.Redis || kind == schema.Dragonfly):
		opts := []views.RedisOption{}
		if c.Redis.KeyPrefix != "" {
			opts = append(opts, views.RedisPrefix(c.Redis.KeyPrefix))
		}
		tlsCfg, err := c.Redis.TLS.Config()
		if err != nil {
			return nil, fmt.Errorf("tls: %w", err)
		}
		return views.OpenRedis(&redis.UniversalOptions{
			Addrs: c.Redis.Addrs, MasterName: c.Redis.MasterName, DB: c.Redis.DB,
			Username: c.Redis.Username, Password: passwordOf(c.Redis.Password, c.Redis.PasswordEnv), TLSConfig: tlsCfg,
		}, opts...)
	case c.Scylla != nil && kind == schema.Scylla:
		opts := []views.ScyllaOption{views.ScyllaLogger(log)}
		if holder != nil {
			// Every process that reads or writes ensures the tables of the
			// entities it meets, from the registry it holds.
			opts = append(opts, views.ScyllaTables(func(entity string) (views.Table, bool) {
				e, ok := holder.Load().Entity(entity)
				if !ok {
					return views.Table{}, false
				}
				return TableOf(e), true
			}))
		}
		if c.Scylla.Keyspace != "" {
			opts = append(opts, views.ScyllaKeyspace(c.Scylla.Keyspace))
		}
		if c.Scylla.Consistency != "" {
			cl, err := gocql.ParseConsistencyWrapper(c.Scylla.Consistency) // Validate checked it
			if err != nil {
				return nil, err
			}
			opts = append(opts, views.ScyllaConsistency(cl))
		}
		if len(c.Scylla.Replication) > 0 {
			opts = append(opts, views.ScyllaReplication(c.Scylla.Replication))
		}
		if c.Scylla.Timeout > 0 {
			opts = append(opts, views.ScyllaTimeout(c.Scylla.Timeout))
		}
		if pw := passwordOf(c.Scylla.Password, c.Scylla.PasswordEnv); c.Scylla.Username != "" || pw != "" {
			opts = append(opts, views.ScyllaAuth(c.Scylla.Username, pw))
		}
		tlsCfg, err := c.Scylla.TLS.Config()
		if err != nil {
			return nil, fmt.Errorf("tls: %w", err)
		}
		if tlsCfg != nil {
			opts = append(opts, views.ScyllaTLS(tlsCfg))
		}
		return views.OpenScylla(c.Scylla.Hosts, opts...)
	default:
		return nil, errWrongKind
	}
}

// Close closes every store opened.
func (s *Set) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	errs := make([]error, 0, len(s.open))
	for _, st := range s.open {
		errs = append(errs, st.Close())
	}
	return errors.Join(errs...)
}

// embedded shares the embedded stores of a process among its Sets (the
// server's and the ingest processor's in `ofs dev`): Pebble locks its
// folder, so each is opened once and closed with its last user.
var embedded struct {
	sync.Mutex
	open map[string]*sharedPebble
}

type sharedPebble struct {
	*views.Pebble
	dir  string
	refs int
}

func openEmbedded(dir string, log *slog.Logger) (views.Store, error) {
	embedded.Lock()
	defer embedded.Unlock()
	if embedded.open == nil {
		embedded.open = map[string]*sharedPebble{}
	}
	if p, ok := embedded.open[dir]; ok {
		p.refs++
		return p, nil
	}
	st, err := views.OpenPebble(dir, log)
	if err != nil {
		return nil, err
	}
	p := &sharedPebble{Pebble: st, dir: dir, refs: 1}
	embedded.open[dir] = p
	return p, nil
}

// Close closes the store when its last user does.
func (p *sharedPebble) Close() error {
	embedded.Lock()
	defer embedded.Unlock()
	if p.refs--; p.refs > 0 {
		return nil
	}
	delete(embedded.open, p.dir)
	return p.Pebble.Close()
}

// TableOf is what a Scylla store needs to know of a registry entity.
func TableOf(e *schema.Entity) views.Table {
	t := views.Table{Entity: e.Name}
	for _, k := range e.Keys {
		t.Keys = append(t.Keys, views.KeyColumn{Name: k.Name, Type: k.Type})
	}
	return t
}
