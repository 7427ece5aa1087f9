package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/sync/errgroup"

	"github.com/ofstack/ofs/internal/node"
	"github.com/ofstack/ofs/processors/registry"
	"github.com/ofstack/ofs/views/registrycopy"
)

// processorRunners are the processors `ofs process` can run, by name. Each
// runs until ctx is done and returns nil then.
var processorRunners = map[string]func(ctx context.Context, rt *node.Node, g *errgroup.Group) error{
	"registry": runRegistryProcessor,
	"ingest":   runIngestProcessor,
}

func processorNames() []string {
	names := make([]string, 0, len(processorRunners))
	for n := range processorRunners {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

func newProcess(g *globals) *cobra.Command {
	var cf configFlags
	cmd := &cobra.Command{
		Use:   "process [" + strings.Join(processorNames(), "|") + "]...",
		Short: "Run stream processors (all of them when none is named)",
		Long: "Run the named processors in this process until SIGINT or SIGTERM. Each is a goka group:\n" +
			"run several copies, on several machines, and Kafka shares the partitions among them.\n" +
			"The topics are created first if they do not exist.",
		ValidArgs: processorNames(),
		Args:      cobra.OnlyValidArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := cf.Load()
			if err != nil {
				return err
			}
			if len(args) == 0 {
				args = processorNames()
			}
			rt, err := node.New(cfg, g.stderr)
			if err != nil {
				return err
			}
			defer rt.Close()
			if err := rt.EnsureTopics(); err != nil {
				return err
			}
			grp, ctx := errgroup.WithContext(cmd.Context())
			if err := rt.ServeMetrics(ctx, grp); err != nil {
				return err
			}
			rt.Ready.Expect(args...)
			for _, name := range args {
				run := processorRunners[name]
				grp.Go(func() error {
					if err := run(ctx, rt, grp); err != nil && !errors.Is(err, context.Canceled) {
						return fmt.Errorf("processor %s: %w", name, err)
					}
					return nil
				})
			}
			err = grp.Wait()
			if cmd.Context().Err() != nil {
				rt.Log.Info("stopped on signal")
				return nil
			}
			return err
		},
	}
	cf.register(cmd, false)
	return cmd
}

func runRegistryProcessor(ctx context.Context, rt *node.Node, _ *errgroup.Group) error {
	pub := registrycopy.NewPublisher(rt.Etcd, rt.Cfg.EtcdRoot())
	defer pub.Close()
	p, err := registry.New(rt.Cfg.Kafka.Brokers, rt.Names, pub, registry.WithLogger(rt.Log.With("processor", "registry")),
		registry.WithSaramaConfig(rt.Sarama(string(rt.Names.RegistryGroup))))
	if err != nil {
		return err
	}
	go func() {
		select {
		case <-p.Ready():
			rt.Ready.Set("registry", true)
			rt.Log.Info("registry processor ready", "topic", rt.Names.Registry, "etcd_root", rt.Cfg.EtcdRoot())
		case <-ctx.Done():
		}
	}()
	return p.Run(ctx)
}
