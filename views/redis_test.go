package views

import (
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ofstack/ofs/internal/testenv"
)

// devRedis returns a store on the dev Redis with a key prefix of the
// test's own, whose keys are deleted at the end, and its client.
func devRedis(t testing.TB, opts ...RedisOption) (*Redis, *redis.Client) {
	t.Helper()
	client := redis.NewClient(&redis.Options{Addr: testenv.Redis(t)})
	prefix := testenv.Name(t) + ":"
	t.Cleanup(func() {
		ctx := context.Background()
		iter := client.Scan(ctx, 0, prefix+"*", 1000).Iterator()
		for iter.Next(ctx) {
			if err := client.Unlink(ctx, iter.Val()).Err(); err != nil {
				t.Errorf("cleanup: %v", err)
				break
			}
		}
		if err := iter.Err(); err != nil {
			t.Errorf("cleanup: %v", err)
		}
		client.Close()
	})
	s, err := NewRedis(client, append([]RedisOption{RedisPrefix(prefix)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return s, client
}

// ownRedis runs a redis-server of the test's own on a free loopback port, a
// one-node cluster holding every slot when cluster is set, and stops it at
// the end of the test. It returns the address and the running server.
func ownRedis(t *testing.T, cluster bool) (string, *exec.Cmd) {
	t.Helper()
	dir := t.TempDir()
	var args []string
	if cluster {
		args = []string{"--cluster-enabled", "yes", "--cluster-config-file", filepath.Join(dir, "nodes.conf"),
			"--cluster-announce-ip", "127.0.0.1"}
	}
	addr, cmd := runRedis(t, dir, args...)
	if cluster {
		ctx := context.Background()
		client := redis.NewClient(&redis.Options{Addr: addr})
		defer client.Close()
		if err := client.Do(ctx, "CLUSTER", "ADDSLOTSRANGE", 0, 16383).Err(); err != nil {
			t.Fatalf("CLUSTER ADDSLOTSRANGE: %v", err)
		}
		waitFor(t, "cluster state ok", func() bool {
			return strings.Contains(client.ClusterInfo(ctx).Val(), "cluster_state:ok")
		})
	}
	return addr, cmd
}

// runRedis starts redis-server on a free loopback port with its files in
// dir, then args (a config file must come first), waits until it answers,
// and stops it at the end of the test.
func runRedis(t *testing.T, dir string, args ...string) (string, *exec.Cmd) {
	t.Helper()
	if testing.Short() {
		t.Skip("starts a redis-server: not run with -short")
	}
	bin := testenv.Tool(t, "redis-server")
	port := strconv.Itoa(testenv.FreePort(t))
	var conf []string
	if len(args) > 0 && strings.HasSuffix(args[0], ".conf") {
		conf, args = args[:1], args[1:]
	}
	args = append(append(conf, "--bind", "127.0.0.1", "--port", port, "--save", "", "--appendonly", "no",
		"--dir", dir, "--daemonize", "no", "--logfile", filepath.Join(dir, "redis-"+port+".log")), args...)
	cmd := exec.Command(bin, args...)
	if err := cmd.Start(); err != nil {
		t.Fatalf("start redis-server: %v", err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill() // the server is the test's own; its end is all that matters
			_ = cmd.Wait()
		}
	})
	addr := "127.0.0.1:" + port
	client := redis.NewClient(&redis.Options{Addr: addr})
	defer client.Close()
	waitFor(t, "redis-server at "+addr, func() bool { return client.Ping(context.Background()).Err() == nil })
	return addr, cmd
}

func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	for range 200 {
		if ok() {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("waited 10 s for %s", what)
}

func TestRedis(t *testing.T) {
	s, _ := devRedis(t)
	testStore(t, s, -1<<63)
}

// TestRedisCluster runs the store suite on a Redis Cluster (one node with
// every slot), which refuses a multi-key command across slots: reads work
// only because all groups of an entity key share a hash tag.
func TestRedisCluster(t *testing.T) {
	addr, _ := ownRedis(t, true)
	s, err := OpenRedis(&redis.UniversalOptions{Addrs: []string{addr}, IsClusterMode: true},
		RedisPrefix(testenv.Name(t)+":"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if !s.cluster {
		t.Fatal("OpenRedis with IsClusterMode did not make a cluster store")
	}
	ctx := context.Background()
	// The cluster does refuse a cross-slot MGET, so the test means something.
	a := string(appendRedisKey(nil, s.prefix, key("user", "1"), 1))
	b := string(appendRedisKey(nil, s.prefix, key("user", "2"), 1))
	if err := s.client.MGet(ctx, a, b).Err(); !redis.HasErrorPrefix(err, "CROSSSLOT") {
		t.Fatalf("cross-slot MGET: %v, want a CROSSSLOT error", err)
	}
	testStore(t, s, -1<<63)
}

// TestRedisSentinel runs the store suite through a Sentinel that monitors
// a master.
func TestRedisSentinel(t *testing.T) {
	master, _ := ownRedis(t, false)
	dir := t.TempDir()
	host, port, err := net.SplitHostPort(master)
	if err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(dir, "sentinel.conf")
	if err := os.WriteFile(conf, []byte("sentinel monitor ofs "+host+" "+port+" 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	sentinel, _ := runRedis(t, dir, conf, "--sentinel")
	s, err := OpenRedis(&redis.UniversalOptions{Addrs: []string{sentinel}, MasterName: "ofs"},
		RedisPrefix(testenv.Name(t)+":"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if _, ok := s.client.(*redis.Client); !ok || s.cluster {
		t.Fatalf("OpenRedis with MasterName made a %T", s.client)
	}
	waitFor(t, "the sentinel to know the master", func() bool { return s.Ping(context.Background()) == nil })
	testStore(t, s, -1<<63)
}

func TestRedisKeyLayout(t *testing.T) {
	s, client := devRedis(t)
	ctx := context.Background()
	b := blk(key("pair", "5", "a|{b}"), 12, 1, 1)
	mustWrite(t, s, b)
	name := s.prefix + "{pair|5|a%7C%7Bb%7D}12"
	got, err := client.Get(ctx, name).Bytes()
	if err != nil {
		t.Fatalf("GET %q: %v", name, err)
	}
	if string(got) != string(b.Data) {
		t.Fatalf("GET %q = %x, want %x", name, got, b.Data)
	}
}

// TestRedisEqualTimes: of two blocks with an equal event time the greater
// one stays, whichever comes last; an identical one changes nothing.
func TestRedisEqualTimes(t *testing.T) {
	s, _ := devRedis(t)
	k := key("user", "1")
	a, b := blk(k, 1, 500, 0x0a), blk(k, 1, 500, 0x0b)
	for i, next := range []Block{a, b, a, a, b} {
		mustWrite(t, s, next)
		want := b
		if i == 0 {
			want = a
		}
		if got := readOne(t, s, k, 1); string(got) != string(want.Data) {
			t.Fatalf("write %d: stored %x, want %x", i, got, want.Data)
		}
	}
}

func TestRedisTTL(t *testing.T) {
	s, client := devRedis(t)
	ctx := context.Background()
	k := key("user", "1")
	name := string(appendRedisKey(nil, s.prefix, k, 1))
	pttl := func() int64 {
		t.Helper()
		v, err := client.Do(ctx, "PTTL", name).Int64()
		if err != nil {
			t.Fatalf("PTTL: %v", err)
		}
		return v
	}

	b := blk(k, 1, 100, 1)
	b.TTL = time.Hour
	mustWrite(t, s, b)
	if ms := pttl(); ms <= 0 || ms > time.Hour.Milliseconds() {
		t.Fatalf("PTTL after a write with TTL 1h = %d ms", ms)
	}
	older := blk(k, 1, 99, 2)
	mustWrite(t, s, older)
	if ms := pttl(); ms <= 0 {
		t.Fatalf("PTTL after a dropped older write = %d ms, want the TTL kept", ms)
	}
	newer := blk(k, 1, 101, 3)
	mustWrite(t, s, newer)
	if ms := pttl(); ms != -1 {
		t.Fatalf("PTTL after a newer write without TTL = %d, want -1 (no expiry)", ms)
	}
	newest := blk(k, 1, 102, 4)
	newest.TTL = 90 * time.Second
	mustWrite(t, s, newest)
	if ms := pttl(); ms <= 0 || ms > 90_000 {
		t.Fatalf("PTTL after a newer write with TTL 90s = %d ms", ms)
	}
}

func TestRedisNotBlock(t *testing.T) {
	s, client := devRedis(t)
	ctx := context.Background()
	k := key("user", "1")
	list := string(appendRedisKey(nil, s.prefix, k, 1))
	short := string(appendRedisKey(nil, s.prefix, k, 2))
	if err := client.RPush(ctx, list, "x").Err(); err != nil {
		t.Fatal(err)
	}
	if err := client.Set(ctx, short, "short", 0).Err(); err != nil {
		t.Fatal(err)
	}
	for g, what := range map[uint32]string{1: "a list", 2: "a short string"} {
		err := s.Write(ctx, []Block{blk(k, g, 1, 1)})
		if !errors.Is(err, ErrNotBlock) || errors.Is(err, ErrUnavailable) {
			t.Errorf("write over %s: %v, want ErrNotBlock", what, err)
		}
	}
	if v, err := client.Get(ctx, short).Result(); err != nil || v != "short" {
		t.Errorf("the short string became %q, %v", v, err)
	}
}

// TestRedisNotBlockInABatch: a Write of several script calls, one block of
// which would land on a list, names that key, and keeps every block before
// it: the ones of earlier calls, and the ones before it in its own call.
func TestRedisNotBlockInABatch(t *testing.T) {
	s, client := devRedis(t)
	ctx := context.Background()
	const n, bad = 3 * ScriptKeys, ScriptKeys + ScriptKeys/2
	blocks := make([]Block, n)
	for i := range blocks {
		blocks[i] = blk(key("user", strconv.Itoa(i)), 1, 1, byte(i))
	}
	badKey := string(appendRedisKey(nil, s.prefix, blocks[bad].Key, 1))
	if err := client.RPush(ctx, badKey, "x").Err(); err != nil {
		t.Fatal(err)
	}
	err := s.Write(ctx, blocks)
	if !errors.Is(err, ErrNotBlock) || !strings.Contains(err.Error(), strconv.Quote(badKey)) {
		t.Fatalf("Write: %v, want ErrNotBlock naming %q", err, badKey)
	}
	for i := range bad {
		if got := readOne(t, s, blocks[i].Key, 1); string(got) != string(blocks[i].Data) {
			t.Fatalf("block %d, before the list, was not stored: %s", i, eventTimeOf(got))
		}
	}
	if typ := client.Type(ctx, badKey).Val(); typ != "list" {
		t.Errorf("the list became a %s", typ)
	}
}

// TestRedisScriptFlushed: a server that lost the script (restart, failover,
// SCRIPT FLUSH) gets it again.
func TestRedisScriptFlushed(t *testing.T) {
	addr, _ := ownRedis(t, false)
	s, err := OpenRedis(&redis.UniversalOptions{Addrs: []string{addr}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	ctx := context.Background()
	k := key("user", "1")
	mustWrite(t, s, blk(k, 1, 1, 1))
	if err := s.client.ScriptFlush(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	newer := blk(k, 1, 2, 2)
	mustWrite(t, s, newer, blk(k, 2, 2, 2))
	if got := readOne(t, s, k, 1); string(got) != string(newer.Data) {
		t.Fatalf("after SCRIPT FLUSH: stored event time %s, want 2", eventTimeOf(got))
	}
	if ok, err := s.client.ScriptExists(ctx, writeScript.Hash()).Result(); err != nil || !ok[0] {
		t.Fatalf("script not cached again: %v, %v", ok, err)
	}
}

func TestRedisUnreachable(t *testing.T) {
	if testing.Short() {
		t.Skip("dials the network")
	}
	addr := "127.0.0.1:" + strconv.Itoa(testenv.FreePort(t))
	s, err := OpenRedis(&redis.UniversalOptions{Addrs: []string{addr}, DialTimeout: time.Second, MaxRetries: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	checkUnavailable(t, s, s.Ping)
}

// TestRedisStopped: a server that stops under a working store.
func TestRedisStopped(t *testing.T) {
	addr, server := ownRedis(t, false)
	s, err := OpenRedis(&redis.UniversalOptions{Addrs: []string{addr}, DialTimeout: time.Second, MaxRetries: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	k := key("user", "1")
	mustWrite(t, s, blk(k, 1, 1, 1))
	if got := readOne(t, s, k, 1); got == nil {
		t.Fatal("nothing stored")
	}
	if err := server.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = server.Wait() // killed: the exit status says so
	checkUnavailable(t, s, s.Ping)
}

// checkUnavailable checks that every operation of s fails with
// ErrUnavailable, and that Read returns no blocks.
func checkUnavailable(t *testing.T, s Store, ping func(context.Context) error) {
	t.Helper()
	ctx := context.Background()
	if err := ping(ctx); !errors.Is(err, ErrUnavailable) {
		t.Errorf("Ping: %v, want ErrUnavailable", err)
	}
	err := s.Write(ctx, []Block{blk(key("user", "1"), 1, 5, 5)})
	if !errors.Is(err, ErrUnavailable) {
		t.Errorf("Write: %v, want ErrUnavailable", err)
	}
	t.Logf("Write: %v", err)
	out, err := s.Read(ctx, []Key{key("user", "1"), key("user", "2")}, []uint32{1, 2})
	if !errors.Is(err, ErrUnavailable) || out != nil {
		t.Errorf("Read: %d blocks, %v; want none and ErrUnavailable", len(out), err)
	}
	t.Logf("Read: %v", err)
}

func TestRedisOptions(t *testing.T) {
	client := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"})
	t.Cleanup(func() { client.Close() })
	bad := map[string][]RedisOption{
		"brace in prefix": {RedisPrefix("a{b}:")},
		"zero pipeline":   {RedisPipeline(0)},
	}
	for name, opts := range bad {
		if _, err := NewRedis(client, opts...); !errors.Is(err, ErrInvalidOption) {
			t.Errorf("%s: %v, want ErrInvalidOption", name, err)
		}
	}
	if _, err := NewRedis(nil); !errors.Is(err, ErrInvalidOption) {
		t.Errorf("nil client: %v, want ErrInvalidOption", err)
	}
	if _, err := OpenRedis(&redis.UniversalOptions{}); !errors.Is(err, ErrInvalidOption) {
		t.Errorf("no address: %v, want ErrInvalidOption", err)
	}
	s, err := NewRedis(client)
	if err != nil || s.prefix != DefaultRedisPrefix || s.batch != DefaultRedisPipeline || s.cluster {
		t.Errorf("defaults: %+v, %v", s, err)
	}
}

// TestRedisSmallPipeline runs a Write and a Read that span several round
// trips.
func TestRedisSmallPipeline(t *testing.T) {
	s, _ := devRedis(t, RedisPipeline(3))
	keys := make([]Key, 0, 10)
	blocks := make([]Block, 0, 20)
	for i := range 10 {
		k := key("user", strconv.Itoa(i))
		keys = append(keys, k)
		blocks = append(blocks, blk(k, 1, int64(i), byte(i)), blk(k, 2, int64(i), byte(i)))
	}
	mustWrite(t, s, blocks...)
	got := mustRead(t, s, keys, []uint32{1, 2})
	for i, b := range blocks {
		if string(got[i]) != string(b.Data) {
			t.Errorf("block %d: event time %s", i, eventTimeOf(got[i]))
		}
	}
}
