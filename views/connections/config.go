// Package connections opens the online stores a process is configured with.
//
// The registry names a store's connection, never its addresses or
// credentials: each environment's configuration maps that name to where the
// store is (Configs). A Set opens each connection once, on first use, and
// follows the targets in etcd that a blue/green replay sets, which move a
// connection to another key prefix or keyspace.
package connections

import (
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/gocql/gocql"

	"github.com/ofstack/ofs/internal/tlsconf"
	"github.com/ofstack/ofs/views/registrycopy"
)

// Configs maps a connection name, as a registry store names it, to the
// addresses of that store. Credentials and addresses never enter the
// registry; servers and processors of each environment bring their own.
type Configs map[string]Config

// Config is one store connection: exactly one of its fields is set.
type Config struct {
	Redis  *Redis  `yaml:"redis,omitempty"`
	Scylla *Scylla `yaml:"scylla,omitempty"`
	// Pebble is a store embedded in the process (views.Pebble), standing in
	// for a store of any kind: for `ofs dev` and single-process setups.
	Pebble *Pebble `yaml:"pebble,omitempty"`
}

// Pebble places an embedded store.
type Pebble struct {
	Dir string `yaml:"dir"`
}

// Redis connects to Redis or Dragonfly: one address for a standalone
// server, several for a cluster, or sentinels with a master name.
type Redis struct {
	Addrs      []string `yaml:"addrs"`
	MasterName string   `yaml:"master_name,omitempty"`
	DB         int      `yaml:"db,omitempty"`
	Username   string   `yaml:"username,omitempty"`
	Password   string   `yaml:"password,omitempty"`
	// PasswordEnv names the environment variable that holds the password
	// instead (one filled from a secret store), so that the file holds none.
	PasswordEnv string `yaml:"password_env,omitempty"`
	// KeyPrefix starts every key ofs writes; default "ofs:".
	KeyPrefix string               `yaml:"key_prefix,omitempty"`
	TLS       tlsconf.ClientConfig `yaml:"tls,omitempty"`
}

// Scylla connects to ScyllaDB (or Cassandra).
type Scylla struct {
	Hosts    []string `yaml:"hosts"`
	Keyspace string   `yaml:"keyspace"`
	// Username and Password log in (PasswordAuthenticator, or a managed
	// service's user).
	Username string `yaml:"username,omitempty"`
	Password string `yaml:"password,omitempty"`
	// PasswordEnv: as for Redis.
	PasswordEnv string               `yaml:"password_env,omitempty"`
	TLS         tlsconf.ClientConfig `yaml:"tls,omitempty"`
	// Consistency of reads and writes: LOCAL_QUORUM (the default), ONE,
	// LOCAL_ONE, QUORUM, ALL, ...
	Consistency string `yaml:"consistency,omitempty"`
	// Timeout bounds connecting and each request (default 5s).
	Timeout time.Duration `yaml:"timeout,omitempty"`
	// Replication of the keyspace when ofs creates it, as CQL writes it:
	// {class: NetworkTopologyStrategy, dc1: "3"}. Empty: one replica
	// (views.DefaultScyllaReplication), for development. A keyspace that
	// exists is never altered.
	Replication map[string]string `yaml:"replication,omitempty"`
}

// Validate reports every problem of the connections at once, each named by
// its place in the configuration file (stores.NAME...).
func (c Configs) Validate() error {
	var errs []error
	for name, s := range c {
		set := 0
		for _, on := range []bool{s.Redis != nil, s.Scylla != nil, s.Pebble != nil} {
			if on {
				set++
			}
		}
		if set != 1 {
			errs = append(errs, fmt.Errorf("stores.%s: set exactly one of redis, scylla or pebble", name))
		}
		if s.Pebble != nil && s.Pebble.Dir == "" {
			errs = append(errs, fmt.Errorf("stores.%s.pebble.dir is empty", name))
		}
		if s.Redis != nil && len(s.Redis.Addrs) == 0 {
			errs = append(errs, fmt.Errorf("stores.%s.redis.addrs is empty", name))
		}
		if s.Scylla != nil && len(s.Scylla.Hosts) == 0 {
			errs = append(errs, fmt.Errorf("stores.%s.scylla.hosts is empty", name))
		}
		if s.Scylla != nil && s.Scylla.Consistency != "" {
			if _, err := gocql.ParseConsistencyWrapper(s.Scylla.Consistency); err != nil {
				errs = append(errs, fmt.Errorf("stores.%s.scylla.consistency: %w", name, err))
			}
		}
		if s.Scylla != nil && len(s.Scylla.Replication) > 0 && s.Scylla.Replication["class"] == "" {
			errs = append(errs, fmt.Errorf("stores.%s.scylla.replication has no class (SimpleStrategy or NetworkTopologyStrategy)", name))
		}
		if s.Scylla != nil && s.Scylla.Timeout < 0 {
			errs = append(errs, fmt.Errorf("stores.%s.scylla.timeout is %s, want 0 (default) or more", name, s.Scylla.Timeout))
		}
		if s.Redis != nil {
			errs = append(errs, checkPasswordEnv("stores."+name+".redis", s.Redis.Password, s.Redis.PasswordEnv))
		}
		if s.Scylla != nil {
			errs = append(errs, checkPasswordEnv("stores."+name+".scylla", s.Scylla.Password, s.Scylla.PasswordEnv))
		}
	}
	return errors.Join(errs...)
}

// checkPasswordEnv reports a password given twice, or named in an
// environment variable that is not set.
func checkPasswordEnv(where, password, env string) error {
	switch {
	case env == "":
		return nil
	case password != "":
		return fmt.Errorf("%s: password and password_env are both set", where)
	case os.Getenv(env) == "":
		return fmt.Errorf("%s.password_env: %s is not set", where, env)
	}
	return nil
}

// passwordOf returns the password, from the environment variable env when
// it is named (Validate checked that it is set).
func passwordOf(password, env string) string {
	if env != "" {
		return os.Getenv(env)
	}
	return password
}

// Retarget returns c moved to a target's key prefix or keyspace.
func (c Config) Retarget(t registrycopy.Target) Config {
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
