package main

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gocql/gocql"
	"github.com/redis/go-redis/v9"

	"github.com/ofstack/ofs/internal/testenv"
)

// TestReplayScylla runs replay and verify on a Cassandra store from the
// binary: events ingested by `ofs process ingest`, verify finds no drift,
// nor after an in-place replay; a deleted row is reported missing; a
// blue/green replay into a new keyspace fills it whole and switches every
// process, and ingest then writes there; verify checks the new keyspace and
// names a row deleted from it.
func TestReplayScylla(t *testing.T) {
	hosts := testenv.Cassandra(t)
	prefix := testenv.Name(t)
	blue, green := prefix, prefix+"_g"
	t.Cleanup(func() { dropKeyspace(t, hosts, blue); dropKeyspace(t, hosts, green) })
	session := cassandraSession(t, hosts)
	replayOn(t, prefix, "scylla", scyllaConnection(hosts, blue), blue, "--into-keyspace", green, func(keyspace string, user int) {
		// A partition delete at the current time wins over every block of
		// the user, whose timestamps are event times.
		if err := session.Query(`DELETE FROM "`+keyspace+`"."user" WHERE "user_id" = ?`, int64(user)).Exec(); err != nil {
			t.Fatal(err)
		}
	})
}

// TestReplayRedisCluster is TestReplayScylla on the dev Redis Cluster, blue
// and green being key prefixes.
func TestReplayRedisCluster(t *testing.T) {
	addrs := testenv.RedisCluster(t)
	prefix := testenv.Name(t)
	rdb := redis.NewClusterClient(&redis.ClusterOptions{Addrs: addrs})
	t.Cleanup(func() { _ = rdb.Close() })
	blue := prefix + ":blue:"
	replayOn(t, prefix, "redis", clusterConnection(addrs, blue), blue, "--into-prefix", prefix+":green:", func(keyPrefix string, user int) {
		ctx := context.Background()
		var (
			mu   sync.Mutex
			keys []string
		)
		// The user's keys share a hash tag, so one master holds them all.
		if err := rdb.ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error {
			ks, err := c.Keys(ctx, fmt.Sprintf("%s{user|%d}*", keyPrefix, user)).Result()
			mu.Lock()
			keys = append(keys, ks...)
			mu.Unlock()
			return err
		}); err != nil {
			t.Fatal(err)
		}
		if len(keys) != 1 {
			t.Fatalf("keys of user %d under %s: %v, want one", user, keyPrefix, keys)
		}
		if err := rdb.Del(ctx, keys[0]).Err(); err != nil {
			t.Fatal(err)
		}
	})
}

// replayOn runs ofs on the store of the given kind (see startOn), whose
// connection (store, YAML) starts with the target blue; intoFlag green is the blue/green
// target. remove(target, user) deletes the user_activity row of a user from
// the store at target (blue, then green).
func replayOn(t *testing.T, prefix, kind, store, blue, intoFlag, green string, remove func(target string, user int)) {
	env, _ := startOn(t, prefix, kind, store)
	publishUsers(t, env, 0, 30)
	verifyClean(t, env, time.Minute)
	if out, err := run(t, env, "replay"); err != nil || !strings.Contains(out, "30 blocks written") {
		t.Fatalf("replay in place: %v\n%s", err, out)
	}
	verifyClean(t, env, 0)

	remove(blue, 7)
	stdout, stderr, code := runSplit(t, env, "", "verify")
	if code != 1 || !strings.Contains(stdout, `user("7"): missing`) || !strings.Contains(stdout, "Drift: 1 rows") {
		t.Fatalf("verify after a row was deleted: exit %d\n%s\n%s", code, stdout, stderr)
	}
	// Blue/green fills green from the log: the row deleted from blue is
	// there again.
	out, err := run(t, env, "replay", intoFlag, green)
	if err != nil || !strings.Contains(out, `Switched connection "default"`) || !strings.Contains(out, "every process acknowledged") {
		t.Fatalf("replay %s %s: %v\n%s", intoFlag, green, err, out)
	}
	verifyClean(t, env, 0)
	// After the switch ingest writes into green, and serve reads from it.
	publishAndServe(t, env, 777)
	verifyClean(t, env, time.Minute)
	remove(green, 777)
	stdout, stderr, code = runSplit(t, env, "", "verify")
	if code != 1 || !strings.Contains(stdout, `user("777"): missing`) || !strings.Contains(stdout, "Drift: 1 rows") {
		t.Fatalf("verify after a row was deleted from %s: exit %d\n%s\n%s", green, code, stdout, stderr)
	}
}

// publishUsers publishes a user_activity event for users from to to-1 with
// `ofs publish`.
func publishUsers(t *testing.T, env []string, from, to int) {
	t.Helper()
	var lines strings.Builder
	for i := from; i < to; i++ {
		fmt.Fprintf(&lines, `{"entity":"user","keys":{"user_id":%d},"feature_group":"user_activity","values":{"clicks_1h":%d}}`+"\n", i, i)
	}
	if out, errOut, code := runSplit(t, env, lines.String(), "publish", "-q", "-"); code != 0 {
		t.Fatalf("publish: %s %s", out, errOut)
	}
}

// verifyClean runs `ofs verify` until it reports no drift, for up to wait
// (once when wait is 0).
func verifyClean(t *testing.T, env []string, wait time.Duration) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for {
		stdout, stderr, code := runSplit(t, env, "", "verify")
		if code == 0 && strings.Contains(stdout, "No drift") && strings.Contains(stdout, "user_activity") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("verify: exit %d\n%s\n%s", code, stdout, stderr)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// cassandraSession connects a driver session of the test's own to the dev
// Cassandra, closed when the test ends.
func cassandraSession(t *testing.T, hosts []string) *gocql.Session {
	t.Helper()
	// The driver dials the hosts it discovers on cluster.Port, not on the
	// port of the contact point.
	host, port, err := net.SplitHostPort(hosts[0])
	if err != nil {
		t.Fatal(err)
	}
	cluster := gocql.NewCluster(host)
	if cluster.Port, err = strconv.Atoi(port); err != nil {
		t.Fatal(err)
	}
	cluster.Authenticator = gocql.PasswordAuthenticator{Username: testenv.CassandraUser, Password: testenv.CassandraPassword}
	cluster.Consistency = gocql.One
	cluster.Timeout = 30 * time.Second
	cluster.ConnectTimeout = 10 * time.Second
	session, err := cluster.CreateSession()
	if err != nil {
		t.Fatalf("connect to %v: %v", hosts, err)
	}
	t.Cleanup(session.Close)
	return session
}
