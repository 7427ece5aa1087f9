package ingest_test

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ofstack/ofs/internal/testenv"
	"github.com/ofstack/ofs/views"
	"github.com/ofstack/ofs/views/connections"
)

// benchStoreEnv chooses the store BenchmarkIngest writes into: redis (the
// default, the dev Redis), redis-cluster (the dev Redis Cluster of three
// masters) or scylla (the dev Cassandra, ScyllaDB's stand-in).
const benchStoreEnv = "OFS_BENCH_STORE"

// benchStore returns the store of the benchmark, named by OFS_BENCH_STORE,
// under the key prefix or in a keyspace of its own, dropped at the end.
func benchStore(b *testing.B, e *env) views.Store {
	b.Helper()
	switch kind := os.Getenv(benchStoreEnv); kind {
	case "", "redis":
		return e.store
	case "redis-cluster":
		c := redis.NewClusterClient(&redis.ClusterOptions{Addrs: testenv.RedisCluster(b)})
		b.Cleanup(func() { deleteClusterKeys(b, c, e.prefix); _ = c.Close() }) // the benchmark's own client
		s, err := views.NewRedis(c, views.RedisPrefix(e.prefix))
		if err != nil {
			b.Fatal(err)
		}
		return s
	case "scylla":
		ks := testenv.Name(b)
		s, err := views.OpenScylla(testenv.Cassandra(b), views.ScyllaKeyspace(ks), views.ScyllaTimeout(30*time.Second),
			views.ScyllaAuth(testenv.CassandraUser, testenv.CassandraPassword))
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() {
			if err := s.DropKeyspace(context.Background()); err != nil {
				b.Errorf("drop keyspace %s: %v", ks, err)
			}
			_ = s.Close() // after the drop; nothing more to report
		})
		user, _ := e.reg.Entity("user")
		if err := s.EnsureTables(context.Background(), connections.TableOf(user)); err != nil {
			b.Fatal(err)
		}
		return s
	default:
		b.Fatalf("%s=%q: redis, redis-cluster or scylla", benchStoreEnv, kind)
		return nil
	}
}

// deleteClusterKeys deletes the keys under prefix from every master of a
// Redis Cluster, one UNLINK a key (keys of a node lie in many slots).
func deleteClusterKeys(b *testing.B, c *redis.ClusterClient, prefix string) {
	ctx := context.Background()
	err := c.ForEachMaster(ctx, func(ctx context.Context, m *redis.Client) error {
		iter := m.Scan(ctx, 0, prefix+"*", 1000).Iterator()
		pipe := m.Pipeline()
		for iter.Next(ctx) {
			pipe.Unlink(ctx, iter.Val())
			if pipe.Len() == 1000 {
				if _, err := pipe.Exec(ctx); err != nil {
					return err
				}
			}
		}
		if pipe.Len() > 0 {
			if _, err := pipe.Exec(ctx); err != nil {
				return err
			}
		}
		return iter.Err()
	})
	if err != nil {
		b.Errorf("cleanup of the Redis Cluster: %v", err)
	}
}
