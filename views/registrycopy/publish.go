package registrycopy

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"slices"
	"sync"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"

	"github.com/ofstack/ofs/schema"
)

// maxTxnOps stays under etcd's default --max-txn-ops (128).
const maxTxnOps = 100

// Publisher writes registry states into etcd. Several publishers may share a
// root (two processor instances during a rebalance): an etcd lock under the
// root serializes them, and a state older than the one in etcd is never
// written over it.
type Publisher struct {
	cli  *clientv3.Client
	root string

	mu      sync.Mutex
	session *concurrency.Session
}

// NewPublisher returns a publisher into root (see Root).
func NewPublisher(cli *clientv3.Client, root string) *Publisher {
	return &Publisher{cli: cli, root: root}
}

// Close releases the publisher's etcd session (and so its lease).
func (p *Publisher) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.session == nil {
		return nil
	}
	err := p.session.Close()
	p.session = nil
	return err
}

// Publish makes etcd hold r: it writes the fragments that differ, removes
// those r no longer has, and sets the revision key last. It does nothing when
// etcd already holds r's revision or a later one, so it is safe to repeat.
func (p *Publisher) Publish(ctx context.Context, r *schema.Registry) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.session == nil {
		s, err := concurrency.NewSession(p.cli, concurrency.WithContext(context.WithoutCancel(ctx)), concurrency.WithTTL(15))
		if err != nil {
			return fmt.Errorf("registrycopy: etcd session: %w", err)
		}
		p.session = s
	}
	lock := concurrency.NewMutex(p.session, p.root+"lock/")
	if err := lock.Lock(ctx); err != nil {
		// A lost session (lease expired) must not be reused.
		_ = p.session.Close()
		p.session = nil
		return fmt.Errorf("registrycopy: lock %s: %w", p.root, err)
	}
	defer func() {
		// Unlock on a fresh context: the caller's may be done already.
		_ = lock.Unlock(context.WithoutCancel(ctx))
	}()
	return p.write(ctx, r, lock.IsOwner())
}

func (p *Publisher) write(ctx context.Context, r *schema.Registry, owner clientv3.Cmp) error {
	cur, err := p.cli.Get(ctx, p.root, clientv3.WithPrefix())
	if err != nil {
		return fmt.Errorf("registrycopy: read %s: %w", p.root, err)
	}
	have := make(map[string][]byte, len(cur.Kvs))
	for _, kv := range cur.Kvs {
		key := string(kv.Key[len(p.root):])
		if key == revisionKey {
			rev, err := parseRevision(kv.Value)
			if err != nil {
				return err
			}
			if rev >= r.Revision() {
				return nil // etcd holds this state or a newer one
			}
			continue
		}
		have[key] = kv.Value
	}
	want, err := fragments(r)
	if err != nil {
		return err
	}

	var ops []clientv3.Op
	for _, key := range slices.Sorted(maps.Keys(want)) {
		if old, ok := have[key]; !ok || !bytes.Equal(old, want[key]) {
			ops = append(ops, clientv3.OpPut(p.root+key, string(want[key])))
		}
	}
	for _, key := range slices.Sorted(maps.Keys(have)) {
		if _, ok := want[key]; !ok && isFragment(key) {
			ops = append(ops, clientv3.OpDelete(p.root+key))
		}
	}
	ops = append(ops, clientv3.OpPut(p.root+revisionKey, formatRevision(r.Revision())))
	for len(ops) > 0 {
		n := min(len(ops), maxTxnOps)
		resp, err := p.cli.Txn(ctx).If(owner).Then(ops[:n]...).Commit()
		if err != nil {
			return fmt.Errorf("registrycopy: write %s at revision %d: %w", p.root, r.Revision(), err)
		}
		if !resp.Succeeded {
			return fmt.Errorf("%w: lost the lock on %s", ErrConflict, p.root)
		}
		ops = ops[n:]
	}
	return nil
}
