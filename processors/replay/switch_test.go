package replay_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/ofstack/ofs/internal/testenv"
	"github.com/ofstack/ofs/processors/replay"
	"github.com/ofstack/ofs/views/registrycopy"
)

// TestSwitchNamesALaggard: a process registered but never following the
// switch (its acknowledgement stays at an old revision) makes Switch fail
// with its name, after the targets were written.
func TestSwitchNamesALaggard(t *testing.T) {
	cli, err := clientv3.New(clientv3.Config{Endpoints: testenv.Etcd(t), DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cli.Close() })
	ctx := context.Background()
	name := testenv.Name(t)
	root, acks := registrycopy.ConnectionsRoot(name), registrycopy.AcksRoot(name)
	if _, err := cli.Put(ctx, acks+"host-a/pid-1/1", `{"revision":1}`); err != nil {
		t.Fatal(err)
	}
	moved := map[string]registrycopy.Target{"default": {KeyPrefix: "green:"}}
	err = replay.Switch(ctx, cli, root, acks, moved, 500*time.Millisecond)
	if !errors.Is(err, registrycopy.ErrNotAcknowledged) || !strings.Contains(err.Error(), "host-a/pid-1/1 (at revision 1)") {
		t.Fatalf("switch with a laggard: %v", err)
	}
	targets, err := registrycopy.Targets(ctx, cli, root)
	if err != nil || targets["default"].KeyPrefix != "green:" {
		t.Fatalf("targets after the switch: %v, %v", targets, err)
	}
	// Once it is gone (its lease ended), the switch counts.
	if _, err := cli.Delete(ctx, acks, clientv3.WithPrefix()); err != nil {
		t.Fatal(err)
	}
	if err := replay.Switch(ctx, cli, root, acks, moved, 500*time.Millisecond); err != nil {
		t.Fatalf("switch without processes: %v", err)
	}
}
