package registrycopy_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/ofstack/ofs/internal/testenv"
	"github.com/ofstack/ofs/schema"
	"github.com/ofstack/ofs/views/registrycopy"
)

var epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// apply applies commands in order and fails the test on a rejection.
func apply(t *testing.T, r *schema.Registry, cmds ...schema.Command) *schema.Registry {
	t.Helper()
	for i, c := range cmds {
		next, out, err := r.Apply(schema.Request{ID: fmt.Sprintf("req-%d-%d", r.Revision(), i), Actor: "test", Command: c},
			epoch.Add(time.Duration(r.Revision())*time.Second))
		if err != nil {
			t.Fatalf("apply %T: %v (%+v)", c, err, out)
		}
		r = next
	}
	return r
}

func entityAndGroups(entity string, firstID uint32, groups int) []schema.Command {
	cmds := make([]schema.Command, 0, 1+groups)
	cmds = append(cmds, schema.ApplyEntity{Name: entity, Keys: []schema.KeyColumn{{Name: "id", Type: schema.Int64}}})
	for i := range groups {
		cmds = append(cmds, schema.ApplyFeatureGroup{
			Name: fmt.Sprintf("%s_g%d", entity, i), Entity: entity, ID: firstID + uint32(i), Store: "main",
			TTL: time.Hour,
			Features: []schema.Feature{
				{Name: "a", Type: schema.FP32},
				{Name: "b", Type: schema.Int64, Default: schema.IntValue(7)},
				{Name: "emb", Type: schema.FP16, VectorLength: 8},
			},
		})
	}
	return cmds
}

func client(t *testing.T) *clientv3.Client {
	t.Helper()
	cli, err := clientv3.New(clientv3.Config{Endpoints: testenv.Etcd(t), DialTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cli.Close() })
	return cli
}

func mustMarshal(t *testing.T, r *schema.Registry) []byte {
	t.Helper()
	b, err := r.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestPublishWatchAndReload(t *testing.T) {
	cli := client(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	root := "/" + testenv.Name(t) + "/registry/"

	holder := schema.NewHolder(nil)
	w := registrycopy.NewWatcher(cli, root, holder, slog.New(slog.NewTextHandler(io.Discard, nil)))
	wctx, stopWatch := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- w.Run(wctx) }()
	<-w.Ready()
	if got := holder.Load().Revision(); got != 0 {
		t.Fatalf("empty root: revision %d, want 0", got)
	}

	pub := registrycopy.NewPublisher(cli, root)
	t.Cleanup(func() { _ = pub.Close() })

	r := apply(t, schema.NewRegistry(), schema.ApplyStore{ID: "main", Kind: schema.Redis, Connection: "default"})
	r = apply(t, r, entityAndGroups("user", 1, 3)...)
	if err := pub.Publish(ctx, r); err != nil {
		t.Fatal(err)
	}
	snap, err := holder.Wait(ctx, r.Revision())
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(mustMarshal(t, snap.Registry()), mustMarshal(t, r)) {
		t.Fatal("watched registry differs from the published one")
	}
	if _, _, ok := snap.Feature("user_g2", "emb"); !ok {
		t.Fatal("feature user_g2.emb missing from the watched snapshot")
	}

	// A large change: more than one etcd transaction (over 100 entities),
	// then a delete. Readers only ever see whole states.
	big := r
	for i := range 120 {
		big = apply(t, big, entityAndGroups(fmt.Sprintf("e%03d", i), uint32(100+i), 1)...)
	}
	big = apply(t, big, schema.DeleteFeatureGroup{Name: "user_g1"})
	if err := pub.Publish(ctx, big); err != nil {
		t.Fatal(err)
	}
	snap, err = holder.Wait(ctx, big.Revision())
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(mustMarshal(t, snap.Registry()), mustMarshal(t, big)) {
		t.Fatal("watched registry differs after a multi-transaction publish")
	}
	if _, ok := snap.FeatureGroup("user_g1"); ok {
		t.Fatal("deleted group still visible")
	}

	// Publishing an older state is a no-op: etcd never goes back.
	if err := pub.Publish(ctx, r); err != nil {
		t.Fatal(err)
	}
	loaded, err := registrycopy.Load(ctx, cli, root)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(mustMarshal(t, loaded), mustMarshal(t, big)) {
		t.Fatalf("after publishing an older state, etcd has revision %d, want %d", loaded.Revision(), big.Revision())
	}

	stopWatch()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Run returned %v, want context.Canceled", err)
	}
}

func TestLoadOfEmptyRootIsEmptyRegistry(t *testing.T) {
	cli := client(t)
	r, err := registrycopy.Load(context.Background(), cli, "/"+testenv.Name(t)+"/registry/")
	if err != nil {
		t.Fatal(err)
	}
	if r.Revision() != 0 || len(r.Entities()) != 0 {
		t.Fatalf("empty root gave revision %d with %d entities", r.Revision(), len(r.Entities()))
	}
}

