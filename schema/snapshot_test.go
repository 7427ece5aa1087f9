package schema

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
)

func TestSnapshotLookups(t *testing.T) {
	s := base(t)
	s.do(
		ApplyEntity{Name: "item", Keys: []KeyColumn{{"item_id", String}}},
		ApplyFeatureGroup{Name: "item_stats", Entity: "item", Store: "redis_main", ID: 9, Features: []Feature{{Name: "price", Type: FP32}}},
		ApplyFeatureGroup{Name: "a_user_group", Entity: "user", Store: "redis_main", Features: []Feature{{Name: "x", Type: Bool}}},
		RemoveFeatures{Group: "user_stats", Names: []string{"ctr"}},
	)
	snap := NewSnapshot(s.r)
	if snap.Revision() != s.r.Revision() || snap.Registry() != s.r {
		t.Fatal("snapshot of another state")
	}
	if e, ok := snap.Entity("user"); !ok || e.Keys[0].Name != "user_id" {
		t.Error("entity by name")
	}
	if st, ok := snap.Store("redis_main"); !ok || st.Kind != Redis {
		t.Error("store by id")
	}
	g, ok := snap.FeatureGroup("user_stats")
	if !ok || g.ID != 1 {
		t.Fatal("group by name")
	}
	if byID, ok := snap.FeatureGroupByID(9); !ok || byID.Name != "item_stats" {
		t.Error("group by id")
	}
	if _, ok := snap.FeatureGroupByID(404); ok {
		t.Error("a missing id found")
	}
	names := make([]string, 0, 2)
	for _, g := range snap.FeatureGroupsOf("user") {
		names = append(names, g.Name)
	}
	if fmt.Sprint(names) != "[a_user_group user_stats]" || len(snap.FeatureGroupsOf("nobody")) != 0 {
		t.Errorf("groups of user: %v", names)
	}
	// Any version by number; the feature index per version.
	v1, ok := snap.Version(1, 1)
	if !ok || v1.Len() != 4 {
		t.Fatal("version 1")
	}
	v2, ok := snap.Version(1, 2)
	if !ok || g.Active() != v2 {
		t.Fatal("version 2 is not active")
	}
	for _, bad := range []uint32{0, 3} {
		if _, ok := snap.Version(1, bad); ok {
			t.Errorf("version %d found", bad)
		}
	}
	if _, ok := snap.Version(404, 1); ok {
		t.Error("version of a missing group found")
	}
	if i, ok := v1.Index("embedding"); !ok || i != 2 {
		t.Errorf("embedding at %d in v1", i)
	}
	if i, ok := v2.Index("embedding"); !ok || i != 1 {
		t.Errorf("embedding at %d in v2", i)
	}
	if _, ok := v2.Index("ctr"); ok {
		t.Error("removed feature in v2")
	}
	if f, i, ok := snap.Feature("user_stats", "country"); !ok || i != 2 || f.Default != StringValue("unknown") {
		t.Errorf("feature country: %v %d", f, i)
	}
	for _, q := range [][2]string{{"user_stats", "ctr"}, {"nope", "x"}} {
		if _, _, ok := snap.Feature(q[0], q[1]); ok {
			t.Errorf("feature %v found", q)
		}
	}
	// The columns for an encoder, in block order.
	cols := v1.Columns()
	want := []Column{
		{"clicks", Int64, 0, IntValue(0)}, {"ctr", FP32, 0, FloatValue(0.5)},
		{"embedding", FP32, 4, FloatValue(0)}, {"country", String, 0, StringValue("unknown")},
	}
	if fmt.Sprint(cols) != fmt.Sprint(want) {
		t.Errorf("columns %v, want %v", cols, want)
	}
	cols[0].Name = "changed"
	if v1.Features[0].Name != "clicks" {
		t.Error("Columns shares memory with the version")
	}
	if v1.SameLayout(v2) || !v1.SameLayout(v1) {
		t.Error("SameLayout")
	}
	// A version built by hand, without its index, still answers.
	hand := &Version{Number: 1, Features: []Feature{{Name: "a"}, {Name: "b"}}}
	if i, ok := hand.Index("b"); !ok || i != 1 {
		t.Error("index without map")
	}
	if _, ok := hand.Feature("c"); ok {
		t.Error("missing feature found")
	}
	if (&FeatureGroup{}).Active() != nil {
		t.Error("active version of an empty group")
	}
	if NewSnapshot(nil).Revision() != 0 {
		t.Error("snapshot of nil")
	}
}

