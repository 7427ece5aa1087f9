package registrycopy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// Target overrides where one store connection points: a blue/green replay
// fills a new Redis key prefix or Scylla keyspace, then switches every
// server and processor to it by writing a Target. Empty fields keep the
// configured value.
type Target struct {
	KeyPrefix string `json:"key_prefix,omitempty"`
	Keyspace  string `json:"keyspace,omitempty"`
}

// ConnectionsRoot is where the targets of an installation's connections
// live: <ConnectionsRoot><connection name> holds a JSON Target.
func ConnectionsRoot(topicsPrefix string) string { return "/" + topicsPrefix + "/connections/" }

// Targets returns the current target of every switched connection.
func Targets(ctx context.Context, cli *clientv3.Client, root string) (map[string]Target, error) {
	resp, err := cli.Get(ctx, root, clientv3.WithPrefix())
	if err != nil {
		return nil, fmt.Errorf("registrycopy: read %s: %w", root, err)
	}
	out := map[string]Target{}
	for _, kv := range resp.Kvs {
		var t Target
		if err := json.Unmarshal(kv.Value, &t); err != nil {
			return nil, fmt.Errorf("%w: %s: %w", ErrCorrupt, kv.Key, err)
		}
		out[strings.TrimPrefix(string(kv.Key), root)] = t
	}
	return out, nil
}

// WatchOption configures WatchTargets.
type WatchOption func(*watchConfig)

type watchConfig struct {
	acksRoot, process string
	leaseTTL          int64
}

// Acknowledge makes WatchTargets acknowledge every set of targets once
// apply has returned: it keeps <acksRoot><process> (under a lease, so that
// a process that is gone stops counting) at the etcd revision it applied.
// A blue/green switch waits for every registered process to reach the
// revision of its switch (WaitAcknowledged).
func Acknowledge(acksRoot, process string) WatchOption {
	return func(c *watchConfig) { c.acksRoot, c.process = acksRoot, process }
}

// AcksRoot is where the processes that follow an installation's connection
// targets acknowledge them.
func AcksRoot(topicsPrefix string) string { return "/" + topicsPrefix + "/connection-acks/" }

// Ack is what a process acknowledged: the etcd revision of the targets it
// follows now.
type Ack struct {
	Revision int64 `json:"revision"`
}

// ErrNotAcknowledged reports processes that did not acknowledge a switch in
// time.
var ErrNotAcknowledged = errors.New("registrycopy: not every process acknowledged the switch")

