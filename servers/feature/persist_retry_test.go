package feature_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os/exec"
	"syscall"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/resolver"
	"google.golang.org/grpc/status"

	"github.com/ofstack/ofs/internal/testenv"
	"github.com/ofstack/ofs/sdk"
	"github.com/ofstack/ofs/servers/feature"
)

// freezableRedis starts a redis-server of the test's own and returns its
// address and functions that freeze (SIGSTOP) and thaw (SIGCONT) it.
func freezableRedis(t *testing.T) (addr string, freeze, thaw func()) {
	t.Helper()
	_ = testenv.Redis(t) // the dev services must be there (and so redis-server)
	port := testenv.FreePort(t)
	cmd := exec.Command(testenv.Tool(t, "redis-server"), "--port", fmt.Sprint(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGCONT) // a frozen process takes SIGKILL too, but be sure
		_ = cmd.Process.Kill()
		_ = cmd.Wait() // the exit status is the kill's
	})
	addr = fmt.Sprintf("127.0.0.1:%d", port)
	for deadline := time.Now().Add(10 * time.Second); ; {
		if c, err := net.Dial("tcp", addr); err == nil {
			_ = c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("private redis-server on %s did not start", addr)
		}
		time.Sleep(20 * time.Millisecond)
	}
	signal := func(s syscall.Signal) func() {
		return func() {
			if err := cmd.Process.Signal(s); err != nil {
				t.Errorf("signal %v to redis-server: %v", s, err)
			}
		}
	}
	return addr, signal(syscall.SIGSTOP), signal(syscall.SIGCONT)
}

// oneWrite checks that every copy of label on the features topic carries
// the event time at.
func (f *fleet) oneWrite(t *testing.T, label string, at time.Time) {
	t.Helper()
	copies := f.copies(t)[label]
	if len(copies) == 0 {
		t.Fatalf("no event %q on the features topic", label)
	}
	for _, c := range copies {
		if !c.Equal(at.Truncate(time.Microsecond)) && !c.Equal(at) {
			t.Fatalf("an attempt of %q carries event time %s, the caller's is %s: a retry made the write newer", label, c, at)
		}
	}
	t.Logf("%q: %d copies on the topic, all at the caller's event time", label, len(copies))
}

func TestPersistRetriedAfterTheServerIsKilled(t *testing.T) {
	f := newFleet(t, testenv.Redis(t), true)
	a, b := f.start("a"), f.start("b")
	client, r := dial(t, a.addr)
	other, _ := dial(t, b.addr)
	ctx := context.Background()

	// W1 reaches a, which holds it in its store write.
	a.gate.close()
	w1 := time.Now().Add(-time.Second)
	done := make(chan error, 1)
	go func() {
		done <- client.Persist(ctx, "live", []sdk.Row{row(7, 1, "w1", time.Time{}), row(8, 1, "w1", time.Time{})}, sdk.StampTime(w1))
	}()
	<-a.gate.held
	// A newer write of key 7 lands through b meanwhile.
	w2 := time.Now()
	if err := other.Persist(ctx, "live", []sdk.Row{row(7, 2, "w2", w2)}); err != nil {
		t.Fatalf("W2: %v", err)
	}
	// a dies mid-call; clients now find b only.
	a.kill()
	r.UpdateState(resolver.State{Addresses: []resolver.Address{{Addr: b.addr}}})
	if err := <-done; err != nil {
		t.Fatalf("W1, retried on b: %v", err)
	}
	a.gate.open() // the dead server's write lands late: older, it changes nothing
	// b fenced the silent a: its registration is gone before its lease ran out.
	regs, err := b.etcd.Get(ctx, "/"+f.names.Prefix+"/servers/", clientv3.WithPrefix())
	if err != nil {
		t.Fatal(err)
	}
	if len(regs.Kvs) != 1 || string(regs.Kvs[0].Value) != b.addr {
		t.Fatalf("registrations after a was fenced: %v, want b's alone", regs.Kvs)
	}
	if n, live := b.metric(t, "ofs_persist_peers_fenced_total"), b.metric(t, "ofs_serve_live"); n != 1 || live != 1 {
		t.Fatalf("b counted %v fenced peers and is live %v, want 1 and 1", n, live)
	}

	if got := labelOf(t, other, "7"); got != "w2" {
		t.Fatalf("key 7 reads %q: the retried older write overtook the newer one", got)
	}
	if got := labelOf(t, other, "8"); got != "w1" {
		t.Fatalf("key 8 reads %q, want w1", got)
	}
	time.Sleep(100 * time.Millisecond) // let the dead server's late write land, if it does
	if at := f.eventTime(t, "7"); !at.Equal(w2.Truncate(time.Microsecond)) {
		t.Fatalf("key 7 is stored at %s, want W2's %s", at, w2)
	}
	if at := f.eventTime(t, "8"); !at.Equal(w1.Truncate(time.Microsecond)) {
		t.Fatalf("key 8 is stored at %s, want the caller's %s", at, w1)
	}
	f.oneWrite(t, "w1", w1)
}

