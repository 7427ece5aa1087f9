package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/IBM/sarama"
	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kfake"
	"golang.org/x/sync/errgroup"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/ofstack/ofs/examples"
	"github.com/ofstack/ofs/internal/answer"
	"github.com/ofstack/ofs/internal/config"
	"github.com/ofstack/ofs/internal/etcdserver"
	"github.com/ofstack/ofs/internal/node"
	"github.com/ofstack/ofs/internal/plan"
	featurev1 "github.com/ofstack/ofs/proto/ofs/feature/v1"
	registryv1 "github.com/ofstack/ofs/proto/ofs/registry/v1"
	"github.com/ofstack/ofs/topics"
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

func loopbackPort(addr string) (int, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return 0, err
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return 0, fmt.Errorf("%s is not a loopback address", addr)
	}
	return strconv.Atoi(port)
}

func runDev(ctx context.Context, g *globals, o *devOptions) error {
	t0 := time.Now()
	kport, err := loopbackPort(o.kafkaAddr)
	if err != nil {
		return usageError{fmt.Errorf("--kafka-addr: %w", err)}
	}
	eport, err := loopbackPort(o.etcdAddr)
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
		if err := devDemo(gctx, g, rt, o, t0, dir, kept); err != nil && gctx.Err() == nil {
			return fmt.Errorf("demo: %w", err)
		}
		return nil
	})
	return grp.Wait()
}

// devDemo waits until the server serves, applies the example registry,
// publishes sample events, prints what Retrieve answers, and says what to
// do next.
func devDemo(ctx context.Context, g *globals, rt *node.Node, o *devOptions, t0 time.Time, dir string, kept bool) error {
	conn, err := grpc.NewClient(o.grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return err
	}
	defer conn.Close()
	if err := waitHealthy(ctx, conn); err != nil {
		return err
	}
	out := g.stdout
	fmt.Fprintf(out, "ofs dev is up in %s: broker, etcd, registry and ingest processors, and the gRPC server, in one process.\n\n",
		time.Since(t0).Round(time.Millisecond))
	if !o.noDemo {
		if err := demoData(ctx, g, rt, conn); err != nil {
			return err
		}
	}
	printNextSteps(out, nextSteps{
		ofs:     selfCommand(),
		brokers: strings.Join(rt.Cfg.Kafka.Brokers, ","),
		etcd:    strings.Join(rt.Cfg.Etcd.Endpoints, ","),
		grpc:    o.grpcAddr,
		metrics: o.metricsAddr,
		topic:   string(rt.Names.Features),
		console: o.consoleAddr,
	})
	if kept {
		fmt.Fprintf(out, "Kept on disk in %s: the broker's log, etcd and the feature store; a new `ofs dev --dir %s` starts from them.\n", dir, dir)
	} else {
		fmt.Fprintf(out, "Nothing is kept: the broker, etcd and the store live in %s, removed on exit (use --dir to keep them).\n", dir)
	}
	fmt.Fprintln(out, "Press Ctrl-C to stop.")
	return nil
}

func waitHealthy(ctx context.Context, conn *grpc.ClientConn) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	h := healthpb.NewHealthClient(conn)
	for {
		resp, err := h.Check(ctx, &healthpb.HealthCheckRequest{})
		if err == nil && resp.GetStatus() == healthpb.HealthCheckResponse_SERVING {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("the server did not become healthy: %w", errors.Join(err, ctx.Err()))
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// demoData applies the example registry, publishes a few events and prints
// them back through Retrieve.
func demoData(ctx context.Context, g *globals, rt *node.Node, conn *grpc.ClientConn) error {
	out := g.stdout
	reg := registryv1.NewRegistryServiceClient(conn)
	f, err := plan.ParseFile("examples/registry.yaml", examples.Registry)
	if err != nil {
		return err
	}
	cmds, err := f.Commands()
	if err != nil {
		return err
	}
	if err := plan.Apply(ctx, out, reg, "examples/registry.yaml", cmds, false, plan.CurrentActor()); err != nil {
		return err
	}

	producer, err := sarama.NewSyncProducer(rt.Cfg.Kafka.Brokers, rt.Sarama("ofs-dev-demo"))
	if err != nil {
		return err
	}
	defer producer.Close()
	users := make([]string, 0, 4) // with room for the key that has no data
	users = append(users, "1", "2", "3")
	var msgs []*sarama.ProducerMessage
	for i, u := range users {
		for group, values := range map[string]string{
			"user_profile":  fmt.Sprintf(`{"age":%d,"country":%q,"is_premium":%t,"lifetime_value":%g,"embedding":[%s]}`, 25+i*7, []string{"DE", "IN", "BR"}[i], i%2 == 0, 120.5*float64(i+1), embeddingText(i)),
			"user_activity": fmt.Sprintf(`{"clicks_1h":%d,"views_1h":%d,"ctr_1h":%g}`, 3*(i+1), 40*(i+1), float64(3*(i+1))/float64(40*(i+1))),
		} {
			msgs = append(msgs, &sarama.ProducerMessage{
				Topic: string(rt.Names.Features),
				Key:   sarama.StringEncoder(topics.FeatureKey("user", group, u)),
				Value: sarama.StringEncoder(fmt.Sprintf(`{"entity":"user","keys":{"user_id":%s},"feature_group":%q,"values":%s}`, u, group, values)),
			})
		}
	}
	if err := producer.SendMessages(msgs); err != nil {
		return fmt.Errorf("publish the sample events: %w", err)
	}
	fmt.Fprintf(out, "\nPublished %d sample events to %s (JSON, as kcat or a Spark job would).\n", len(msgs), rt.Names.Features)

	fs := featurev1.NewFeatureServiceClient(conn)
	req := &featurev1.RetrieveRequest{Entity: "user", KeyValues: append(users, "404"), TypedValues: true,
		Groups: []*featurev1.GroupSelection{
			{FeatureGroup: "user_profile", Features: []string{"age", "country", "is_premium", "embedding"}},
			{FeatureGroup: "user_activity"},
		}}
	deadline := time.Now().Add(time.Minute)
	var resp *featurev1.RetrieveResponse
	for {
		resp, err = fs.Retrieve(ctx, req)
		if err != nil {
			return fmt.Errorf("retrieve: %w", err)
		}
		if allFound(resp, len(users)) {
			break
		}
		if time.Now().After(deadline) {
			return errors.New("the sample events were not ingested within a minute")
		}
		time.Sleep(50 * time.Millisecond)
	}
	fmt.Fprintln(out, "Retrieve of users 1, 2, 3 and 404 (which has no data, so it gets the defaults):")
	fmt.Fprintln(out)
	keyReq := &featurev1.RetrieveRequest{Entity: req.GetEntity(), Groups: req.GetGroups()}
	for _, k := range req.GetKeyValues() {
		keyReq.Keys = append(keyReq.Keys, &featurev1.EntityKey{Values: []string{k}})
	}
	return answer.Table(out, keyReq, resp, []string{"user_id"}, false)
}

func allFound(resp *featurev1.RetrieveResponse, n int) bool {
	for _, r := range resp.GetRows()[:n] {
		for _, f := range r.GetFound() {
			if !f {
				return false
			}
		}
	}
	return true
}

func embeddingText(i int) string {
	parts := make([]string, 16)
	for k := range parts {
		parts[k] = strconv.FormatFloat(float64(i)+float64(k)/16, 'g', -1, 64)
	}
	return strings.Join(parts, ",")
}
