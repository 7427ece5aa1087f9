package catalog

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
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

// SetTarget switches a connection to t.
func SetTarget(ctx context.Context, cli *clientv3.Client, root, connection string, t Target) error {
	b, err := json.Marshal(t)
	if err != nil {
		return err
	}
	if _, err := cli.Put(ctx, root+connection, string(b)); err != nil {
		return fmt.Errorf("catalog: switch connection %q: %w", connection, err)
	}
	return nil
}

// Targets returns the current target of every switched connection.
func Targets(ctx context.Context, cli *clientv3.Client, root string) (map[string]Target, error) {
	resp, err := cli.Get(ctx, root, clientv3.WithPrefix())
	if err != nil {
		return nil, fmt.Errorf("catalog: read %s: %w", root, err)
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

// WatchTargets calls apply with every connection's target now and after each
// change, until ctx is done. A target that does not decode is logged and
// left out.
func WatchTargets(ctx context.Context, cli *clientv3.Client, root string, log *slog.Logger, apply func(map[string]Target)) error {
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
		}
		if ctx.Err() != nil {
			return ctx.Err()
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