func TestPersistRetriedWhileTheStoreIsStalled(t *testing.T) {
	addr, freeze, thaw := freezableRedis(t)
	f := newFleet(t, addr, true, feature.WithPersistTimeouts(1500*time.Millisecond, 300*time.Millisecond))
	a, b := f.start("a"), f.start("b")
	client, _ := dial(t, a.addr)
	other, _ := dial(t, b.addr)
	ctx := context.Background()
	if err := client.Persist(ctx, "live", []sdk.Row{row(7, 0, "w0", time.Time{})}); err != nil {
		t.Fatal(err)
	}
	if got := labelOf(t, other, "7"); got != "w0" { // b caches it
		t.Fatalf("reads %q, want w0", got)
	}

	freeze()
	start := time.Now()
	pctx, cancel := context.WithTimeout(ctx, 400*time.Millisecond)
	err := client.Persist(pctx, "live", []sdk.Row{row(7, 1, "w1", time.Time{})})
	cancel()
	var pe *sdk.PersistError
	if !errors.As(err, &pe) || !errors.Is(err, sdk.ErrOutcomeUnknown) {
		t.Fatalf("Persist with the store stalled past its deadline: %v, want outcome unknown", err)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Fatalf("Persist took %s with a 400ms deadline", took)
	}
	// The caller retries with the same key (and stamp) while the store is
	// still stalled for a while: the SDK's own retries carry it through.
	go func() { time.Sleep(time.Second); thaw() }()
	if err := client.Persist(ctx, "live", []sdk.Row{row(7, 1, "w1", time.Time{})}, pe.Options()...); err != nil {
		t.Fatalf("the same write again, with the same key: %v", err)
	}
	if got := labelOf(t, other, "7"); got != "w1" {
		t.Fatalf("b reads %q after the retried Persist returned, want w1", got)
	}
	if at := f.eventTime(t, "7"); !at.Equal(pe.Stamp.Truncate(time.Microsecond)) {
		t.Fatalf("key 7 stored at %s, want the first attempt's stamp %s", at, pe.Stamp)
	}
	f.oneWrite(t, "w1", pe.Stamp)

	// A newer write, then the stale one again with its key: still the newer.
	if err := client.Persist(ctx, "live", []sdk.Row{row(7, 2, "w2", time.Time{})}); err != nil {
		t.Fatal(err)
	}
	if err := client.Persist(ctx, "live", []sdk.Row{row(7, 1, "w1", time.Time{})}, pe.Options()...); err != nil {
		t.Fatal(err)
	}
	if got := labelOf(t, other, "7"); got != "w2" {
		t.Fatalf("b reads %q: repeating an older write overtook a newer one", got)
	}
}

func TestPersistWithATooShortDeadlineIsUnknownThenResolved(t *testing.T) {
	f := newFleet(t, testenv.Redis(t), true)
	a, b := f.start("a"), f.start("b")
	client, _ := dial(t, a.addr)
	other, _ := dial(t, b.addr)
	ctx := context.Background()

	pctx, cancel := context.WithTimeout(ctx, time.Millisecond)
	err := client.Persist(pctx, "live", []sdk.Row{row(9, 1, "short", time.Time{})})
	cancel()
	var pe *sdk.PersistError
	if !errors.As(err, &pe) || !errors.Is(err, sdk.ErrOutcomeUnknown) {
		t.Fatalf("Persist with a 1ms deadline: %v, want outcome unknown", err)
	}
	if err := client.Persist(ctx, "live", []sdk.Row{row(9, 1, "short", time.Time{})}, pe.Options()...); err != nil {
		t.Fatalf("resolving with the same key: %v", err)
	}
	if got := labelOf(t, other, "9"); got != "short" {
		t.Fatalf("b reads %q, want short", got)
	}
	if at := f.eventTime(t, "9"); !at.Equal(pe.Stamp.Truncate(time.Microsecond)) {
		t.Fatalf("stored at %s, want the caller's stamp %s", at, pe.Stamp)
	}

	// The same key with another request is refused, not applied, not retried.
	err = client.Persist(ctx, "live", []sdk.Row{row(9, 2, "other", time.Time{})}, pe.Options()...)
	if !errors.Is(err, sdk.ErrNotApplied) || status.Code(err) != codes.InvalidArgument {
		t.Fatalf("a key reused for another request: %v, want InvalidArgument, not applied", err)
	}
	// An invalid row: not applied, and said so.
	err = client.Persist(ctx, "live", []sdk.Row{{Keys: map[string]any{"user_id": 1}, Values: map[string]any{"nope": 1}}})
	if !errors.Is(err, sdk.ErrNotApplied) || status.Code(err) != codes.InvalidArgument {
		t.Fatalf("an unknown feature: %v, want InvalidArgument, not applied", err)
	}
}
