// Package node is what one long-running ofs process (ofs serve, ofs process,
// ofs dev, ofs publish) opens once and shares among its parts: the
// configuration, the logger, the metrics registry, the etcd client and the
// Kafka security, the readiness that /readyz reports, and the helpers that
// start the parts every command needs (the topics, the registry watch, the
// stores, the cache tiers, the metrics server).
package node

import (
	"context"
	"errors"
	"fmt"
	"io"
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

// Node is what the long-running subcommands share: the configuration,
// the logger and the clients they open once.
type Node struct {
	Cfg     *config.Config
	Log     *slog.Logger
	Names   topics.Names
	Etcd    *clientv3.Client
	Metrics *prometheus.Registry
	Kafka   topics.Security
	Ready   Readiness
}

// Readiness is what /readyz reports: ready once every component expected
// (the processors of `ofs process`, the server of `ofs serve`) said so.
type Readiness struct {
	mu   sync.Mutex
	want map[string]bool
}

// Expect adds components that must be ready; a component already expected
// keeps its state.
func (r *Readiness) Expect(names ...string) {
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

// Set marks a component ready, or not ready again (a server shutting down).
func (r *Readiness) Set(name string, ready bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.want == nil {
		r.want = map[string]bool{}
	}
	r.want[name] = ready
}

// Pending returns the components not ready yet, nil when all are (and at
// least one is expected).
func (r *Readiness) Pending() []string {
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

// New opens the etcd client and makes the logger (writing to logs) and
// the metrics registry of cfg, which Validate accepted.
func New(cfg *config.Config, logs io.Writer) (*Node, error) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	sec, err := cfg.KafkaSecurity()
	if err != nil {
		return nil, err
	}
	rt := &Node{Cfg: cfg, Log: cfg.Logger(logs), Names: cfg.Names(), Metrics: reg, Kafka: sec}
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
	rt.Etcd = cli
	return rt, nil
}

// Close closes the etcd client.
func (rt *Node) Close() error { return rt.Etcd.Close() }

// Sarama returns the Kafka client configuration of ofs (topics.SaramaConfig)
// with the configured TLS and SASL.
func (rt *Node) Sarama(clientID string) *sarama.Config {
	cfg := topics.SaramaConfig(clientID)
	_ = rt.Kafka.Apply(cfg) // New checked it
	return cfg
}

// EnsureTopics creates the topics that do not exist yet.
func (rt *Node) EnsureTopics() error {
	admin, err := topics.NewAdmin(rt.Cfg.Kafka.Brokers, rt.Kafka)
	if err != nil {
		return err
	}
	defer admin.Close()
	return topics.Ensure(admin, rt.Names.Specs(rt.Cfg.Layout()))
}

// WatchRegistry starts following the registry in etcd and returns its holder
// once it holds what etcd held at start. The watch ends with ctx.
func (rt *Node) WatchRegistry(ctx context.Context, grp *errgroup.Group) (*schema.Holder, error) {
	holder := schema.NewHolder(nil)
	w := registrycopy.NewWatcher(rt.Etcd, rt.Cfg.EtcdRoot(), holder, rt.Log)
	grp.Go(func() error { return w.Run(ctx) })
	select {
	case <-w.Ready():
		return holder, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// ServeMetrics serves /metrics, /healthz and /readyz on the metrics
// address until ctx is done ("none" or an empty address turns it off), and
// /debug/pprof on metrics.pprof_addr (loopback, checked by Validate) when
// it is set.
func (rt *Node) ServeMetrics(ctx context.Context, grp *errgroup.Group) error {
	if addr := rt.Cfg.Metrics.Addr; addr != "" && addr != "none" {
		mux := http.NewServeMux()
		mux.Handle("/metrics", promhttp.HandlerFor(rt.Metrics, promhttp.HandlerOpts{Registry: rt.Metrics}))
		mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) })
		// Readiness for Kubernetes probes, which cannot speak gRPC over TLS.
		mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
			if p := rt.Ready.Pending(); len(p) > 0 {
				http.Error(w, "not ready: "+strings.Join(p, ", "), http.StatusServiceUnavailable)
				return
			}
			_, _ = w.Write([]byte("ready\n"))
		})
		if err := rt.serveHTTP(ctx, grp, "metrics", addr, mux, "/metrics"); err != nil {
			return err
		}
	}
	if addr := rt.Cfg.Metrics.PprofAddr; addr != "" {
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
func (rt *Node) serveHTTP(ctx context.Context, grp *errgroup.Group, what, addr string, handler http.Handler, path string) error {
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("%s listener on %s: %w", what, addr, err)
	}
	srv := &http.Server{Handler: handler, ReadHeaderTimeout: 5 * time.Second}
	rt.Log.Info(what, "addr", "http://"+lis.Addr().String()+path)
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

// Stores returns the configured stores once the connection targets in etcd
// are known, and follows them until ctx is done.
func (rt *Node) Stores(ctx context.Context, grp *errgroup.Group, holder *schema.Holder) (*connections.Set, error) {
	set := connections.NewSet(rt.Cfg.Stores, holder, rt.Log)
	first := make(chan struct{})
	var once sync.Once
	grp.Go(func() error {
		err := registrycopy.WatchTargets(ctx, rt.Etcd, registrycopy.ConnectionsRoot(rt.Cfg.Prefix), rt.Log, func(t map[string]registrycopy.Target) {
			set.SetTargets(t)
			once.Do(func() { close(first) })
		}, registrycopy.Acknowledge(registrycopy.AcksRoot(rt.Cfg.Prefix), processName()))
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

// Cache opens the feature servers' cache tiers as configured.
func (rt *Node) Cache() (*views.Cache, error) {
	opts := []views.CacheOption{
		views.CacheMemory(rt.Cfg.Cache.MemoryBytes),
		views.CacheRegisterer(rt.Metrics),
		views.CacheLogger(rt.Log.With("component", "cache")),
	}
	if rt.Cfg.Cache.DiskDir != "" {
		opts = append(opts, views.CacheDisk(rt.Cfg.Cache.DiskDir, rt.Cfg.Cache.DiskBytes))
	}
	c, err := views.NewCache(opts...)
	if err != nil {
		return nil, fmt.Errorf("cache: %w", err)
	}
	return c, nil
}

// RegistrySync returns a snapshot at least as new as the registry etcd
// holds: it reads the etcd copy's revision and waits for the watch to deliver
// it.
func RegistrySync(cli *clientv3.Client, root string, holder *schema.Holder) func(context.Context) (*schema.Snapshot, error) {
	return func(ctx context.Context) (*schema.Snapshot, error) {
		rev, err := registrycopy.Revision(ctx, cli, root)
		if err != nil {
			return nil, err
		}
		return holder.Wait(ctx, rev)
	}
}
