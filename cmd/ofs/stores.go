package main

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"github.com/redis/go-redis/v9"

	"github.com/ofstack/ofs/schema"
	"github.com/ofstack/ofs/views"
)

// storeSet opens the online stores of the configuration on first use and
// finds the one behind a registry store: the registry names a connection,
// the configuration says where that connection goes.
type storeSet struct {
	cfg    StoreConfigs
	holder *schema.Holder
	log    *slog.Logger

	mu     sync.Mutex
	open   map[string]views.Store // by connection name
	closed bool
}

func newStoreSet(cfg StoreConfigs, holder *schema.Holder, log *slog.Logger) *storeSet {
	return &storeSet{cfg: cfg, holder: holder, log: log, open: map[string]views.Store{}}
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
	if st, ok := s.open[name]; ok {
		return st, nil
	}
	c, ok := s.cfg[name]
	if !ok {
		return nil, fmt.Errorf("connection %q is not configured (stores.%s in the configuration file)", name, name)
	}
	var (
		st  views.Store
		err error
	)
	switch {
	case c.Redis != nil && (kind == schema.Redis || kind == schema.Dragonfly):
		opts := []views.RedisOption{}
		if c.Redis.KeyPrefix != "" {
			opts = append(opts, views.RedisPrefix(c.Redis.KeyPrefix))
		}
		st, err = views.OpenRedis(&redis.UniversalOptions{
			Addrs: c.Redis.Addrs, MasterName: c.Redis.MasterName, DB: c.Redis.DB,
			Username: c.Redis.Username, Password: c.Redis.Password,
		}, opts...)
	case c.Scylla != nil && kind == schema.Scylla:
		opts := []views.ScyllaOption{views.ScyllaLogger(s.log)}
		if c.Scylla.Keyspace != "" {
			opts = append(opts, views.ScyllaKeyspace(c.Scylla.Keyspace))
		}
		st, err = views.OpenScylla(c.Scylla.Hosts, opts...)
	default:
		return nil, fmt.Errorf("connection %q is not a %s connection", name, kind)
	}
	if err != nil {
		return nil, fmt.Errorf("connection %q: %w", name, err)
	}
	s.open[name] = st
	return st, nil
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
