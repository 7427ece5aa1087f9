package registry

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/lovoo/goka"
	"github.com/lovoo/goka/tester"
	"google.golang.org/protobuf/proto"

	registryv1 "github.com/ofstack/ofs/proto/ofs/registry/v1"
	"github.com/ofstack/ofs/schema"
	"github.com/ofstack/ofs/topics"
)

// recorder is a Publisher that remembers what it was given; it can be made
// to fail a number of times first.
type recorder struct {
	mu        sync.Mutex
	revisions []uint64
	failures  int
}

func (r *recorder) Publish(_ context.Context, reg *schema.Registry) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.failures > 0 {
		r.failures--
		return errors.New("etcd down")
	}
	r.revisions = append(r.revisions, reg.Revision())
	return nil
}

func (r *recorder) published() []uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]uint64(nil), r.revisions...)
}

type harness struct {
	tt      *tester.Tester
	names   topics.Names
	results *tester.QueueTracker
	pub     *recorder
}

func newHarness(t *testing.T, pub *recorder) *harness {
	t.Helper()
	names, err := topics.For("unit")
	if err != nil {
		t.Fatal(err)
	}
	tt := tester.New(t)
	p, err := New(nil, names, pub, WithGokaOptions(goka.WithTester(tt)))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("Run: %v", err)
		}
	})
	select {
	case <-p.Ready():
	case err := <-done:
		t.Fatalf("processor stopped before ready: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("processor not ready in 10s")
	}
	return &harness{tt: tt, names: names, results: tt.NewQueueTracker(string(names.RegistryResults)), pub: pub}
}

func (h *harness) send(t *testing.T, key string, c *registryv1.Command) {
	t.Helper()
	b, err := proto.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	h.tt.Consume(string(h.names.Registry), key, b, tester.WithTime(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)))
}

func (h *harness) outcome(t *testing.T) (string, *registryv1.Outcome) {
	t.Helper()
	key, v, ok := h.results.Next()
	if !ok {
		t.Fatal("no outcome emitted")
	}
	var out registryv1.Outcome
	if err := proto.Unmarshal(v.([]byte), &out); err != nil {
		t.Fatal(err)
	}
	return key, &out
}

func (h *harness) table(t *testing.T) *registryv1.RegistryTable {
	t.Helper()
	v, _ := h.tt.TableValue(h.names.RegistryTable, Key).(*registryv1.RegistryTable)
	if v == nil {
		t.Fatal("no table value")
	}
	return v
}

func entityCmd(id, name string, expect *uint64) *registryv1.Command {
	return &registryv1.Command{
		RequestId: id, Actor: "test", ExpectedRevision: expect,
		Command: &registryv1.Command_ApplyEntity{ApplyEntity: &registryv1.ApplyEntity{
			Name:       name,
			KeyColumns: []*registryv1.KeyColumn{{Name: "id", Type: registryv1.DataType_DATA_TYPE_INT64}},
		}},
	}
}

func TestAppliesCommandsAndAnswersEach(t *testing.T) {
	h := newHarness(t, &recorder{})
	zero := uint64(0)

	h.send(t, Key, entityCmd("r1", "user", &zero))
	key, out := h.outcome(t)
	if key != "r1" || out.GetApplied() == nil || out.GetApplied().GetRevision() != 1 {
		t.Fatalf("outcome %s %v: want r1 applied at revision 1", key, out)
	}
	if got := h.table(t).GetRegistry().GetEntities(); len(got) != 1 || got[0].GetName() != "user" {
		t.Fatalf("table entities %v, want user", got)
	}

	// The same desired state again: a no-op, no new revision, nothing published.
	h.send(t, Key, entityCmd("r2", "user", nil))
	_, out = h.outcome(t)
	if !out.GetApplied().GetNoop() {
		t.Fatalf("re-apply: %v, want a no-op", out)
	}

	// A create of an existing entity (expected revision 0) is rejected.
	h.send(t, Key, entityCmd("r3", "user", &zero))
	key, out = h.outcome(t)
	if key != "r3" || out.GetRejected() == nil {
		t.Fatalf("create of existing: %s %v, want rejected", key, out)
	}
	if got := h.pub.published(); len(got) != 1 || got[0] != 1 {
		t.Fatalf("published revisions %v, want [1]: no-ops and rejections publish nothing", got)
	}
	if n := len(h.table(t).GetRecent()); n != 3 {
		t.Fatalf("table remembers %d outcomes, want 3", n)
	}
}

