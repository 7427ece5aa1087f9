package main

import (
	"context"
	"fmt"
	"log/slog"

	clientv3 "go.etcd.io/etcd/client/v3"
	"golang.org/x/sync/errgroup"

	"github.com/ofstack/ofs/schema"
	"github.com/ofstack/ofs/topics"
	"github.com/ofstack/ofs/views/catalog"
)

// runtime is what the long-running subcommands share: the configuration,
// the logger and the clients they open once.
type runtime struct {
	cfg   *Config
	log   *slog.Logger
	names topics.Names
	etcd  *clientv3.Client
}

func newRuntime(cfg *Config, g *globals) (*runtime, error) {
	rt := &runtime{cfg: cfg, log: cfg.Logger(g), names: cfg.Names()}
	cli, err := clientv3.New(clientv3.Config{Endpoints: cfg.Etcd.Endpoints, DialTimeout: cfg.Etcd.DialTimeout})
	if err != nil {
		return nil, fmt.Errorf("etcd %v: %w", cfg.Etcd.Endpoints, err)
	}
	rt.etcd = cli
	return rt, nil
}

func (rt *runtime) Close() error { return rt.etcd.Close() }

// ensureTopics creates the topics that do not exist yet.
func (rt *runtime) ensureTopics() error {
	admin, err := topics.NewAdmin(rt.cfg.Kafka.Brokers)
	if err != nil {
		return err
	}
	defer admin.Close()
	return topics.Ensure(admin, rt.names.Specs(rt.cfg.Layout()))
}

// watchRegistry starts following the registry in etcd and returns its holder
// once it holds what etcd held at start. The watch ends with ctx.
func (rt *runtime) watchRegistry(ctx context.Context, grp *errgroup.Group) (*schema.Holder, error) {
	holder := schema.NewHolder(nil)
	w := catalog.NewWatcher(rt.etcd, rt.cfg.EtcdRoot(), holder, rt.log)
	grp.Go(func() error { return w.Run(ctx) })
	select {
	case <-w.Ready():
		return holder, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}
