package registrycopy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/ofstack/ofs/schema"
)

// Load reads the registry that etcd holds under root; the empty registry
// when nothing was published yet.
func Load(ctx context.Context, cli *clientv3.Client, root string) (*schema.Registry, error) {
	r, _, _, err := load(ctx, cli, root)
	return r, err
}

// load returns the registry, the fragments (keys relative to root) and the
// etcd revision they were read at.
//
// A publish of many fragments spans several etcd transactions, and sets the
// revision key in the last one. So the fragments are read at the etcd
// revision of the revision key's last write, when the publish that wrote it
// was whole and the next had not begun: one consistent state, even while a
// publish is under way. (An empty root is read as it is: no publish has
// completed, and fromFragments gives the empty registry.)
func load(ctx context.Context, cli *clientv3.Client, root string) (*schema.Registry, map[string][]byte, int64, error) {
	for attempt := 0; ; attempt++ {
		rk, err := cli.Get(ctx, root+revisionKey)
		if err != nil {
			return nil, nil, 0, fmt.Errorf("registrycopy: read %s%s: %w", root, revisionKey, err)
		}
		at := rk.Header.Revision
		if len(rk.Kvs) > 0 {
			at = rk.Kvs[0].ModRevision
		}
		resp, err := cli.Get(ctx, root, clientv3.WithPrefix(), clientv3.WithRev(at))
		if errors.Is(err, rpctypes.ErrCompacted) && attempt < 3 {
			continue // compacted past the publish meanwhile: a newer one completed
		}
		if err != nil {
			return nil, nil, 0, fmt.Errorf("registrycopy: read %s at etcd revision %d: %w", root, at, err)
		}
		frags := make(map[string][]byte, len(resp.Kvs))
		for _, kv := range resp.Kvs {
			frags[string(kv.Key[len(root):])] = kv.Value
		}
		r, err := fromFragments(frags)
		if err != nil {
			return nil, nil, 0, err
		}
		return r, frags, at, nil
	}
}

func fromFragments(frags map[string][]byte) (*schema.Registry, error) {
	b, ok := frags[revisionKey]
	if !ok {
		return schema.NewRegistry(), nil
	}
	rev, err := parseRevision(b)
	if err != nil {
		return nil, err
	}
	return assemble(rev, frags)
}

// Watcher keeps a schema.Holder at the registry that etcd holds, swapping in
// a new snapshot each time a publish completes.
type Watcher struct {
	cli    *clientv3.Client
	root   string
	holder *schema.Holder
	log    *slog.Logger
	ready  chan struct{}
}

// NewWatcher returns a watcher of root that updates holder.
func NewWatcher(cli *clientv3.Client, root string, holder *schema.Holder, log *slog.Logger) *Watcher {
	return &Watcher{cli: cli, root: root, holder: holder, log: log, ready: make(chan struct{})}
}

// Ready is closed once the holder has the state etcd held when Run started.
func (w *Watcher) Ready() <-chan struct{} { return w.ready }

// Run loads the registry and follows every change until ctx is done. A
// corrupt state is logged and skipped (readers keep the last good snapshot);
// a broken watch is resumed with a full reload.
func (w *Watcher) Run(ctx context.Context) error {
	first := true
	for {
		err := w.follow(ctx, &first)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		w.log.Warn("registry watch interrupted; reloading", "root", w.root, "err", err)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Second):
		}
	}
}

func (w *Watcher) follow(ctx context.Context, first *bool) error {
	r, frags, rev, err := load(ctx, w.cli, w.root)
	if err != nil && !errors.Is(err, ErrCorrupt) && !errors.Is(err, schema.ErrCorrupt) {
		return err
	}
	if err != nil {
		w.log.Error("registry in etcd does not decode; keeping the last good one", "root", w.root, "err", err)
	} else {
		w.holder.Update(schema.NewSnapshot(r))
	}
	if *first {
		*first = false
		close(w.ready)
	}

	wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
	defer cancel()
	for resp := range w.cli.Watch(wctx, w.root, clientv3.WithPrefix(), clientv3.WithRev(rev+1)) {
		if err := resp.Err(); err != nil {
			return fmt.Errorf("registrycopy: watch %s: %w", w.root, err)
		}
		// One response may hold the end of one publish and the start of
		// the next: the snapshot is assembled right after the etcd revision
		// (transaction) that set the revision key, before any later event.
		evs := resp.Events
		for len(evs) > 0 {
			rev, published := evs[0].Kv.ModRevision, false
			for len(evs) > 0 && evs[0].Kv.ModRevision == rev {
				ev := evs[0]
				evs = evs[1:]
				key := string(ev.Kv.Key[len(w.root):])
				switch ev.Type {
				case clientv3.EventTypePut:
					frags[key] = ev.Kv.Value
				case clientv3.EventTypeDelete:
					delete(frags, key)
				}
				published = published || key == revisionKey
			}
			if !published {
				continue // part of a publish; wait for its revision key
			}
			r, err := fromFragments(frags)
			if err != nil {
				w.log.Error("registry in etcd does not decode; keeping the last good one", "root", w.root, "err", err)
				continue
			}
			w.holder.Update(schema.NewSnapshot(r))
		}
	}
	return fmt.Errorf("registrycopy: watch %s closed", w.root)
}

// Revision returns the registry revision etcd holds under root, without
// reading the registry: 0 when nothing was published yet.
func Revision(ctx context.Context, cli *clientv3.Client, root string) (uint64, error) {
	resp, err := cli.Get(ctx, root+revisionKey)
	if err != nil {
		return 0, fmt.Errorf("registrycopy: read %s%s: %w", root, revisionKey, err)
	}
	if len(resp.Kvs) == 0 {
		return 0, nil
	}
	return parseRevision(resp.Kvs[0].Value)
}
