package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/IBM/sarama"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"

	"github.com/ofstack/ofs/internal/config"
	"github.com/ofstack/ofs/schema"
	"github.com/ofstack/ofs/topics"
	"github.com/ofstack/ofs/views"
	"github.com/ofstack/ofs/views/connections"
	"github.com/ofstack/ofs/views/registrycopy"
)

// runtime is what the long-running subcommands share: the configuration,
// the logger and the clients they open once.
type runtime struct {
	cfg     *config.Config
	log     *slog.Logger
	names   topics.Names
	etcd    *clientv3.Client
	metrics *prometheus.Registry
	kafka   topics.Security
	ready   readiness
}

// readiness is what /readyz reports: ready once every component expected
// (the processors of `ofs process`, the server of `ofs serve`) said so.
type readiness struct {
	mu   sync.Mutex
	want map[string]bool
}

// expect adds components that must be ready; a component already expected
// keeps its state.
func (r *readiness) expect(names ...string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.want == nil {
		r.want = map[string]bool{}
	}
	for _, n := range names {
		if _, ok := r.want[n]; !ok {
			r.want[n] = false
		}
	}
}

// set marks a component ready, or not ready again (a server shutting down).
func (r *readiness) set(name string, ready bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.want == nil {
		r.want = map[string]bool{}
	}
	r.want[name] = ready
}

// pending returns the components not ready yet, nil when all are (and at
// least one is expected).
func (r *readiness) pending() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.want) == 0 {
		return []string{"starting"}
	}
	var p []string
	for n, ok := range r.want {
		if !ok {
			p = append(p, n)
		}
	}
	slices.Sort(p)
	return p
}

func newRuntime(cfg *config.Config, g *globals) (*runtime, error) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	sec, err := cfg.KafkaSecurity()
	if err != nil {
		return nil, err
	}
	rt := &runtime{cfg: cfg, log: cfg.Logger(g.stderr), names: cfg.Names(), metrics: reg, kafka: sec}
	// The etcd client logs its retries through zap at warn; ofs reports the
	// errors that matter itself.
	etcdTLS, err := cfg.Etcd.TLS.Config()
	if err != nil {
		return nil, fmt.Errorf("etcd.tls: %w", err)
	}
	cli, err := clientv3.New(clientv3.Config{Endpoints: cfg.Etcd.Endpoints, DialTimeout: cfg.Etcd.DialTimeout,
		TLS: etcdTLS, Username: cfg.Etcd.Username, Password: cfg.Etcd.Password, Logger: zap.NewNop()})
	if err != nil {
		return nil, fmt.Errorf("etcd %v: %w", cfg.Etcd.Endpoints, err)
	}
	rt.etcd = cli
	return rt, nil
}

func (rt *runtime) Close() error { return rt.etcd.Close() }

// sarama returns the Kafka client configuration of ofs (topics.SaramaConfig)
// with the configured TLS and SASL.
func (rt *runtime) sarama(clientID string) *sarama.Config {
	cfg := topics.SaramaConfig(clientID)
	_ = rt.kafka.Apply(cfg) // newRuntime checked it
	return cfg
}

// ensureTopics creates the topics that do not exist yet.
func (rt *runtime) ensureTopics() error {
	admin, err := topics.NewAdmin(rt.cfg.Kafka.Brokers, rt.kafka)
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
	w := registrycopy.NewWatcher(rt.etcd, rt.cfg.EtcdRoot(), holder, rt.log)
	grp.Go(func() error { return w.Run(ctx) })
	select {
	case <-w.Ready():
		return holder, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// serveMetrics serves /metrics, /healthz and /readyz on the metrics
// address until ctx is done ("none" or an empty address turns it off), and
// /debug/pprof on metrics.pprof_addr (loopback, checked by Validate) when
// it is set.
func (rt *runtime) serveMetrics(ctx context.Context, grp *errgroup.Group) error {
	if addr := rt.cfg.Metrics.Addr; addr != "" && addr != "none" {
		mux := http.NewServeMux()
		mux.Handle("/metrics", promhttp.HandlerFor(rt.metrics, promhttp.HandlerOpts{Registry: rt.metrics}))
		mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) })
		// Readiness for Kubernetes probes, which cannot speak gRPC over TLS.
		mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
			if p := rt.ready.pending(); len(p) > 0 {
				http.Error(w, "not ready: "+strings.Join(p, ", "), http.StatusServiceUnavailable)
				return
			}
			_, _ = w.Write([]byte("ready\n"))
		})
		if err := rt.serveHTTP(ctx, grp, "metrics", addr, mux, "/metrics"); err != nil {
			return err
		}
	}
	if addr := rt.cfg.Metrics.PprofAddr; addr != "" {
		mux := http.NewServeMux()
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
		if err := rt.serveHTTP(ctx, grp, "pprof", addr, mux, "/debug/pprof/"); err != nil {
			return err
		}
	}
	return nil
}

// serveHTTP serves handler on addr until ctx is done.
func (rt *runtime) serveHTTP(ctx context.Context, grp *errgroup.Group, what, addr string, handler http.Handler, path string) error {
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("%s listener on %s: %w", what, addr, err)
	}
	srv := &http.Server{Handler: handler, ReadHeaderTimeout: 5 * time.Second}
	rt.log.Info(what, "addr", "http://"+lis.Addr().String()+path)
	grp.Go(func() error {
		if err := srv.Serve(lis); !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	})
	grp.Go(func() error {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		return srv.Shutdown(sctx)
	})
	return nil
}

// stores returns the configured stores once the connection targets in etcd
// are known, and follows them until ctx is done.
func (rt *runtime) stores(ctx context.Context, grp *errgroup.Group, holder *schema.Holder) (*connections.Set, error) {
	set := connections.NewSet(rt.cfg.Stores, holder, rt.log)
	first := make(chan struct{})
	var once sync.Once
	grp.Go(func() error {
		err := registrycopy.WatchTargets(ctx, rt.etcd, registrycopy.ConnectionsRoot(rt.cfg.Prefix), rt.log, func(t map[string]registrycopy.Target) {
			set.SetTargets(t)
			once.Do(func() { close(first) })
		}, registrycopy.Acknowledge(registrycopy.AcksRoot(rt.cfg.Prefix), processName()))
		if errors.Is(err, context.Canceled) {
			return nil
		}
		return err
	})
	select {
	case <-first:
		return set, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

var followers atomic.Int32

// processName names one follower of the connection targets in the
// acknowledgements a blue/green switch waits for: host, pid, and which of
// the process's store sets (`ofs dev` runs a server and a processor).
func processName() string {
	host, err := os.Hostname()
	if err != nil {
		host = "unknown-host"
	}
	return fmt.Sprintf("%s/pid-%d/%d", host, os.Getpid(), followers.Add(1))
}

// cache opens the feature servers' cache tiers as configured.
func (rt *runtime) cache() (*views.Cache, error) {
	opts := []views.CacheOption{
		views.CacheMemory(rt.cfg.Cache.MemoryBytes),
		views.CacheRegisterer(rt.metrics),
		views.CacheLogger(rt.log.With("component", "cache")),
	}
	if rt.cfg.Cache.DiskDir != "" {
		opts = append(opts, views.CacheDisk(rt.cfg.Cache.DiskDir, rt.cfg.Cache.DiskBytes))
	}
	c, err := views.NewCache(opts...)
	if err != nil {
		return nil, fmt.Errorf("cache: %w", err)
	}
	return c, nil
}
