package feature_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/redis/go-redis/v9"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/ofstack/ofs/codec"
	"github.com/ofstack/ofs/internal/testenv"
	featurev1 "github.com/ofstack/ofs/proto/ofs/feature/v1"
	"github.com/ofstack/ofs/servers/feature"
	"github.com/ofstack/ofs/views"
)

// privateRedis starts a redis-server of the test's own on port (the same
// port across restarts) and returns a function that stops it.
func privateRedis(t *testing.T, port int) func() {
	t.Helper()
	stop, _ := startPrivateRedis(t, port)
	return stop
}

// startPrivateRedis is privateRedis that also returns the process.
func startPrivateRedis(t *testing.T, port int) (func(), *os.Process) {
	t.Helper()
	bin := testenv.Tool(t, "redis-server")
	cmd := exec.Command(bin, "--port", fmt.Sprint(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			_ = cmd.Process.Kill() // the outage under test
			_ = cmd.Wait()         // reaps it; the exit status is the kill's
		}
	}
	t.Cleanup(stop)
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err == nil {
			_ = c.Close()
			return stop, cmd.Process
		}
		if time.Now().After(deadline) {
			t.Fatalf("private redis-server on %d did not start: %v", port, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestRedisOutageIsUnavailableThenServesAgain(t *testing.T) {
	_ = testenv.Redis(t) // the dev services must be there (and so redis-server)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	_ = l.Close()
	stop := privateRedis(t, port)

	rdb := redis.NewClient(&redis.Options{Addr: fmt.Sprintf("127.0.0.1:%d", port), MaxRetries: 1,
		DialTimeout: 200 * time.Millisecond, ReadTimeout: 500 * time.Millisecond})
	t.Cleanup(func() { _ = rdb.Close() })
	store, err := views.NewRedis(rdb)
	if err != nil {
		t.Fatal(err)
	}
	f := setup(t)
	f.store = store
	f.write(t, "dense", 1, []string{"1"}, now.Add(-time.Minute), time.Time{}, func(b *codec.Builder) {
		b.SetFloat32(0, 3)
		b.SetFloat32(1, 4)
	})
	srv := feature.New(f.holder, func(string) (feature.Reader, error) { return store, nil },
		feature.WithClock(func() time.Time { return now }))
	req := &featurev1.RetrieveRequest{Entity: "user", Keys: keys([]string{"1"}),
		Groups: []*featurev1.GroupSelection{{FeatureGroup: "dense"}}}
	ctx := context.Background()
	if resp, err := srv.Retrieve(ctx, req); err != nil || !resp.GetRows()[0].GetFound()[0] {
		t.Fatalf("before the outage: %v %v", resp, err)
	}

	stop()
	if _, err := srv.Retrieve(ctx, req); status.Code(err) != codes.Unavailable {
		t.Fatalf("during the outage: %v, want Unavailable (never defaults)", err)
	}

	privateRedis(t, port) // back, empty: the block is gone, the server answers again
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := srv.Retrieve(ctx, req)
		if err == nil {
			if resp.GetRows()[0].GetFound()[0] {
				t.Fatal("a fresh Redis cannot have the block")
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("30s after Redis came back: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestStalledRedisFailsFast freezes a private redis-server (SIGSTOP): its
// TCP connections stay up and nothing answers, and its client would wait
// 30 s a read. Retrieve through the guard answers Unavailable (not the
// caller's DeadlineExceeded), the timeouts and the open circuit show in the
// metrics, and after SIGCONT the reads succeed again.
func TestStalledRedisFailsFast(t *testing.T) {
	_ = testenv.Redis(t) // the dev services must be there (and so redis-server)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	_ = l.Close()
	_, proc := startPrivateRedis(t, port)
	frozen := false
	t.Cleanup(func() {
		if frozen {
			_ = proc.Signal(syscall.SIGCONT) // so that the kill of the cleanup ends it
		}
	})

	rdb := redis.NewClient(&redis.Options{Addr: fmt.Sprintf("127.0.0.1:%d", port),
		ReadTimeout: 30 * time.Second, WriteTimeout: 30 * time.Second})
	t.Cleanup(func() { _ = rdb.Close() })
	store, err := views.NewRedis(rdb)
	if err != nil {
		t.Fatal(err)
	}
	f := setup(t)
	f.store = store
	f.write(t, "dense", 1, []string{"1"}, now.Add(-time.Minute), time.Time{}, func(b *codec.Builder) {
		b.SetFloat32(0, 3)
		b.SetFloat32(1, 4)
	})
	reg := prometheus.NewRegistry()
	metrics := views.NewStoreMetrics(reg)
	guarded, err := views.Guard(store, "online", views.GuardTimeout(300*time.Millisecond),
		views.GuardBreaker(3, 500*time.Millisecond), views.GuardMetrics(metrics))
	if err != nil {
		t.Fatal(err)
	}
	srv := feature.New(f.holder, func(string) (feature.Reader, error) { return guarded, nil },
		feature.WithClock(func() time.Time { return now }))
	req := &featurev1.RetrieveRequest{Entity: "user", Keys: keys([]string{"1"}),
		Groups: []*featurev1.GroupSelection{{FeatureGroup: "dense"}}}
	retrieve := func() (*featurev1.RetrieveResponse, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 8*time.Second) // the SDK's deadline
		defer cancel()
		return srv.Retrieve(ctx, req)
	}
	if resp, err := retrieve(); err != nil || !resp.GetRows()[0].GetFound()[0] {
		t.Fatalf("before the stall: %v %v", resp, err)
	}

	if err := proc.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	frozen = true
	for i := range 5 {
		if _, err := retrieve(); status.Code(err) != codes.Unavailable {
			t.Fatalf("stalled store, call %d: %v, want Unavailable before the caller's deadline", i, err)
		}
	}
	if n := testutil.ToFloat64(metrics.Errors("online", "timeout")); n < 3 {
		t.Errorf("%v timeouts counted, want at least the breaker's 3", n)
	}
	if n := testutil.ToFloat64(metrics.Errors("online", "circuit_open")); n < 1 {
		t.Errorf("%v reads refused by the open circuit, want some", n)
	}
	if got := testutil.CollectAndCount(reg, "ofs_store_read_duration_seconds"); got != 1 {
		t.Errorf("read latency series: %d, want 1", got)
	}

	if err := proc.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	frozen = false
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := retrieve()
		if err == nil {
			if !resp.GetRows()[0].GetFound()[0] {
				t.Fatal("the block is gone after SIGCONT")
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("30 s after SIGCONT: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if n := testutil.ToFloat64(metrics.State("online")); n != 0 {
		t.Errorf("breaker state %v after recovery, want 0 (closed)", n)
	}
}
