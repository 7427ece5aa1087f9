package ingest

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/lovoo/goka"
	"github.com/lovoo/goka/tester"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/proto"

	"github.com/ofstack/ofs/internal/events"
	featurev1 "github.com/ofstack/ofs/proto/ofs/feature/v1"
	"github.com/ofstack/ofs/schema"
	"github.com/ofstack/ofs/topics"
	"github.com/ofstack/ofs/views"
)

type harness struct {
	tt     *tester.Tester
	names  topics.Names
	holder *schema.Holder
	store  *recorder
	reg    *prometheus.Registry
	dlq    *tester.QueueTracker
	inv    *tester.QueueTracker
}

// newHarness runs a processor over goka's tester, writing to store, with
// the registry of registry() unless holder is given.
func newHarness(t *testing.T, store *recorder, holder *schema.Holder, opts ...Option) *harness {
	t.Helper()
	names, err := topics.For("unit")
	if err != nil {
		t.Fatal(err)
	}
	if holder == nil {
		holder = schema.NewHolder(registry(t))
	}
	tt := tester.New(t)
	h := &harness{tt: tt, names: names, holder: holder, store: store, reg: prometheus.NewRegistry()}
	p, err := New(nil, names, h.holder, ByConnection(map[string]views.Store{"default": store}), append([]Option{
		WithGokaOptions(goka.WithTester(tt)),
		WithProducerBuilder(tt.ProducerBuilder()),
		WithRegisterer(h.reg),
		WithLinger(time.Millisecond),
		WithBackoff(time.Millisecond, 4*time.Millisecond),
		WithDecoderOptions(events.Clock(func() time.Time { return now })),
	}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	p.now = func() time.Time { return now }
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
	h.dlq = tt.NewQueueTracker(string(names.DeadLetters))
	h.inv = tt.NewQueueTracker(string(names.Invalidations))
	return h
}

// consume feeds one message to the processor and returns once it is
// committed.
func (h *harness) consume(key string, value []byte, hdrs goka.Headers) {
	h.tt.Consume(string(h.names.Features), key, value, tester.WithHeaders(hdrs), tester.WithTime(now.Add(-time.Minute)))
}

func userEvent(id, values string) []byte {
	return []byte(`{"entity":"user","keys":{"user_id":` + id + `},"feature_group":"user_profile",` +
		`"event_time":"2026-11-25T11:00:00Z","values":` + values + `}`)
}

func TestValidEventIsStoredAndAnnounced(t *testing.T) {
	h := newHarness(t, newRecorder(), nil)
	h.consume("user/user_profile/42", userEvent("42", `{"age":31,"ctr":0.5,"country":"DE"}`), nil)

	b, ok := h.store.block("42")
	if !ok {
		t.Fatal("the event was committed but is not in the store")
	}
	age, ctr, country := profile(t, registry(t), b.Data)
	if age != 31 || ctr != 0.5 || country != "DE" {
		t.Fatalf("stored %d %v %q, want 31 0.5 DE", age, ctr, country)
	}
	wantTime := time.Date(2026, 11, 25, 11, 0, 0, 0, time.UTC).UnixMicro()
	if b.EventTime != wantTime || b.Group != 1 {
		t.Fatalf("block at %d of group %d, want %d of group 1", b.EventTime, b.Group, wantTime)
	}
	// Expiry is an hour after the event time, which is an hour before now:
	// the store keeps the block for what is left, at least a millisecond.
	if b.TTL != time.Millisecond {
		t.Fatalf("TTL %v, want the 1ms floor for a block expiring now", b.TTL)
	}
	if _, _, ok := h.dlq.Next(); ok {
		t.Fatal("a valid event went to the dead letters")
	}
	key, v, ok := h.inv.Next()
	if !ok {
		t.Fatal("no invalidation")
	}
	var inv featurev1.Invalidation
	if err := proto.Unmarshal(v.([]byte), &inv); err != nil {
		t.Fatal(err)
	}
	if key != "0" || len(inv.GetKeys()) != 1 || inv.GetKeys()[0].GetEntity() != "user" ||
		inv.GetKeys()[0].GetKeyValues()[0] != "42" || inv.GetKeys()[0].GetFeatureGroupIds()[0] != 1 {
		t.Fatalf("invalidation %q %v", key, &inv)
	}
	if got := counter(t, h.reg, "ofs_ingest_rows_written_total", ""); got != 1 {
		t.Fatalf("rows written %v, want 1", got)
	}
}

// counter returns the value of counter name (with label value label, if
// not "") in reg.
func counter(t *testing.T, reg *prometheus.Registry, name, label string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if label == "" || len(m.GetLabel()) > 0 && m.GetLabel()[0].GetValue() == label {
				return m.GetCounter().GetValue()
			}
		}
	}
	t.Fatalf("no metric %s{%s}", name, label)
	return 0
}

