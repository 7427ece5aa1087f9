package main

import (
	"context"

	"golang.org/x/sync/errgroup"

	"github.com/ofstack/ofs/internal/node"
	"github.com/ofstack/ofs/processors/ingest"
	"github.com/ofstack/ofs/schema"
	"github.com/ofstack/ofs/views"
)

// runIngestProcessor runs the ingest processor (`ofs process ingest`): it
// follows the registry in etcd and writes each feature group's blocks to the
// store connection that the configuration's stores section names.
func runIngestProcessor(ctx context.Context, rt *node.Node, grp *errgroup.Group) error {
	log := rt.Log.With("processor", "ingest")
	holder, err := rt.WatchRegistry(ctx, grp)
	if err != nil {
		return err
	}
	stores, err := rt.Stores(ctx, grp, holder)
	if err != nil {
		return err
	}
	defer func() {
		if err := stores.Close(); err != nil {
			log.Warn("closing the stores", "err", err)
		}
	}()
	p, err := ingest.New(rt.Cfg.Kafka.Brokers, rt.Names, holder,
		func(s *schema.Store) (views.Store, error) { return stores.Connection(s.Connection, s.Kind) },
		ingest.WithLogger(log),
		ingest.WithSaramaConfig(rt.Sarama(string(rt.Names.IngestGroup))),
		ingest.WithRegisterer(rt.Metrics),
		ingest.WithRegistrySync(node.RegistrySync(rt.Etcd, rt.Cfg.EtcdRoot(), holder)))
	if err != nil {
		return err
	}
	go func() {
		select {
		case <-p.Ready():
			rt.Ready.Set("ingest", true)
			log.Info("ingest processor ready", "topic", rt.Names.Features, "group", rt.Names.IngestGroup)
		case <-ctx.Done():
		}
	}()
	return p.Run(ctx)
}