func TestHolder(t *testing.T) {
	var zero Holder
	if zero.Load() == nil || zero.Load().Revision() != 0 {
		t.Fatal("the zero Holder does not hold the empty registry")
	}
	s := base(t)
	h := NewHolder(nil)
	s3 := NewSnapshot(s.r)
	if !h.Update(s3) || h.Load() != s3 {
		t.Fatal("update to revision 3")
	}
	if h.Update(s3) || h.Update(NewSnapshot(NewRegistry())) || h.Update(nil) {
		t.Error("an equal, older or nil snapshot was installed")
	}
	if h.Load() != s3 {
		t.Error("the held snapshot went back")
	}
	// The first snapshot is installed even at revision 0.
	h0 := NewHolder(nil)
	empty := NewSnapshot(NewRegistry())
	if !h0.Update(empty) || h0.Load() != empty {
		t.Error("first update at revision 0")
	}
}

func TestHolderWait(t *testing.T) {
	s := base(t)
	h := NewHolder(NewSnapshot(s.r))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// Already there.
	if got, err := h.Wait(ctx, 3); err != nil || got.Revision() != 3 {
		t.Fatalf("wait for the current revision: %v", err)
	}
	// Reached later.
	done := make(chan *Snapshot)
	go func() {
		got, err := h.Wait(ctx, 5)
		if err != nil {
			t.Error(err)
		}
		done <- got
	}()
	s.do(SetTTL{Group: "user_stats", TTL: time.Hour})
	h.Update(NewSnapshot(s.r)) // revision 4: not enough
	s.do(SetTTL{Group: "user_stats", TTL: 2 * time.Hour})
	h.Update(NewSnapshot(s.r)) // revision 5
	if got := <-done; got.Revision() != 5 {
		t.Errorf("woke at revision %d", got.Revision())
	}
	// Never reached: the context ends the wait.
	short, cancelShort := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancelShort()
	if _, err := h.Wait(short, 100); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("wait past the deadline: %v", err)
	}
}

// TestHolderConcurrent runs readers against a writer that installs snapshots
// one revision at a time. Every snapshot a reader loads must be whole: its
// groups agree with its revision. Run with -race.
func TestHolderConcurrent(t *testing.T) {
	s := base(t)
	h := NewHolder(NewSnapshot(s.r))
	const updates = 200
	// Build the states first, so that the race is between Update and Load.
	snaps := make([]*Snapshot, 0, updates)
	for i := range updates {
		s.do(AddFeatures{Group: "user_stats", Features: []Feature{{Name: fmt.Sprintf("f%d", i), Type: Int32}}})
		snaps = append(snaps, NewSnapshot(s.r))
	}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	errs := make(chan error, 8)
	for range 4 {
		wg.Go(func() {
			var last uint64
			for {
				select {
				case <-stop:
					return
				default:
				}
				snap := h.Load()
				rev := snap.Revision()
				if rev < last {
					errs <- fmt.Errorf("revision went back from %d to %d", last, rev)
					return
				}
				last = rev
				g, ok := snap.FeatureGroup("user_stats")
				if !ok {
					errs <- fmt.Errorf("group missing at revision %d", rev)
					return
				}
				// At revision 3+n the group has n added features, in version n+1.
				if n := int(rev) - 3; g.Active().Len() != 4+n || g.Active().Number != uint32(n+1) {
					errs <- fmt.Errorf("revision %d holds %d features in version %d", rev, g.Active().Len(), g.Active().Number)
					return
				}
			}
		})
	}
	wg.Go(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if got, err := h.Wait(ctx, 3+updates); err != nil || got.Revision() != 3+updates {
			errs <- fmt.Errorf("waiter: %w", err)
		}
	})
	var writers sync.WaitGroup
	written := make(chan struct{})
	writers.Go(func() {
		defer close(written)
		for _, sn := range snaps {
			if !h.Update(sn) {
				errs <- fmt.Errorf("update to %d refused", sn.Revision())
			}
		}
	})
	// A late watcher offering older snapshots must not move the holder back.
	writers.Go(func() {
		for {
			select {
			case <-written:
				return
			default:
			}
			old := int(h.Load().Revision()) - 3 - 5 // five revisions back
			if old >= 0 && h.Update(snaps[old]) {
				errs <- fmt.Errorf("older snapshot %d installed", snaps[old].Revision())
			}
		}
	})
	writers.Wait()
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if h.Load().Revision() != 3+updates {
		t.Errorf("final revision %d", h.Load().Revision())
	}
}