func TestCorruptEntryIsAnError(t *testing.T) {
	cli := client(t)
	ctx := context.Background()
	root := "/" + testenv.Name(t) + "/registry/"
	if _, err := cli.Put(ctx, root+"entities/user", "not a proto \xff\xff"); err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Put(ctx, root+"revision", "00000000000000000001"); err != nil {
		t.Fatal(err)
	}
	if _, err := registrycopy.Load(ctx, cli, root); err == nil {
		t.Fatal("Load accepted a corrupt fragment")
	}
}

func TestRevision(t *testing.T) {
	cli := client(t)
	ctx := context.Background()
	root := "/" + testenv.Name(t) + "/registry/"
	if rev, err := registrycopy.Revision(ctx, cli, root); err != nil || rev != 0 {
		t.Fatalf("empty root: %d %v, want 0", rev, err)
	}
	r := apply(t, schema.NewRegistry(), schema.ApplyStore{ID: "main", Kind: schema.Redis, Connection: "default"})
	pub := registrycopy.NewPublisher(cli, root)
	defer pub.Close()
	if err := pub.Publish(ctx, r); err != nil {
		t.Fatal(err)
	}
	if rev, err := registrycopy.Revision(ctx, cli, root); err != nil || rev != r.Revision() {
		t.Fatalf("revision %d %v, want %d", rev, err, r.Revision())
	}
}

// TestLargePublishIsNeverSeenHalfDone: publishes of 150 groups' changes (two
// etcd transactions each) alternate while a watcher and a loop of Load read
// concurrently; every registry either one sees has all 150 groups at one
// TTL: none mixes two publishes.
func TestLargePublishIsNeverSeenHalfDone(t *testing.T) {
	cli := client(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	root := "/" + testenv.Name(t) + "/registry/"
	const n = 150
	cmds := make([]schema.Command, 0, 1+2*n)
	cmds = append(cmds, schema.ApplyStore{ID: "main", Kind: schema.Redis, Connection: "default"})
	for i := range n {
		// One entity per group: each change is a fragment of its own.
		cmds = append(cmds, entityAndGroups(fmt.Sprintf("e%03d", i), uint32(1+i), 1)...)
	}
	r := apply(t, schema.NewRegistry(), cmds...)
	pub := registrycopy.NewPublisher(cli, root)
	t.Cleanup(func() { _ = pub.Close() })
	if err := pub.Publish(ctx, r); err != nil {
		t.Fatal(err)
	}

	check := func(who string, reg *schema.Registry) error {
		groups := reg.FeatureGroups()
		if len(groups) != n {
			return fmt.Errorf("%s: revision %d has %d groups, want %d", who, reg.Revision(), len(groups), n)
		}
		for _, g := range groups {
			if g.TTL != groups[0].TTL {
				return fmt.Errorf("%s: revision %d mixes publishes: %s has TTL %v, %s %v", who, reg.Revision(),
					groups[0].Name, groups[0].TTL, g.Name, g.TTL)
			}
		}
		return nil
	}

	holder := schema.NewHolder(nil)
	w := registrycopy.NewWatcher(cli, root, holder, slog.New(slog.NewTextHandler(io.Discard, nil)))
	wctx, stopWatch := context.WithCancel(ctx)
	wdone := make(chan struct{})
	go func() { defer close(wdone); _ = w.Run(wctx) }()
	defer func() { stopWatch(); <-wdone }()
	<-w.Ready()

	errs := make(chan error, 2)
	stop := make(chan struct{})
	go func() { // the watcher's snapshots, each one
		seen := holder.Load().Revision()
		for {
			snap, err := holder.Wait(wctx, seen+1)
			if err != nil {
				errs <- nil
				return
			}
			if err := check("watcher", snap.Registry()); err != nil {
				errs <- err
				return
			}
			seen = snap.Revision()
		}
	}()
	loads := 0
	go func() { // Load, as fast as it goes
		for {
			select {
			case <-stop:
				errs <- nil
				return
			default:
			}
			reg, err := registrycopy.Load(ctx, cli, root)
			if err == nil {
				err = check("Load", reg)
			}
			if err != nil {
				errs <- err
				return
			}
			loads++
		}
	}()

	for step := range 12 {
		ttl := time.Duration(2+step) * time.Hour
		set := make([]schema.Command, 0, n)
		for _, g := range r.FeatureGroups() {
			set = append(set, schema.SetTTL{Group: g.Name, TTL: ttl})
		}
		r = apply(t, r, set...)
		if err := pub.Publish(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := holder.Wait(ctx, r.Revision()); err != nil {
		t.Fatalf("the watcher did not reach the last publish: %v", err)
	}
	close(stop)
	stopWatch()
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if err := check("final", holder.Load().Registry()); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d loads during 12 publishes", loads)
}