// WatchTargets calls apply with every connection's target now and after each
// change, until ctx is done. A target that does not decode is logged and
// left out.
func WatchTargets(ctx context.Context, cli *clientv3.Client, root string, log *slog.Logger, apply func(map[string]Target), opts ...WatchOption) error {
	cfg := watchConfig{leaseTTL: 10}
	for _, o := range opts {
		o(&cfg)
	}
	ack := func(int64) {}
	if cfg.process != "" {
		a := &acker{cli: cli, key: cfg.acksRoot + cfg.process, ttl: cfg.leaseTTL, log: log}
		defer a.release()
		ack = func(rev int64) { a.ack(ctx, rev) }
	}
	for {
		resp, err := cli.Get(ctx, root, clientv3.WithPrefix())
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			log.Warn("reading connection targets", "root", root, "err", err)
			time.Sleep(time.Second)
			continue
		}
		targets := map[string]Target{}
		put := func(key, value []byte) {
			var t Target
			if err := json.Unmarshal(value, &t); err != nil {
				log.Error("connection target does not decode; ignored", "key", string(key), "err", err)
				return
			}
			targets[strings.TrimPrefix(string(key), root)] = t
		}
		for _, kv := range resp.Kvs {
			put(kv.Key, kv.Value)
		}
		apply(copyTargets(targets))
		ack(resp.Header.Revision)
		for wr := range cli.Watch(clientv3.WithRequireLeader(ctx), root, clientv3.WithPrefix(), clientv3.WithRev(resp.Header.Revision+1)) {
			if wr.Err() != nil {
				break
			}
			for _, ev := range wr.Events {
				if ev.Type == clientv3.EventTypeDelete {
					delete(targets, strings.TrimPrefix(string(ev.Kv.Key), root))
				} else {
					put(ev.Kv.Key, ev.Kv.Value)
				}
			}
			apply(copyTargets(targets))
			ack(wr.Header.Revision)
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
}

// acker keeps a process's acknowledgement under a lease of its own.
type acker struct {
	cli   *clientv3.Client
	key   string
	ttl   int64
	log   *slog.Logger
	lease clientv3.LeaseID
	alive <-chan *clientv3.LeaseKeepAliveResponse
}

// ack writes rev, granting a new lease when there is none or it ended. A
// failure is logged: the switch that waits for this process names it.
func (a *acker) ack(ctx context.Context, rev int64) {
	if a.lease != 0 {
		select {
		case _, ok := <-a.alive:
			if !ok {
				a.lease = 0
			}
		default:
		}
	}
	if a.lease == 0 {
		g, err := a.cli.Grant(ctx, a.ttl)
		if err != nil {
			a.log.Warn("acknowledging connection targets: lease", "key", a.key, "err", err)
			return
		}
		alive, err := a.cli.KeepAlive(ctx, g.ID)
		if err != nil {
			a.log.Warn("acknowledging connection targets: keepalive", "key", a.key, "err", err)
			return
		}
		a.lease, a.alive = g.ID, alive
		go func() { // drain, or the client logs that the channel is full
			for range alive {
			}
		}()
	}
	b, err := json.Marshal(Ack{Revision: rev})
	if err == nil {
		_, err = a.cli.Put(ctx, a.key, string(b), clientv3.WithLease(a.lease))
	}
	if err != nil {
		a.log.Warn("acknowledging connection targets", "key", a.key, "revision", rev, "err", err)
	}
}

// release revokes the lease: a process that stops following targets stops
// counting at once.
func (a *acker) release() {
	if a.lease == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if _, err := a.cli.Revoke(ctx, a.lease); err != nil {
		a.log.Debug("revoking the acknowledgement lease", "key", a.key, "err", err)
	}
}

// SwitchTargets moves connections to new targets in one transaction and
// returns its revision: the one every process must acknowledge.
func SwitchTargets(ctx context.Context, cli *clientv3.Client, root string, targets map[string]Target) (int64, error) {
	ops := make([]clientv3.Op, 0, len(targets))
	for name, t := range targets {
		b, err := json.Marshal(t)
		if err != nil {
			return 0, err
		}
		ops = append(ops, clientv3.OpPut(root+name, string(b)))
	}
	resp, err := cli.Txn(ctx).Then(ops...).Commit()
	if err != nil {
		return 0, fmt.Errorf("registrycopy: switch connections: %w", err)
	}
	return resp.Header.Revision, nil
}

// WaitAcknowledged waits until every process registered under acksRoot has
// acknowledged revision rev or a later one. After timeout it returns
// ErrNotAcknowledged naming the laggards and the revision each is at.
func WaitAcknowledged(ctx context.Context, cli *clientv3.Client, acksRoot string, rev int64, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		resp, err := cli.Get(ctx, acksRoot, clientv3.WithPrefix())
		if err != nil {
			return fmt.Errorf("registrycopy: read %s: %w", acksRoot, err)
		}
		var late []string
		for _, kv := range resp.Kvs {
			var a Ack
			if err := json.Unmarshal(kv.Value, &a); err != nil || a.Revision < rev {
				late = append(late, fmt.Sprintf("%s (at revision %d)", strings.TrimPrefix(string(kv.Key), acksRoot), a.Revision))
			}
		}
		if len(late) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			slices.Sort(late)
			return fmt.Errorf("%w: revision %d after %v; not yet: %s", ErrNotAcknowledged, rev, timeout, strings.Join(late, ", "))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func copyTargets(m map[string]Target) map[string]Target {
	out := make(map[string]Target, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}
