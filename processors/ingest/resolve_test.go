package ingest

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ofstack/ofs/schema"
	"github.com/ofstack/ofs/topics"
	"github.com/ofstack/ofs/views"
)

// TestTransientOpenErrorWaits: an open error that is neither "no
// connection" nor a bad option (a pebble directory still locked, an error
// the store does not classify) holds the partition and is retried; the
// event is stored, not dead-lettered as no_store.
func TestTransientOpenErrorWaits(t *testing.T) {
	store := newRecorder()
	var calls int
	e := newLaneEnvResolver(t, func(*schema.Store) (views.Store, error) {
		calls++
		if calls <= 3 {
			return nil, errors.New("resource temporarily unavailable")
		}
		return store, nil
	})
	c := newCommits(1)
	k, v := good(1)
	e.add(0, k, v, c.done(0))
	<-c.all
	if c.errs[0] != nil || store.len() != 1 || calls != 4 {
		t.Fatalf("commit %v, stored %d, resolver called %d times; want stored after 4 tries", c.errs[0], store.len(), calls)
	}
	if n := len(e.out.messages(string(e.p.names.DeadLetters))); n != 0 {
		t.Fatalf("%d dead letters for a store that opened on the fourth try", n)
	}
}

// TestNoConnectionIsAskedAgain: a store refused for good (no connection)
// dead-letters events for a while only: once the wait passed, the resolver
// is asked again, and a connection configured meanwhile takes the events.
func TestNoConnectionIsAskedAgain(t *testing.T) {
	store := newRecorder()
	var configured atomic.Bool
	var calls atomic.Int32
	e := newLaneEnvResolver(t, func(s *schema.Store) (views.Store, error) {
		calls.Add(1)
		if !configured.Load() {
			return nil, fmt.Errorf("%w: %s", ErrNoConnection, s.Connection)
		}
		return store, nil
	}, WithBatchSize(1))
	clock := now
	e.p.now = func() time.Time { return clock }
	c := newCommits(3)
	k, v := good(1)
	e.add(0, k, v, c.done(0))
	k, v = good(2)
	e.add(1, k, v, c.done(1)) // within the wait: not asked again
	configured.Store(true)
	clock = clock.Add(firstResolveBackoff)
	k, v = good(3)
	e.add(2, k, v, c.done(2))
	<-c.all
	dl := e.out.messages(string(e.p.names.DeadLetters))
	if len(dl) != 2 || string(dl[0].headers[topics.HeaderDLQCode]) != string(CodeNoStore) {
		t.Fatalf("dead letters %+v, want events 1 and 2 as no_store", dl)
	}
	if store.len() != 1 || calls.Load() != 2 {
		t.Fatalf("stored %d, resolver asked %d times; want event 3 stored, asked twice", store.len(), calls.Load())
	}
}

// TestFreshGroupAmidBadEvents: bad events that make the processor sync the
// registry do not use up a rate limit that would reject the event of a
// group created right after; events older than the last sync cost none.
func TestFreshGroupAmidBadEvents(t *testing.T) {
	store := newRecorder()
	fresh := withGroup(t, registry(t), "fresh")
	var syncs atomic.Int32
	e := newLaneEnv(t, store, WithBatchSize(1), WithRegistrySync(func(context.Context) (*schema.Snapshot, error) {
		if syncs.Add(1) == 1 {
			return registry(t), nil // the group is made after the first sync
		}
		return fresh, nil
	}))
	c := newCommits(4)
	e.addAt(0, "user/nope/1", []byte(`{"entity":"user","keys":{"user_id":1},"feature_group":"nope","values":{}}`), now, c.done(0))
	e.addAt(1, "user/fresh/2", []byte(`{"entity":"user","keys":{"user_id":2},"feature_group":"fresh","event_time":"2026-11-25T11:00:00Z","values":{"x":1}}`), now, c.done(1))
	// A backlog of old bad events: decided without a sync.
	old := now.Add(-time.Hour)
	e.addAt(2, "user/nope/3", []byte(`{"entity":"user","keys":{"user_id":3},"feature_group":"nope","values":{}}`), old, c.done(2))
	e.addAt(3, "user/nope/4", []byte(`{"entity":"user","keys":{"user_id":4},"feature_group":"nope","values":{}}`), old, c.done(3))
	<-c.all
	if store.len() != 1 {
		t.Fatalf("%d blocks stored, want the fresh group's event", store.len())
	}
	if dl := e.out.messages(string(e.p.names.DeadLetters)); len(dl) != 3 {
		t.Fatalf("%d dead letters, want the 3 bad events", len(dl))
	}
	if n := syncs.Load(); n != 2 {
		t.Fatalf("%d registry syncs, want 2 (one per live miss, none for the backlog)", n)
	}
}

// TestRegistrySyncFailureWaits: while the registry cannot be read, an event
// the held registry does not know waits instead of being dead-lettered.
func TestRegistrySyncFailureWaits(t *testing.T) {
	store := newRecorder()
	fresh := withGroup(t, registry(t), "fresh")
	var syncs atomic.Int32
	e := newLaneEnv(t, store, WithRegistrySync(func(context.Context) (*schema.Snapshot, error) {
		if syncs.Add(1) <= 3 {
			return nil, errors.New("etcd: no leader")
		}
		return fresh, nil
	}))
	c := newCommits(1)
	e.addAt(0, "user/fresh/2", []byte(`{"entity":"user","keys":{"user_id":2},"feature_group":"fresh","event_time":"2026-11-25T11:00:00Z","values":{"x":1}}`), now, c.done(0))
	<-c.all
	if c.errs[0] != nil || store.len() != 1 || len(e.out.messages(string(e.p.names.DeadLetters))) != 0 {
		t.Fatalf("commit %v, stored %d: want the event stored once the registry could be read", c.errs[0], store.len())
	}
}

func (e *laneEnv) addAt(offset int64, key string, value []byte, ts time.Time, done func(error)) {
	e.ln.add(source{key: key, value: value, partition: 3, offset: offset, timestamp: ts}, done)
}

// withGroup returns snap's registry with one more group (one int8 feature x)
// of entity user in store main.
func withGroup(t *testing.T, snap *schema.Snapshot, name string) *schema.Snapshot {
	t.Helper()
	next, out, err := snap.Registry().Apply(schema.Request{ID: "g-" + name, Actor: "test",
		Command: schema.ApplyFeatureGroup{Name: name, Entity: "user", ID: 9, Store: "main",
			Features: []schema.Feature{{Name: "x", Type: schema.Int8}}}}, now.Add(-time.Minute))
	if err != nil || out.Err != nil {
		t.Fatalf("apply group %s: %v %v", name, err, out.Err)
	}
	return schema.NewSnapshot(next)
}
