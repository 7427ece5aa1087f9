package main

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/ofstack/ofs/internal/testenv"
	"github.com/ofstack/ofs/views/registrycopy"
)

// TestReplayBlueGreen runs the whole flow with the binary: apply, ingest,
// serve; then a blue/green replay fills a new Redis prefix, switches every
// process to it through etcd, and what is published afterwards lands there
// and is served from there.
func TestReplayBlueGreen(t *testing.T) {
	env, addr, prefix := publishEnv(t)
	redisAddr := testenv.Redis(t)
	blue, green := prefix+":blue:", prefix+":green:"
	config := redisConfig(t, redisAddr, blue)
	env = append(env, "OFS_CONFIG="+config)
	start(t, env, "process", "registry", "ingest")
	start(t, env, "serve")
	waitServing(t, addr)
	applyExample(t, env)

	rdb := redis.NewClient(&redis.Options{Addr: redisAddr})
	t.Cleanup(func() { _ = rdb.Close() })
	count := func(p string) int {
		keys, err := rdb.Keys(context.Background(), p+"*").Result()
		if err != nil {
			t.Fatal(err)
		}
		return len(keys)
	}
	waitCount := func(p string, n int) {
		t.Helper()
		deadline := time.Now().Add(time.Minute)
		for count(p) < n {
			if time.Now().After(deadline) {
				t.Fatalf("%d of %d keys under %s after a minute", count(p), n, p)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	var lines strings.Builder
	for i := range 50 {
		fmt.Fprintf(&lines, `{"entity":"user","keys":{"user_id":%d},"feature_group":"user_activity","values":{"clicks_1h":%d}}`+"\n", i, i)
	}
	if out, errOut, code := runSplit(t, env, lines.String(), "publish", "-q", "-"); code != 0 {
		t.Fatalf("publish: %s %s", out, errOut)
	}
	waitCount(blue, 50)

	// A process that registered and never follows: the fence names it and
	// the command fails (the targets are written; the live processes follow).
	cli, err := clientv3.New(clientv3.Config{Endpoints: testenv.Etcd(t), DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cli.Close() })
	ghost := registrycopy.AcksRoot(prefix) + "ghost-host/pid-1/1"
	if _, err := cli.Put(context.Background(), ghost, `{"revision":1}`); err != nil {
		t.Fatal(err)
	}
	stdout, stderr, code := runSplit(t, env, "", "replay", "--into-prefix", prefix+":amber:", "--fence-timeout", "2s")
	if code != 1 || !strings.Contains(stderr, "ghost-host/pid-1/1 (at revision 1)") || strings.Contains(stdout, "every process acknowledged") {
		t.Fatalf("replay with a laggard: exit %d\n%s\n%s", code, stdout, stderr)
	}
	if _, err := cli.Delete(context.Background(), ghost); err != nil {
		t.Fatal(err)
	}

	out, err := run(t, env, "replay", "--into-prefix", green)
	if err != nil || !strings.Contains(out, `Switched connection "default"`) || !strings.Contains(out, "every process acknowledged") {
		t.Fatalf("replay: %v\n%s", err, out)
	}
	if n := count(green); n != 50 {
		t.Fatalf("%d keys under the new prefix, want the 50 replayed", n)
	}

	// After the switch, ingest writes to green and serve reads from green.
	if out, errOut, code := runSplit(t, env,
		`{"entity":"user","keys":{"user_id":777},"feature_group":"user_activity","values":{"clicks_1h":7}}`+"\n",
		"publish", "-q", "-"); code != 0 {
		t.Fatalf("publish: %s %s", out, errOut)
	}
	waitCount(green, 51)
	if n := count(blue); n != 50 {
		t.Fatalf("the old prefix got a write after the switch: %d keys", n)
	}
	out, err = run(t, env, "get", "--entity", "user", "--group", "user_activity", "--json", "777", "3")
	if err != nil || !strings.Contains(out, `"clicks_1h":7`) || !strings.Contains(out, `"clicks_1h":3`) {
		t.Fatalf("get after the switch: %v\n%s", err, out)
	}
}