func TestRejectedEventsGoToDeadLetters(t *testing.T) {
	h := newHarness(t, newRecorder(), nil)
	for _, tc := range []struct {
		name   string
		key    string
		value  []byte
		hdrs   goka.Headers
		code   events.Code
		reason string
	}{
		{"bad json", "k", []byte(`{"entity":`), nil, events.CodeBadJSON, "the JSON ends early"},
		{"bad protobuf", "k", []byte{0xff, 0xff}, nil, events.CodeBadProtobuf, "FeatureEvent"},
		{"tombstone", "user/user_profile/1", nil, nil, events.CodeEmpty, "tombstone"},
		{"content type", "k", userEvent("1", `{}`), goka.Headers{"Content-Type": []byte("text/plain")}, events.CodeBadContentType, `"text/plain"`},
		{"unknown entity", "k", []byte(`{"entity":"usr","feature_group":"user_profile"}`), nil, events.CodeUnknownEntity, `entity "usr"`},
		{"unknown group", "k", []byte(`{"entity":"user","feature_group":"nope"}`), nil, events.CodeUnknownGroup, `feature group "nope"`},
		{"unknown feature", "user/user_profile/1", userEvent("1", `{"agee":1}`), nil, events.CodeUnknownFeature, `no feature "agee"`},
		{"wrong type", "user/user_profile/1", userEvent("1", `{"age":"old"}`), nil, events.CodeWrongType, `feature "age" is int8; got a string`},
		{"out of range", "user/user_profile/1", userEvent("1", `{"age":300}`), nil, events.CodeOutOfRange, `300 is out of the range of int8`},
		{"missing key", "k", []byte(`{"entity":"user","feature_group":"user_profile","event_time":"2026-11-25T11:00:00Z"}`), nil, events.CodeMissingKey, `key "user_id"`},
		{"key mismatch", "user/user_profile/2", userEvent("1", `{}`), nil, events.CodeKeyMismatch, `"user/user_profile/1"`},
		{"future", "user/user_profile/1", []byte(`{"entity":"user","keys":{"user_id":1},"feature_group":"user_profile","event_time":"2030-01-01T00:00:00Z"}`), nil, events.CodeBadEventTime, "ahead of the ingest clock"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := counter(t, h.reg, "ofs_ingest_rejected_total", string(tc.code))
			h.consume(tc.key, tc.value, tc.hdrs)
			hdrs, key, v, ok := h.dlq.NextWithHeaders()
			if !ok {
				t.Fatal("nothing on the dead-letter topic")
			}
			if key != tc.key || string(v.([]byte)) != string(tc.value) {
				t.Fatalf("dead letter %q %q, want the original %q %q", key, v, tc.key, tc.value)
			}
			if got := string(hdrs[topics.HeaderDLQCode]); got != string(tc.code) {
				t.Fatalf("code %q, want %q (reason %s)", got, tc.code, hdrs[topics.HeaderDLQReason])
			}
			if got := string(hdrs[topics.HeaderDLQReason]); !strings.Contains(got, tc.reason) {
				t.Fatalf("reason %q, want it to say %q", got, tc.reason)
			}
			if string(hdrs[topics.HeaderDLQTopic]) != "unit.features" || string(hdrs[topics.HeaderDLQPartition]) != "0" ||
				len(hdrs[topics.HeaderDLQOffset]) == 0 || len(hdrs[topics.HeaderDLQTime]) == 0 ||
				string(hdrs[topics.HeaderDLQTimestamp]) != "2026-11-25T11:59:00Z" {
				t.Fatalf("source headers %q", hdrs)
			}
			for k, v := range tc.hdrs {
				if string(hdrs[k]) != string(v) {
					t.Fatalf("original header %s lost: %q", k, hdrs)
				}
			}
			if got := counter(t, h.reg, "ofs_ingest_rejected_total", string(tc.code)); got != before+1 {
				t.Fatalf("ofs_ingest_rejected_total{code=%q} %v, want %v", tc.code, got, before+1)
			}
		})
	}
	if n := h.store.len(); n != 0 {
		t.Fatalf("%d blocks stored from rejected events", n)
	}
}

// TestCommitWaitsForTheStore: a message is committed only after the store
// acknowledged its block; while the store refuses with ErrUnavailable, the
// write is retried, and the message stays uncommitted.
func TestCommitWaitsForTheStore(t *testing.T) {
	store := newRecorder()
	store.gate, store.entered = make(chan struct{}), make(chan struct{}, 16)
	store.fail = 3
	h := newHarness(t, store, nil)

	committed := make(chan struct{})
	go func() {
		h.consume("user/user_profile/7", userEvent("7", `{"age":7}`), nil)
		close(committed)
	}()
	<-store.entered // the write is in the store, which does not answer
	select {
	case <-committed:
		t.Fatal("the message was committed before the store acknowledged its block")
	default:
	}
	close(store.gate)
	<-committed
	b, ok := store.block("7")
	if !ok {
		t.Fatal("committed, but not stored")
	}
	if age, _, _ := profile(t, registry(t), b.Data); age != 7 {
		t.Fatalf("stored age %d, want 7", age)
	}
	if store.fail != 0 {
		t.Fatalf("%d failures left: the store was not retried until it answered", store.fail)
	}
}

// TestRegistrySync: an event for a group that the held registry lacks is
// decided again with the registry's latest state, not dead-lettered.
func TestRegistrySync(t *testing.T) {
	latest := registry(t)
	h := newHarness(t, newRecorder(), schema.NewHolder(nil), WithRegistrySync(func(context.Context) (*schema.Snapshot, error) {
		return latest, nil
	}))
	h.consume("user/user_profile/5", userEvent("5", `{"age":5}`), nil)
	if _, ok := h.store.block("5"); !ok {
		t.Fatal("the event was not stored after the registry sync")
	}
	if _, _, ok := h.dlq.Next(); ok {
		t.Fatal("the event was dead-lettered although the registry had its group")
	}
}

func TestWithoutRegistrySyncALaggingRegistryRejects(t *testing.T) {
	h := newHarness(t, newRecorder(), schema.NewHolder(nil))
	h.consume("user/user_profile/5", userEvent("5", `{"age":5}`), nil)
	hdrs, _, _, ok := h.dlq.NextWithHeaders()
	if !ok || string(hdrs[topics.HeaderDLQCode]) != string(events.CodeUnknownEntity) {
		t.Fatalf("dead letter %v %q, want unknown_entity", ok, hdrs)
	}
}
