package main

import (
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/spf13/cobra"

	"github.com/ofstack/ofs/internal/config"
	"github.com/ofstack/ofs/schema"
	"github.com/ofstack/ofs/views"
	"github.com/ofstack/ofs/views/connections"
)

// The stores `ofs bench retrieve` can seed and read.
const (
	benchRedis        = "redis"
	benchRedisCluster = "redis-cluster"
	benchScylla       = "scylla"
)

// errBenchStore: --store names no store the bench knows.
var errBenchStore = errors.New("bench: unknown store")

// checkStore says whether o names a store and where it is.
func (o *benchOptions) checkStore() error {
	switch o.store {
	case benchRedis:
		if o.redisAddr == "" {
			return errors.New("--store redis needs --redis")
		}
	case benchRedisCluster:
		if len(config.SplitList(o.redisCluster)) == 0 {
			return errors.New("--store redis-cluster needs --redis-cluster (or OFS_REDIS_CLUSTER_ADDRS)")
		}
	case benchScylla:
		if len(config.SplitList(o.cassandra)) == 0 {
			return errors.New("--store scylla needs --cassandra (or OFS_CASSANDRA_HOSTS)")
		}
	default:
		return fmt.Errorf("%w: --store %q: redis, redis-cluster or scylla", errBenchStore, o.store)
	}
	return nil
}

// storeKind is the registry kind of the bench's store.
func (o *benchOptions) storeKind() schema.StoreKind {
	if o.store == benchScylla {
		return schema.Scylla
	}
	return schema.Redis
}

// openStore opens the store the bench seeds and reads: Redis under the key
// prefix, or Cassandra/ScyllaDB in the keyspace, whose table of the
// entity it creates from reg. The Cassandra login is OFS_CASSANDRA_USER
// and OFS_CASSANDRA_PASSWORD, by default those of the dev node.
func (o *benchOptions) openStore(reg *schema.Registry) (views.Store, error) {
	switch o.store {
	case benchRedis:
		return views.OpenRedis(&redis.UniversalOptions{Addrs: []string{o.redisAddr}, PoolSize: 64},
			views.RedisPrefix(o.keyPrefix))
	case benchRedisCluster:
		return views.OpenRedis(&redis.UniversalOptions{Addrs: config.SplitList(o.redisCluster), IsClusterMode: true, PoolSize: 64},
			views.RedisPrefix(o.keyPrefix))
	case benchScylla:
		return views.OpenScylla(config.SplitList(o.cassandra), views.ScyllaKeyspace(o.keyspace),
			views.ScyllaTimeout(30*time.Second),
			views.ScyllaAuth(envOr("OFS_CASSANDRA_USER", "cassandra"), envOr("OFS_CASSANDRA_PASSWORD", "cassandra")),
			views.ScyllaTables(func(entity string) (views.Table, bool) {
				e, ok := reg.Entity(entity)
				if !ok {
					return views.Table{}, false
				}
				return connections.TableOf(e), true
			}))
	default:
		return nil, fmt.Errorf("%w: %q", errBenchStore, o.store)
	}
}

// storeFlags registers the flags of the store choice.
func (o *benchOptions) storeFlags(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&o.store, "store", benchRedis, "store to seed and read: redis, redis-cluster or scylla (Cassandra/ScyllaDB)")
	f.StringVar(&o.redisAddr, "redis", envOr("OFS_REDIS_ADDR", "127.0.0.1:6379"), "Redis to seed and read (loopback), for --store redis")
	f.StringVar(&o.redisCluster, "redis-cluster", os.Getenv("OFS_REDIS_CLUSTER_ADDRS"), "seeds of the Redis Cluster, comma-separated, for --store redis-cluster")
	f.StringVar(&o.cassandra, "cassandra", os.Getenv("OFS_CASSANDRA_HOSTS"), "CQL contact points, comma-separated, for --store scylla")
	f.StringVar(&o.keyPrefix, "key-prefix", "ofsbench:", "prefix of the seeded Redis keys")
	f.StringVar(&o.keyspace, "keyspace", "ofsbench", "keyspace of the seeded Cassandra/ScyllaDB table")
}

// storeArgs are the store flags, for the target process.
func (o *benchOptions) storeArgs() []string {
	return []string{"--store", o.store, "--redis", o.redisAddr, "--redis-cluster", o.redisCluster,
		"--cassandra", o.cassandra, "--key-prefix", o.keyPrefix, "--keyspace", o.keyspace}
}
