package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"sync"
	"time"

	"github.com/IBM/sarama"
	"github.com/spf13/cobra"
	"golang.org/x/sync/errgroup"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/keepalive"

	"github.com/ofstack/ofs/internal/node"
	"github.com/ofstack/ofs/internal/tlsconf"
	featurev1 "github.com/ofstack/ofs/proto/ofs/feature/v1"
	registryv1 "github.com/ofstack/ofs/proto/ofs/registry/v1"
	"github.com/ofstack/ofs/schema"
	"github.com/ofstack/ofs/servers"
	"github.com/ofstack/ofs/servers/feature"
	registryserver "github.com/ofstack/ofs/servers/registry"
	"github.com/ofstack/ofs/views"
)

// shutdownGrace bounds how long in-flight calls may finish when a
// connection reaches grpc.max_connection_age.
const shutdownGrace = 10 * time.Second

func newServe(g *globals) *cobra.Command {
	var cf configFlags
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Serve the gRPC APIs (FeatureService, RegistryService) with health checking and reflection",
		Long: "Serve the gRPC APIs until SIGINT or SIGTERM. The server follows the registry in etcd\n" +
			"and reports SERVING on the gRPC health service once it has caught up.\n" +
			"It listens on loopback unless --grpc-addr says otherwise.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			rt, err := cf.runtime(g)
			if err != nil {
				return err
			}
			defer rt.Close()
			if err := rt.EnsureTopics(); err != nil {
				return err
			}
			err = serve(cmd.Context(), rt)
			if cmd.Context().Err() != nil {
				rt.Log.Info("stopped on signal")
				return nil
			}
			return err
		},
	}
	cf.register(cmd, true)
	return cmd
}

