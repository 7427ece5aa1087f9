package registrycopy_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/ofstack/ofs/internal/testenv"
	"github.com/ofstack/ofs/views/registrycopy"
)

// TestSwitchWaitsForEveryProcess: two processes follow the targets and
// acknowledge them; one is slow to apply a switch. The fence names it until
// it has applied, and a process that stopped no longer counts.
func TestSwitchWaitsForEveryProcess(t *testing.T) {
	cli := client(t)
	name := testenv.Name(t)
	root, acks := registrycopy.ConnectionsRoot(name), registrycopy.AcksRoot(name)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	var mu sync.Mutex
	seen := map[string]registrycopy.Target{}
	release := make(chan struct{})
	follow := func(ctx context.Context, process string, slow bool) <-chan error {
		done := make(chan error, 1)
		go func() {
			done <- registrycopy.WatchTargets(ctx, cli, root, slog.New(slog.DiscardHandler), func(tg map[string]registrycopy.Target) {
				if slow && tg["default"].KeyPrefix == "green:" {
					<-release
				}
				mu.Lock()
				seen[process] = tg["default"]
				mu.Unlock()
			}, registrycopy.Acknowledge(acks, process))
		}()
		return done
	}
	follow(ctx, "serve-a", false)
	follow(ctx, "ingest-b", true)
	goneCtx, gone := context.WithCancel(ctx)
	goneDone := follow(goneCtx, "serve-gone", false)
	// Everyone registers and acknowledges the targets as they are (none).
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		resp, err := cli.Get(ctx, acks, clientv3.WithPrefix(), clientv3.WithCountOnly())
		if err != nil {
			t.Fatal(err)
		}
		if resp.Count == 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d processes registered, want 3", resp.Count)
		}
	}
	gone()
	if err := <-goneDone; !errors.Is(err, context.Canceled) {
		t.Fatalf("stopped follower: %v", err)
	}
	if resp, err := cli.Get(ctx, acks+"serve-gone"); err != nil || len(resp.Kvs) != 0 {
		t.Fatalf("a stopped process still registered: %v %v", resp, err)
	}

	rev, err := registrycopy.SwitchTargets(ctx, cli, root, map[string]registrycopy.Target{"default": {KeyPrefix: "green:"}})
	if err != nil {
		t.Fatal(err)
	}
	err = registrycopy.WaitAcknowledged(ctx, cli, acks, rev, time.Second)
	if !errors.Is(err, registrycopy.ErrNotAcknowledged) || !strings.Contains(err.Error(), "ingest-b") ||
		strings.Contains(err.Error(), "serve-a") || strings.Contains(err.Error(), "serve-gone") {
		t.Fatalf("fence with a slow process: %v; want ErrNotAcknowledged naming ingest-b only", err)
	}
	close(release)
	if err := registrycopy.WaitAcknowledged(ctx, cli, acks, rev, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if seen["serve-a"].KeyPrefix != "green:" || seen["ingest-b"].KeyPrefix != "green:" {
		t.Fatalf("targets applied: %v", seen)
	}
}
