package feature_test

import (
	"context"
	"fmt"
	"net"
	"os/exec"
	"testing"
	"time"

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
			return stop
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