// serve serves until ctx ends, then shuts down as servers.Shutdown says:
// the parts the calls in flight need (stores, registry, caches, metrics)
// run on a context of their own, which ends only after the gRPC server
// stopped.
func serve(sig context.Context, rt *node.Node) error {
	rt.Ready.Expect("serve")
	life, endLife := context.WithCancel(context.WithoutCancel(sig))
	defer endLife()
	grp, ctx := errgroup.WithContext(life)
	stopping, stop := context.WithCancel(ctx) // ends on the signal or a failure
	defer stop()
	context.AfterFunc(sig, stop)
	if err := rt.ServeMetrics(ctx, grp); err != nil {
		return err
	}
	holder, err := rt.WatchRegistry(ctx, grp)
	if err != nil {
		return err
	}
	stores, err := rt.Stores(ctx, grp, holder)
	if err != nil {
		return err
	}
	defer stores.Close()
	cache, err := rt.Cache()
	if err != nil {
		return err
	}
	defer cache.Close()
	policy := func(id uint32) schema.CachePolicy {
		if g, ok := holder.Load().FeatureGroupByID(id); ok {
			return g.Cache
		}
		return schema.CachePolicy{}
	}
	guards := views.NewStoreMetrics(rt.Metrics)
	sr := rt.Cfg.StoreReads
	var tiered sync.Map // views.Store -> *views.TieredReader
	readers := func(id string) (feature.Reader, error) {
		st, err := stores.ForStore(id)
		if err != nil {
			return nil, err
		}
		if r, ok := tiered.Load(st); ok {
			return r.(*views.TieredReader), nil
		}
		g, err := views.Guard(st, id, views.GuardTimeout(sr.Timeout), views.GuardBreaker(sr.BreakerFailures, sr.BreakerCooldown),
			views.GuardMetrics(guards), views.GuardLogger(rt.Log.With("component", "store")))
		if err != nil {
			return nil, err
		}
		r, _ := tiered.LoadOrStore(st, cache.Tiered(g).Reader(policy))
		return r.(*views.TieredReader), nil
	}

	scfg := rt.Sarama("ofs-serve")
	producer, err := sarama.NewSyncProducer(rt.Cfg.Kafka.Brokers, scfg)
	if err != nil {
		return fmt.Errorf("kafka producer: %w", err)
	}
	defer producer.Close()
	consumer, err := sarama.NewConsumer(rt.Cfg.Kafka.Brokers, scfg)
	if err != nil {
		return fmt.Errorf("kafka consumer: %w", err)
	}
	defer consumer.Close()

	lis, err := net.Listen("tcp", rt.Cfg.GRPC.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", rt.Cfg.GRPC.Addr, err)
	}
	peers, closePeers, err := rt.Peers(lis.Addr(), cache)
	if err != nil {
		_ = lis.Close() // the error says more
		return err
	}
	defer closePeers()
	direct := func(id string) (feature.Reader, error) { return stores.ForStore(id) }
	pc := rt.Cfg.Persist
	fsrv := feature.New(holder, readers, feature.WithLogger(rt.Log.With("server", "feature")),
		feature.WithRegisterer(rt.Metrics),
		feature.WithLimits(feature.Limits{MaxKeys: rt.Cfg.Limits.RetrieveMaxKeys, MaxValues: rt.Cfg.Limits.RetrieveMaxValues,
			MaxAnswerBytes: rt.Cfg.Limits.RetrieveMaxAnswerBytes}),
		feature.WithRegistrySync(node.RegistrySync(rt.Etcd, rt.Cfg.EtcdRoot(), holder)),
		feature.WithPersist(producer, rt.Names, stores.ForStore, cache),
		feature.WithPersistTimeouts(pc.Timeout, pc.StoreTimeout),
		feature.WithIdempotencyKeys(pc.IdempotencyKeys, pc.IdempotencyTTL),
		feature.WithPeers(peers, direct))

	reg := registryserver.New(rt.Names, holder, producer, rt.Log.With("server", "registry"))
	positioned := make(chan struct{})
	grp.Go(func() error { return reg.Run(ctx, consumer, func() { close(positioned) }) })
	following := make(chan struct{})
	grp.Go(func() error {
		return peers.Follow(ctx, consumer, string(rt.Names.Invalidations), cache,
			rt.Log.With("server", "feature"), func() { close(following) })
	})
	joined := make(chan struct{})
	peersCtx, leave := context.WithCancel(ctx)
	defer leave()
	left := make(chan struct{})
	grp.Go(func() error {
		defer close(left)
		err := peers.Run(peersCtx, func() { close(joined) })
		if ctx.Err() == nil && peersCtx.Err() != nil {
			return nil // withdrawn by the shutdown
		}
		return err
	})

	roles := servers.StandardRoles().With(feature.Roles(), registryserver.Roles())
	auth := servers.NewAuth(servers.Tokens{Readers: rt.Cfg.Auth.ReaderTokens, Writers: rt.Cfg.Auth.WriterTokens}, roles, rt.Metrics)
	lim := rt.Cfg.Limits
	gopts := slices.Concat(auth.Options(), servers.Metrics(rt.Metrics),
		servers.RecvLimits(servers.RecvLimit{Request: (*featurev1.RetrieveRequest)(nil), Bytes: lim.RetrieveMaxRequestBytes,
			Name: "limits.retrieve_max_request_bytes"}),
		[]grpc.ServerOption{grpc.MaxRecvMsgSize(lim.MaxRequestBytes), grpc.MaxSendMsgSize(lim.MaxRequestBytes)})
	if rt.Cfg.GRPC.TLS.Enabled() {
		tcfg, err := tlsconf.Server(rt.Cfg.GRPC.TLS)
		if err != nil {
			return fmt.Errorf("grpc.tls: %w", err)
		}
		gopts = append(gopts, grpc.Creds(credentials.NewTLS(tcfg)))
	}
	tp, err := servers.NewTracerProvider(ctx, rt.Cfg.Tracing)
	if err != nil {
		_ = lis.Close() // the error says more
		return err
	}
	defer servers.StopTracing(tp, rt.Log)
	gopts = append(gopts, servers.Tracing(tp)...)
	if age := rt.Cfg.GRPC.MaxConnectionAge; age > 0 {
		gopts = append(gopts, grpc.KeepaliveParams(keepalive.ServerParameters{MaxConnectionAge: age,
			MaxConnectionAgeGrace: shutdownGrace}))
	}
	gs, health := servers.NewGRPC(rt.Log, gopts...)
	registryv1.RegisterRegistryServiceServer(gs, reg)
	feature.Register(gs, fsrv)
	featurev1.RegisterPeerServiceServer(gs, peers)
	if err := servers.CheckRoles(gs, roles); err != nil {
		_ = lis.Close() // the error says more
		return err
	}
	con, err := newConsole(rt, holder, reg, readers)
	if err != nil {
		_ = lis.Close() // the error says more
		return err
	}
	if con != nil {
		grp.Go(func() error { return con.Run(ctx) })
	}
	grp.Go(func() error { return gs.Serve(lis) })
	grp.Go(func() error {
		select {
		case <-positioned:
			for _, c := range []chan struct{}{following, joined} {
				select {
				case <-c:
				case <-stopping.Done():
				}
			}
			if stopping.Err() == nil {
				health.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
				rt.Ready.Set("serve", true)
				rt.Log.Info("serving", "grpc", lis.Addr().String(), "registry_revision", holder.Load().Revision())
			}
		case <-stopping.Done():
		}
		<-stopping.Done()
		withdraw := func() {
			rt.Ready.Set("serve", false) // /readyz answers 503
			leave()                      // the registration in etcd is revoked
			select {
			case <-left:
			case <-time.After(3 * time.Second):
				rt.Log.Warn("leaving the feature servers takes long: going on")
			}
		}
		servers.Shutdown{Delay: rt.Cfg.GRPC.ShutdownDelay, Timeout: rt.Cfg.GRPC.ShutdownTimeout}.
			Stop(gs, health, rt.Log, withdraw)
		endLife() // then the stores, the registry watch, the consumers
		return nil
	})
	if err := grp.Wait(); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}