func TestRejectsOtherKeysAndGarbage(t *testing.T) {
	h := newHarness(t, &recorder{})
	h.send(t, "not-registry", entityCmd("r1", "user", nil))
	key, out := h.outcome(t)
	if key != "r1" || out.GetRejected().GetCode() != registryv1.RejectCode_REJECT_CODE_INVALID_ARGUMENT {
		t.Fatalf("wrong key: %s %v, want r1 rejected as invalid", key, out)
	}
	h.tt.Consume(string(h.names.Registry), Key, []byte{0xff, 0xff, 0xff}, tester.WithTime(time.Now()))
	key, out = h.outcome(t)
	if key != Key || out.GetRejected() == nil {
		t.Fatalf("garbage: %s %v, want a rejection under the message key", key, out)
	}
	if got := h.tt.TableValue(h.names.RegistryTable, "not-registry"); got != nil {
		t.Fatalf("a second registry was started under another key: %v", got)
	}
}

func TestRedeliveryIsAnsweredAsBefore(t *testing.T) {
	h := newHarness(t, &recorder{})
	h.send(t, Key, entityCmd("r1", "user", nil)) // offset 0
	_, first := h.outcome(t)

	// Pretend the next offset was already decided (a crash after the table
	// write, before the commit): the table remembers its outcome.
	tbl := h.table(t)
	stored := &registryv1.Outcome{RequestId: "r2", Result: &registryv1.Outcome_Applied_{
		Applied: &registryv1.Outcome_Applied{Revision: 42}}}
	tbl.Recent = append(tbl.Recent, &registryv1.AppliedCommand{Offset: 1, Outcome: stored})
	h.tt.SetTableValue(h.names.RegistryTable, Key, tbl)

	h.send(t, Key, entityCmd("r2", "item", nil)) // offset 1
	_, out := h.outcome(t)
	if !proto.Equal(out, stored) {
		t.Fatalf("redelivered command answered %v, want the stored %v", out, stored)
	}
	if _, ok := findEntity(h.table(t), "item"); ok {
		t.Fatal("a redelivered command was applied a second time")
	}
	if first.GetApplied() == nil {
		t.Fatalf("first command: %v", first)
	}
}

func TestPublishIsRetriedBeforeTheCommandCounts(t *testing.T) {
	pub := &recorder{failures: 2}
	h := newHarness(t, pub)
	h.send(t, Key, entityCmd("r1", "user", nil))
	_, out := h.outcome(t)
	if out.GetApplied() == nil {
		t.Fatalf("outcome %v, want applied after retries", out)
	}
	if got := pub.published(); len(got) != 1 || got[0] != 1 {
		t.Fatalf("published %v, want revision 1 once the publisher recovered", got)
	}
}

func TestRememberKeepsTheLatest(t *testing.T) {
	var recent []*registryv1.AppliedCommand
	for i := range int64(recentOutcomes + 10) {
		recent = remember(recent, &registryv1.AppliedCommand{Offset: i})
	}
	if len(recent) != recentOutcomes || recent[0].GetOffset() != 10 || recent[len(recent)-1].GetOffset() != recentOutcomes+9 {
		t.Fatalf("remember kept %d from %d to %d", len(recent), recent[0].GetOffset(), recent[len(recent)-1].GetOffset())
	}
}

func findEntity(t *registryv1.RegistryTable, name string) (*registryv1.Entity, bool) {
	for _, e := range t.GetRegistry().GetEntities() {
		if e.GetName() == name {
			return e, true
		}
	}
	return nil, false
}
