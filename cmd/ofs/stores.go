package main

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"

	"github.com/redis/go-redis/v9"

	"github.com/ofstack/ofs/schema"
	"github.com/ofstack/ofs/views"
	"github.com/ofstack/ofs/views/catalog"
)

// storeSet opens the online stores of the configuration on first use and
// finds the one behind a registry store: the registry names a connection,
// the configuration says where that connection goes, and a target in etcd
// (set by a blue/green replay) may move it to another key prefix or
// keyspace.
type storeSet struct {
	cfg    StoreConfigs
	holder *schema.Holder
	log    *slog.Logger

	mu      sync.Mutex
	open    map[string]views.Store // by connection name and target
	targets map[string]catalog.Target
	closed  bool
}

func newStoreSet(cfg StoreConfigs, holder *schema.Holder, log *slog.Logger) *storeSet {
	return &storeSet{cfg: cfg, holder: holder, log: log, open: map[string]views.Store{}}
}

// SetTargets moves connections to new targets: the next lookup of a moved
// connection opens (once) the store of its target. Stores of old targets
// stay open until Close, for the calls still using them.
func (s *storeSet) SetTargets(t map[string]catalog.Target) {
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
func (s *storeSet) ForStore(id string) (views.Store, error) {
	st, ok := s.holder.Load().Store(id)
	if !ok {
		return nil, fmt.Errorf("the registry has no store %q", id)
	}
	return s.Connection(st.Connection, st.Kind)
}

// Connection returns the store of a configured connection, opening it once.
func (s *storeSet) Connection(name string, kind schema.StoreKind) (views.Store, error) {
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
	c = c.retarget(tg)
	var (
		st  views.Store
		err error
	)
	switch {
	case c.Pebble != nil:
		st, err = openEmbedded(c.Pebble.Dir, s.log)
	case c.Redis != nil && (kind == schema.Redis || kind == schema.Dragonfly):
		opts := []views.RedisOption{}
		if c.Redis.KeyPrefix != "" {
			opts = append(opts, views.RedisPrefix(c.Redis.KeyPrefix))
		}
		tlsCfg, terr := c.Redis.TLS.Config()
		if terr != nil {
			return nil, fmt.Errorf("connection %q: tls: %w", name, terr)
		}
		st, err = views.OpenRedis(&redis.UniversalOptions{
			Addrs: c.Redis.Addrs, MasterName: c.Redis.MasterName, DB: c.Redis.DB,
			Username: c.Redis.Username, Password: passwordOf(c.Redis.Password, c.Redis.PasswordEnv), TLSConfig: tlsCfg,
		}, opts...)
	case c.Scylla != nil && kind == schema.Scylla:
		opts := []views.ScyllaOption{views.ScyllaLogger(s.log)}
		if c.Scylla.Keyspace != "" {
			opts = append(opts, views.ScyllaKeyspace(c.Scylla.Keyspace))
		}
		if pw := passwordOf(c.Scylla.Password, c.Scylla.PasswordEnv); c.Scylla.Username != "" || pw != "" {
			opts = append(opts, views.ScyllaAuth(c.Scylla.Username, pw))
		}
		tlsCfg, terr := c.Scylla.TLS.Config()
		if terr != nil {
			return nil, fmt.Errorf("connection %q: tls: %w", name, terr)
		}
		if tlsCfg != nil {
			opts = append(opts, views.ScyllaTLS(tlsCfg))
		}
		st, err = views.OpenScylla(c.Scylla.Hosts, opts...)
	default:
		return nil, fmt.Errorf("connection %q is not a %s connection", name, kind)
	}
	if err != nil {
		return nil, fmt.Errorf("connection %q: %w", name, err)
	}
	s.open[id] = st
	return st, nil
}

// passwordOf returns the password, from the environment variable env when
// it is named (Validate checked that it is set).
func passwordOf(password, env string) string {
	if env != "" {
		return os.Getenv(env)
	}
	return password
}

// retarget returns c moved to a target's key prefix or keyspace.
func (c StoreConfig) retarget(t catalog.Target) StoreConfig {
	if c.Redis != nil && t.KeyPrefix != "" {
		r := *c.Redis
		r.KeyPrefix = t.KeyPrefix
		c.Redis = &r
	}
	if c.Scylla != nil && t.Keyspace != "" {
		sc := *c.Scylla
		sc.Keyspace = t.Keyspace
		c.Scylla = &sc
	}
	return c
}

// Close closes every store opened.
func (s *storeSet) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	errs := make([]error, 0, len(s.open))
	for _, st := range s.open {
		errs = append(errs, st.Close())
	}
	return errors.Join(errs...)
}

// embedded shares the embedded stores of a process among its storeSets (the
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
