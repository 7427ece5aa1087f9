package main

import (
	"context"

	clientv3 "go.etcd.io/etcd/client/v3"
	"golang.org/x/sync/errgroup"

	"github.com/ofstack/ofs/processors/ingest"
	"github.com/ofstack/ofs/schema"
	"github.com/ofstack/ofs/views"
	"github.com/ofstack/ofs/views/registrycopy"
)

// runIngestProcessor runs the ingest processor (`ofs process ingest`): it
// follows the registry in etcd and writes each feature group's blocks to the
// store connection that the configuration's stores section names.
func runIngestProcessor(ctx context.Context, rt *runtime, grp *errgroup.Group) error {
	log := rt.log.With("processor", "ingest")
	holder, err := rt.watchRegistry(ctx, grp)
	if err != nil {
		return err
	}
	stores, err := rt.stores(ctx, grp, holder)
	if err != nil {
		return err
	}
	defer func() {
		if err := stores.Close(); err != nil {
			log.Warn("closing the stores", "err", err)
		}
	}()
	p, err := ingest.New(rt.cfg.Kafka.Brokers, rt.names, holder,
		func(s *schema.Store) (views.Store, error) { return stores.Connection(s.Connection, s.Kind) },
		ingest.WithLogger(log),
		ingest.WithSaramaConfig(rt.sarama(string(rt.names.IngestGroup))),
		ingest.WithRegisterer(rt.metrics),
		ingest.WithRegistrySync(registrySync(rt.etcd, rt.cfg.EtcdRoot(), holder)))
	if err != nil {
		return err
	}
	go func() {
		select {
		case <-p.Ready():
			rt.ready.set("ingest", true)
			log.Info("ingest processor ready", "topic", rt.names.Features, "group", rt.names.IngestGroup)
		case <-ctx.Done():
		}
	}()
	return p.Run(ctx)
}

// registrySync returns a snapshot at least as new as the registry etcd
// holds: it reads the catalog's revision and waits for the watch to deliver
// it.
func registrySync(cli *clientv3.Client, root string, holder *schema.Holder) func(context.Context) (*schema.Snapshot, error) {
	return func(ctx context.Context) (*schema.Snapshot, error) {
		rev, err := registrycopy.Revision(ctx, cli, root)
		if err != nil {
			return nil, err
		}
		return holder.Wait(ctx, rev)
	}
}
