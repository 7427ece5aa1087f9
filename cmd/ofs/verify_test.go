package main

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ofstack/ofs/internal/testenv"
)

// TestVerify: after ingest, `ofs verify` finds no drift; after the test
// corrupts two keys in Redis it names exactly those and exits 1; a replay
// --as-of a time between two publishes fills the store as it was then,
// and `verify --as-of` agrees with it.
func TestVerify(t *testing.T) {
	env, addr, prefix := publishEnv(t)
	redisAddr := testenv.Redis(t)
	live := prefix + ":live:"
	config := redisConfig(t, redisAddr, live)
	env = append(env, "OFS_CONFIG="+config)
	start(t, env, "process", "registry", "ingest")
	start(t, env, "serve")
	waitServing(t, addr)
	applyExample(t, env)
	rdb := redis.NewClient(&redis.Options{Addr: redisAddr})
	t.Cleanup(func() { _ = rdb.Close() })
	ctx := context.Background()
	keysOf := func(pattern string) []string {
		t.Helper()
		keys, err := rdb.Keys(ctx, pattern).Result()
		if err != nil {
			t.Fatal(err)
		}
		return keys
	}
	publish := func(from, to, clicks int) {
		t.Helper()
		var lines strings.Builder
		for i := from; i < to; i++ {
			fmt.Fprintf(&lines, `{"entity":"user","keys":{"user_id":%d},"feature_group":"user_activity","values":{"clicks_1h":%d}}`+"\n", i, clicks)
		}
		if out, errOut, code := runSplit(t, env, lines.String(), "publish", "-q", "-"); code != 0 {
			t.Fatalf("publish: %s %s", out, errOut)
		}
		for deadline := time.Now().Add(time.Minute); len(keysOf(live+"*")) < to; time.Sleep(100 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%d of %d keys ingested after a minute", len(keysOf(live+"*")), to)
			}
		}
	}
	publish(0, 30, 1)
	time.Sleep(20 * time.Millisecond) // Kafka timestamps are in ms: the two publishes must not share one
	between := time.Now().UTC()
	time.Sleep(20 * time.Millisecond)
	publish(30, 40, 2)

	out, err := run(t, env, "verify")
	if err != nil || !strings.Contains(out, "No drift") || !strings.Contains(out, "user_activity") {
		t.Fatalf("verify after ingest: %v\n%s", err, out)
	}

	// Corrupt two users: user 35's row replaced by user 3's (older, of
	// clicks 1), user 7's deleted.
	k3, k35, k7 := keysOf(live+"{user|3}*"), keysOf(live+"{user|35}*"), keysOf(live+"{user|7}*")
	if len(k3) != 1 || len(k35) != 1 || len(k7) != 1 {
		t.Fatalf("keys %v %v %v", k3, k35, k7)
	}
	old, err := rdb.Get(ctx, k3[0]).Bytes()
	if err != nil {
		t.Fatal(err)
	}
	if err := rdb.Set(ctx, k35[0], old, 0).Err(); err != nil {
		t.Fatal(err)
	}
	if err := rdb.Del(ctx, k7[0]).Err(); err != nil {
		t.Fatal(err)
	}
	stdout, stderr, code := runSplit(t, env, "", "verify")
	if code != 1 || !strings.Contains(stdout, `user("7"): missing`) || !strings.Contains(stdout, `user("35"): stale`) ||
		!strings.Contains(stdout, "Drift: 2 rows") || strings.Count(stdout, "    log:") != 2 ||
		!strings.Contains(stdout, "clicks_1h: 2") || !strings.Contains(stdout, "clicks_1h: 1") {
		t.Fatalf("verify after corruption: exit %d\n%s\n%s", code, stdout, stderr)
	}

	// As of the time between the two publishes: the first 30 users only.
	asof := prefix + ":asof:"
	at := between.Format(time.RFC3339Nano)
	if out, err := run(t, env, "replay", "--as-of", at, "--into-prefix", asof); err != nil || !strings.Contains(out, "Filled; not switched") {
		t.Fatalf("replay --as-of: %v\n%s", err, out)
	}
	if n := len(keysOf(asof + "*")); n != 30 {
		t.Fatalf("replay --as-of filled %d keys, want the 30 published before", n)
	}
	if out, err := run(t, env, "verify", "--as-of", at, "--into-prefix", asof); err != nil || !strings.Contains(out, "No drift") {
		t.Fatalf("verify --as-of: %v\n%s", err, out)
	}
	if _, _, code := runSplit(t, env, "", "verify", "--into-prefix", asof); code != 1 {
		t.Fatalf("verify of the as-of store against the log now: exit %d, want 1 (10 users missing)", code)
	}
}
