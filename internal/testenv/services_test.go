package testenv_test

// Smoke tests: each dev service is real and reachable through the client
// library ofs uses for it. They run before anything else relies on it.

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gocql/gocql"
	"github.com/redis/go-redis/v9"
	"github.com/scylladb/gocqlx/v2"
	"github.com/scylladb/gocqlx/v2/qb"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/ofstack/ofs/internal/testenv"
)

func TestRedisPipeline(t *testing.T) {
	ctx := context.Background()
	rdb := redis.NewClient(&redis.Options{Addr: testenv.Redis(t)})
	t.Cleanup(func() { _ = rdb.Close() })

	prefix := testenv.Name(t)
	pipe := rdb.Pipeline()
	for i := range 100 {
		pipe.Set(ctx, fmt.Sprintf("%s:{%d}", prefix, i), i*i, time.Minute)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		t.Fatalf("pipelined SET: %v", err)
	}
	gets := make([]*redis.StringCmd, 100)
	pipe = rdb.Pipeline()
	for i := range gets {
		gets[i] = pipe.Get(ctx, fmt.Sprintf("%s:{%d}", prefix, i))
	}
	if _, err := pipe.Exec(ctx); err != nil {
		t.Fatalf("pipelined GET: %v", err)
	}
	for i, g := range gets {
		if v, err := g.Int(); err != nil || v != i*i {
			t.Fatalf("key %d = %v, %v; want %d", i, v, err, i*i)
		}
	}
	if ttl := rdb.TTL(ctx, prefix+":{7}").Val(); ttl <= 0 || ttl > time.Minute {
		t.Fatalf("TTL = %v, want within a minute", ttl)
	}
}

func TestCassandraWriteTimestampDecides(t *testing.T) {
	hosts := testenv.Cassandra(t)
	// The driver dials the hosts it discovers on cluster.Port, not on the
	// port of the contact point, so a non-default port must be set there.
	host, port, err := net.SplitHostPort(hosts[0])
	if err != nil {
		t.Fatal(err)
	}
	cluster := gocql.NewCluster(host)
	if cluster.Port, err = strconv.Atoi(port); err != nil {
		t.Fatal(err)
	}
	cluster.Timeout = 30 * time.Second
	cluster.ConnectTimeout = 10 * time.Second
	cluster.Authenticator = gocql.PasswordAuthenticator{Username: testenv.CassandraUser, Password: testenv.CassandraPassword}
	session, err := gocqlx.WrapSession(cluster.CreateSession())
	if err != nil {
		t.Fatalf("connect to %v: %v", hosts, err)
	}
	t.Cleanup(session.Close)

	ks := testenv.Name(t)
	if err := session.ExecStmt(`CREATE KEYSPACE ` + ks +
		` WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}`); err != nil {
		t.Fatalf("create keyspace: %v", err)
	}
	t.Cleanup(func() { _ = session.ExecStmt(`DROP KEYSPACE IF EXISTS ` + ks) })
	table := ks + ".blocks"
	if err := session.ExecStmt(`CREATE TABLE ` + table +
		` (k text, fg int, v blob, PRIMARY KEY ((k), fg))`); err != nil {
		t.Fatalf("create table: %v", err)
	}

	type row struct {
		K  string
		Fg int
		V  []byte
	}
	insert := func(v string, ts int64) {
		t.Helper()
		q := qb.Insert(table).Columns("k", "fg", "v").Timestamp(time.UnixMicro(ts)).Query(session)
		if err := q.BindStruct(row{K: "user-1", Fg: 7, V: []byte(v)}).ExecRelease(); err != nil {
			t.Fatalf("insert %s: %v", v, err)
		}
	}
	// The newer write arrives first; the older one must lose, whatever the order.
	insert("new", 2_000_000)
	insert("old", 1_000_000)

	var got row
	q := qb.Select(table).Columns("k", "fg", "v").Where(qb.Eq("k"), qb.Eq("fg")).Query(session)
	if err := q.BindStruct(row{K: "user-1", Fg: 7}).GetRelease(&got); err != nil {
		t.Fatalf("select: %v", err)
	}
	if string(got.V) != "new" {
		t.Fatalf("value = %q, want %q: an older USING TIMESTAMP write overwrote a newer one", got.V, "new")
	}
}

func TestEtcdPutAndWatch(t *testing.T) {
	cli, err := clientv3.New(clientv3.Config{Endpoints: testenv.Etcd(t), DialTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cli.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	prefix := "/" + testenv.Name(t) + "/"
	w := cli.Watch(ctx, prefix, clientv3.WithPrefix())
	put, err := cli.Put(ctx, prefix+"entity/user", "v1")
	if err != nil {
		t.Fatalf("put: %v", err)
	}
	for resp := range w {
		if err := resp.Err(); err != nil {
			t.Fatalf("watch: %v", err)
		}
		for _, ev := range resp.Events {
			if string(ev.Kv.Key) != prefix+"entity/user" || string(ev.Kv.Value) != "v1" ||
				ev.Kv.ModRevision != put.Header.Revision {
				t.Fatalf("watched %s=%s@%d, want the put at revision %d", ev.Kv.Key, ev.Kv.Value,
					ev.Kv.ModRevision, put.Header.Revision)
			}
			return
		}
	}
	t.Fatalf("watch closed without an event: %v", ctx.Err())
}

func TestNameIsUsableEverywhere(t *testing.T) {
	a, b := testenv.Name(t), testenv.Name(t)
	if a == b {
		t.Fatalf("two names are equal: %s", a)
	}
	if !strings.HasPrefix(a, "t_testnameisusableeverywhere_") || len(a) > 48 {
		t.Fatalf("name %q: want t_<test>_<random>, at most 48 characters (CQL keyspace limit)", a)
	}
}
