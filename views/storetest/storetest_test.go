package storetest_test

import (
	"context"
	"errors"
	"io"
	"net"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ofstack/ofs/internal/testenv"
	"github.com/ofstack/ofs/views"
	"github.com/ofstack/ofs/views/storetest"
)

// openRedis opens a store under a prefix of the test's own, whose keys the
// cleanup deletes from the shared server or cluster.
func openRedis(t *testing.T, o *redis.UniversalOptions) views.Store {
	t.Helper()
	prefix := testenv.Name(t) + ":"
	s, err := views.OpenRedis(o, views.RedisPrefix(prefix))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		s.Close()
		client := redis.NewUniversalClient(o)
		defer client.Close()
		ctx := context.Background()
		del := func(ctx context.Context, c *redis.Client) error {
			iter := c.Scan(ctx, 0, prefix+"*", 1000).Iterator()
			for iter.Next(ctx) {
				if err := c.Del(ctx, iter.Val()).Err(); err != nil {
					return err
				}
			}
			return iter.Err()
		}
		var err error
		switch c := client.(type) {
		case *redis.ClusterClient:
			err = c.ForEachMaster(ctx, del)
		case *redis.Client:
			err = del(ctx, c)
		}
		if err != nil {
			t.Logf("deleting the test's keys: %v", err) // a private server may be gone already
		}
	})
	return s
}

// privateRedis starts a redis-server of the test's own, which the outage
// freezes (SIGSTOP) and thaws (SIGCONT).
func privateRedis(t *testing.T) (views.Store, func(), func()) {
	dir := t.TempDir()
	port := strconv.Itoa(testenv.FreePort(t))
	cmd := exec.Command(testenv.Tool(t, "redis-server"), "--bind", "127.0.0.1", "--port", port, "--save", "",
		"--appendonly", "no", "--dir", dir, "--logfile", filepath.Join(dir, "redis.log"))
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := cmd.Process.Signal(syscall.SIGCONT); err != nil {
			t.Logf("SIGCONT: %v", err)
		}
		if err := cmd.Process.Kill(); err != nil {
			t.Logf("kill: %v", err)
		}
		if err := cmd.Wait(); err != nil {
			t.Logf("redis-server ended: %v", err) // killed: expected
		}
	})
	s := openRedis(t, &redis.UniversalOptions{Addrs: []string{"127.0.0.1:" + port},
		ReadTimeout: time.Second, WriteTimeout: time.Second, DialTimeout: time.Second})
	deadline := time.Now().Add(10 * time.Second)
	for s.(*views.Redis).Ping(context.Background()) != nil {
		if time.Now().After(deadline) {
			t.Fatal("private redis-server did not start")
		}
		time.Sleep(50 * time.Millisecond)
	}
	signal := func(sig syscall.Signal) func() {
		return func() {
			if err := cmd.Process.Signal(sig); err != nil {
				t.Fatalf("signal %v: %v", sig, err)
			}
		}
	}
	return s, signal(syscall.SIGSTOP), signal(syscall.SIGCONT)
}

func TestRedisStandalone(t *testing.T) {
	addr := testenv.Redis(t)
	storetest.Run(t, storetest.Harness{
		Open:     func(t *testing.T) views.Store { return openRedis(t, &redis.UniversalOptions{Addrs: []string{addr}}) },
		KeepsTTL: true,
		MaxBlock: 16 << 20,
		Outage:   privateRedis,
	})
}

// TestRedisCluster runs the suite on the dev Redis Cluster of three masters:
// the keys of one test spread over every master.
func TestRedisCluster(t *testing.T) {
	addrs := testenv.RedisCluster(t)
	storetest.Run(t, storetest.Harness{
		Open: func(t *testing.T) views.Store {
			return openRedis(t, &redis.UniversalOptions{Addrs: addrs, IsClusterMode: true})
		},
		KeepsTTL: true,
		MaxBlock: 16 << 20,
	})
}

func TestPebble(t *testing.T) {
	storetest.Run(t, storetest.Harness{
		Open: func(t *testing.T) views.Store {
			s, err := views.OpenPebble(t.TempDir(), nil)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() {
				if err := s.Close(); err != nil {
					t.Error(err)
				}
			})
			return s
		},
		MaxBlock: 16 << 20,
	})
}

func resolve(entity string) (views.Table, bool) {
	for _, t := range storetest.Tables {
		if t.Entity == entity {
			return t, true
		}
	}
	return views.Table{}, false
}

// openScylla opens a store in a keyspace of the test's own, dropped at the
// end; its tables are ensured on first use.
func openScylla(t *testing.T, hosts []string) views.Store {
	t.Helper()
	ks := testenv.Name(t)
	s, err := views.OpenScylla(hosts, views.ScyllaKeyspace(ks), views.ScyllaTimeout(30*time.Second),
		views.ScyllaAuth(testenv.CassandraUser, testenv.CassandraPassword), views.ScyllaTables(resolve))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.DropKeyspace(context.Background()); err != nil {
			t.Errorf("drop keyspace %s: %v", ks, err)
		}
		s.Close()
	})
	return s
}

func TestCassandra(t *testing.T) {
	hosts := testenv.Cassandra(t)
	storetest.Run(t, storetest.Harness{
		Open:     func(t *testing.T) views.Store { return openScylla(t, hosts) },
		KeepsTTL: true,
		// Cassandra refuses a mutation over half a commit log segment (16 MiB
		// by default) with its headers.
		MaxBlock: 8 << 20,
		Outage: func(t *testing.T) (views.Store, func(), func()) {
			p := newProxy(t, hosts[0])
			return openScylla(t, []string{p.addr}), p.cut, p.restore
		},
	})
}

// proxy forwards TCP connections to a target until cut, which closes every
// connection and refuses new ones until restore.
type proxy struct {
	addr, target string
	mu           sync.Mutex
	down         bool
	conns        map[net.Conn]struct{}
}

func newProxy(t *testing.T, target string) *proxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{addr: ln.Addr().String(), target: target, conns: map[net.Conn]struct{}{}}
	t.Cleanup(func() {
		if err := ln.Close(); err != nil {
			t.Error(err)
		}
		p.cut()
	})
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return // closed by the cleanup
			}
			go p.serve(c)
		}
	}()
	return p
}

func (p *proxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.down {
		return false
	}
	p.conns[c] = struct{}{}
	return true
}

func (p *proxy) serve(c net.Conn) {
	up, err := net.Dial("tcp", p.target)
	if err != nil || !p.track(c) || !p.track(up) {
		closeAll(c, up)
		return
	}
	go func() { copyClose(up, c) }()
	copyClose(c, up)
}

func copyClose(dst, src net.Conn) {
	if _, err := io.Copy(dst, src); err != nil && !errors.Is(err, net.ErrClosed) {
		_ = err // a connection the proxy cut, or the peer closed
	}
	closeAll(dst, src)
}

func closeAll(cs ...net.Conn) {
	for _, c := range cs {
		if c != nil {
			_ = c.Close() // the test's own proxy connections; nothing to flush
		}
	}
}

func (p *proxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = true
	for c := range p.conns {
		closeAll(c)
	}
	clear(p.conns)
}

func (p *proxy) restore() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = false
}
