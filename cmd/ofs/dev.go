package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kfake"
	"golang.org/x/sync/errgroup"

	"github.com/ofstack/ofs/internal/config"
	"github.com/ofstack/ofs/internal/devmode"
	"github.com/ofstack/ofs/internal/etcdserver"
	"github.com/ofstack/ofs/internal/node"
	"github.com/ofstack/ofs/views/connections"
)

type devOptions struct {
	kafkaAddr   string
	etcdAddr    string
	grpcAddr    string
	metricsAddr string
	consoleAddr string
	dir         string
	logLevel    string
	noDemo      bool
}

func newDev(g *globals) *cobra.Command {
	var o devOptions
	cmd := &cobra.Command{
		Use:   "dev",
		Short: "Run the whole store in one process, with nothing to install, and show it working",
		Long: "Start, in this process and on loopback: a Kafka-protocol broker (franz-go's kfake), an etcd\n" +
			"server, the registry and ingest processors, and the gRPC server, over an embedded Pebble\n" +
			"store. Then apply the example registry, publish sample events, retrieve them and print them,\n" +
			"and keep serving until Ctrl-C, saying how to reach each part. Without --dir everything lives\n" +
			"in a temporary folder that is removed on exit; with --dir the broker's log, etcd and the store\n" +
			"are kept there and the next `ofs dev --dir` starts from them.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			err := runDev(cmd.Context(), g, &o)
			if cmd.Context().Err() != nil {
				return nil // Ctrl-C: a clean stop
			}
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.kafkaAddr, "kafka-addr", "127.0.0.1:9092", "address of the in-process broker (loopback)")
	f.StringVar(&o.etcdAddr, "etcd-addr", "127.0.0.1:2379", "address of the in-process etcd (its peer port is the next one)")
	f.StringVar(&o.grpcAddr, "grpc-addr", "127.0.0.1:7070", "gRPC address")
	f.StringVar(&o.metricsAddr, "metrics-addr", "127.0.0.1:9464", "address of /metrics, /healthz and /readyz")
	f.StringVar(&o.consoleAddr, "console-addr", "127.0.0.1:7080", "address of the web console (loopback; \"none\" turns it off)")
	f.StringVar(&o.dir, "dir", "", "keep the broker's log, etcd and the store in this folder (default: a temporary one)")
	f.StringVar(&o.logLevel, "log-level", "warn", "log level")
	f.BoolVar(&o.noDemo, "no-demo", false, "start and serve, without the demo")
	return cmd
}

func runDev(ctx context.Context, g *globals, o *devOptions) error {
	t0 := time.Now()
	kport, err := devmode.LoopbackPort(o.kafkaAddr)
	if err != nil {
		return usageError{fmt.Errorf("--kafka-addr: %w", err)}
	}
	eport, err := devmode.LoopbackPort(o.etcdAddr)
	if err != nil {
		return usageError{fmt.Errorf("--etcd-addr: %w", err)}
	}
	dir, kept := o.dir, o.dir != ""
	if !kept {
		if dir, err = os.MkdirTemp("", "ofs-dev-"); err != nil {
			return err
		}
		defer os.RemoveAll(dir)
	}

	kopts := []kfake.Opt{kfake.NumBrokers(1), kfake.Ports(kport), kfake.ClusterID("ofs-dev")}
	if kept {
		kopts = append(kopts, kfake.DataDir(filepath.Join(dir, "kafka")))
	}
	broker, err := kfake.NewCluster(kopts...)
	if err != nil {
		return fmt.Errorf("in-process Kafka on %s: %w", o.kafkaAddr, err)
	}
	defer broker.Close()
	etcd, err := etcdserver.Start(etcdserver.Config{Dir: filepath.Join(dir, "etcd"), ClientAddr: o.etcdAddr,
		PeerAddr: net.JoinHostPort("127.0.0.1", strconv.Itoa(eport+1)), LogFile: filepath.Join(dir, "etcd.log")})
	if err != nil {
		return err
	}
	defer etcd.Close()

	cfg := config.Default()
	cfg.Kafka.Brokers = broker.ListenAddrs()
	cfg.Kafka.FeaturePartitions = 4
	cfg.Etcd.Endpoints = []string{etcd.Endpoint()}
	cfg.GRPC.Addr = o.grpcAddr
	cfg.Metrics.Addr = o.metricsAddr
	cfg.Console.Addr = o.consoleAddr
	cfg.Log.Level = o.logLevel
	cfg.Stores = connections.Configs{"default": {Pebble: &connections.Pebble{Dir: filepath.Join(dir, "store")}}}
	if err := cfg.Validate(); err != nil {
		return usageError{err}
	}
	rt, err := node.New(&cfg, g.stderr)
	if err != nil {
		return err
	}
	defer rt.Close()
	if err := rt.EnsureTopics(); err != nil {
		return err
	}

	rt.Ready.Expect("registry", "ingest", "serve")
	grp, gctx := errgroup.WithContext(ctx) // serve() serves the metrics
	for _, run := range []func(context.Context, *node.Node, *errgroup.Group) error{runRegistryProcessor, runIngestProcessor} {
		grp.Go(func() error {
			if err := run(gctx, rt, grp); err != nil && !errors.Is(err, context.Canceled) {
				return err
			}
			return nil
		})
	}
	grp.Go(func() error { return serve(gctx, rt) })
	grp.Go(func() error {
		demo := devmode.Demo{Out: g.stdout, Node: rt, GRPCAddr: o.grpcAddr, MetricsAddr: o.metricsAddr,
			ConsoleAddr: o.consoleAddr, NoData: o.noDemo, Started: t0, Dir: dir, Kept: kept}
		if err := demo.Run(gctx); err != nil && gctx.Err() == nil {
			return fmt.Errorf("demo: %w", err)
		}
		return nil
	})
	return grp.Wait()
}
