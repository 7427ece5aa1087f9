package feature

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc"

	featurev1 "github.com/ofstack/ofs/proto/ofs/feature/v1"
)

// ErrPeers is returned by NewPeers for options that cannot work.
var ErrPeers = errors.New("feature: invalid peer options")

// Defaults of the peer options.
const (
	DefaultPeerTTL        = 5 * time.Second
	DefaultPeerCheck      = 250 * time.Millisecond
	DefaultPeerTrust      = time.Second
	DefaultPeerAckTimeout = 500 * time.Millisecond
)

// Peers is this server's membership in the fleet of feature servers, and
// its view of the others (see docs/ARCHITECTURE.md, "Persist").
//
// A server is a member while its registration, <root>/servers/<id> = its
// address under a lease of its own, is in etcd. It trusts its cache tiers
// only for trust after the start of its last confirmed keep-alive: a
// server that cannot reach etcd, or whose registration was revoked by a
// peer that got no answer from it, reads its stores directly (Trusted is
// false) within trust. A Persist tells every registered server other than
// itself to drop the written keys and waits, within the ack timeout, for
// their answers; it revokes the registration of any that does not answer
// and waits trust before returning, by when that server reads its stores
// directly. A server joins by registering, then reading the invalidations
// topic up to its end: every Persist that did not see its registration had
// announced its keys on the topic before.
type Peers struct {
	etcd      *clientv3.Client
	prefix    string // <root>/servers/
	id, addr  string
	watermark func() (int64, error) // the next offset of the invalidations topic
	cache     Invalidator
	cfg       peerConfig

	applied      atomic.Int64 // the next offset of the topic the follower will apply
	lease        atomic.Int64
	joined       atomic.Bool
	trustedUntil atomic.Int64 // nanoseconds since base
	base         time.Time

	mu    sync.Mutex
	conns map[string]*grpc.ClientConn

	fenced prometheus.Counter

	featurev1.UnimplementedPeerServiceServer
}

type peerConfig struct {
	ttl, check, trust, ack time.Duration
	dial                   []grpc.DialOption
	log                    *slog.Logger
	reg                    prometheus.Registerer
}

// PeerOption configures Peers.
type PeerOption func(*peerConfig)

// PeerLease sets the registration's lease time to live (default 5s): how
// long a server that vanished stays registered unless a peer revokes it.
func PeerLease(ttl time.Duration) PeerOption { return func(c *peerConfig) { c.ttl = ttl } }

// PeerTrust sets how long a confirmed keep-alive lets a server trust its
// caches (default 1s), and how often it confirms (default 250ms): the
// wait of a Persist after it revoked a silent peer.
func PeerTrust(trust, check time.Duration) PeerOption {
	return func(c *peerConfig) { c.trust, c.check = trust, check }
}

// PeerAckTimeout bounds the wait for a peer's answer (default 500ms).
func PeerAckTimeout(d time.Duration) PeerOption { return func(c *peerConfig) { c.ack = d } }

// PeerDialOptions are the options of the connections to peers: transport
// credentials (plain text by default) and the writer token.
func PeerDialOptions(opts ...grpc.DialOption) PeerOption {
	return func(c *peerConfig) { c.dial = append(c.dial, opts...) }
}

// PeerRegisterer registers the metrics: ofs_serve_live (1 while this
// server is a live member and serves from its caches) and
// ofs_persist_peers_fenced_total (peers that did not acknowledge in time).
func PeerRegisterer(r prometheus.Registerer) PeerOption { return func(c *peerConfig) { c.reg = r } }

// PeerLogger sets the logger.
func PeerLogger(l *slog.Logger) PeerOption { return func(c *peerConfig) { c.log = l } }

// NewPeers returns the membership of the server id reachable at addr,
// registered under root in etcd. cache is what a peer's invalidation drops;
// watermark returns the next offset of the invalidations topic.
func NewPeers(etcd *clientv3.Client, root, id, addr string, cache Invalidator, watermark func() (int64, error), opts ...PeerOption) (*Peers, error) {
	cfg := peerConfig{ttl: DefaultPeerTTL, check: DefaultPeerCheck, trust: DefaultPeerTrust, ack: DefaultPeerAckTimeout,
		log: slog.New(slog.DiscardHandler)}
	for _, o := range opts {
		o(&cfg)
	}
	switch {
	case id == "" || strings.Contains(id, "/") || addr == "":
		return nil, fmt.Errorf("%w: server id %q (no slash) and address %q are needed", ErrPeers, id, addr)
	case cfg.check <= 0 || cfg.trust < 2*cfg.check:
		return nil, fmt.Errorf("%w: trust %s must be at least twice the check interval %s", ErrPeers, cfg.trust, cfg.check)
	case cfg.ttl < 2*cfg.trust || cfg.ttl < 2*time.Second:
		return nil, fmt.Errorf("%w: lease %s must be at least 2s and twice the trust %s", ErrPeers, cfg.ttl, cfg.trust)
	case cfg.ack <= 0:
		return nil, fmt.Errorf("%w: ack timeout %s", ErrPeers, cfg.ack)
	}
	if len(cfg.dial) == 0 {
		return nil, fmt.Errorf("%w: PeerDialOptions must give transport credentials", ErrPeers)
	}
	p := &Peers{etcd: etcd, prefix: strings.TrimSuffix(root, "/") + "/servers/", id: id, addr: addr,
		watermark: watermark, cache: cache, cfg: cfg, base: time.Now(), conns: map[string]*grpc.ClientConn{},
		fenced: prometheus.NewCounter(prometheus.CounterOpts{Name: "ofs_persist_peers_fenced_total",
			Help: "Feature servers whose registration a Persist revoked because they did not acknowledge its invalidation in time."})}
	if cfg.reg != nil {
		live := prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "ofs_serve_live",
			Help: "1 while this server is a live member of the feature servers and serves from its caches; 0 while it reads its stores directly."},
			func() float64 {
				if p.Trusted() {
					return 1
				}
				return 0
			})
		if err := cfg.reg.Register(live); err != nil {
			return nil, fmt.Errorf("feature: peer metrics: %w", err)
		}
		if err := cfg.reg.Register(p.fenced); err != nil {
			return nil, fmt.Errorf("feature: peer metrics: %w", err)
		}
	}
	return p, nil
}

func (p *Peers) mono() int64 { return int64(time.Since(p.base)) }

// Trusted reports whether this server is a member whose caches the other
// servers' Persists keep clean.
func (p *Peers) Trusted() bool { return p.joined.Load() && p.mono() < p.trustedUntil.Load() }

// ID is the server's id.
func (p *Peers) ID() string { return p.id }

// Applied records that the invalidations follower will next apply offset
// next.
func (p *Peers) Applied(next int64) { p.applied.Store(next) }

// Run registers the server, keeps the registration alive, registers again
// when it is lost, and removes it when ctx ends. joined is called after the
// first registration is complete.
func (p *Peers) Run(ctx context.Context, joined func()) error {
	defer p.closeConns()
	first := true
	for {
		err := p.join(ctx)
		if err == nil {
			if first && joined != nil {
				joined()
			}
			first = false
			p.cfg.log.Info("joined the feature servers", "id", p.id, "addr", p.addr)
			err = p.keep(ctx)
		}
		p.joined.Store(false)
		if ctx.Err() != nil {
			p.leave()
			return ctx.Err()
		}
		p.cfg.log.Warn("not a live member: reading stores without the caches until joined again", "id", p.id, "err", err)
		select {
		case <-ctx.Done():
			p.leave()
			return ctx.Err()
		case <-time.After(p.cfg.check):
		}
	}
}

// join registers under a new lease and waits until the follower has read
// the invalidations topic up to its end as of after the registration.
func (p *Peers) join(ctx context.Context) error {
	cctx, cancel := context.WithTimeout(ctx, p.cfg.ttl)
	defer cancel()
	lease, err := p.etcd.Grant(cctx, int64(p.cfg.ttl/time.Second))
	if err != nil {
		return fmt.Errorf("feature: lease: %w", err)
	}
	start := p.mono()
	if _, err := p.etcd.Put(cctx, p.prefix+p.id, p.addr, clientv3.WithLease(lease.ID)); err != nil {
		return fmt.Errorf("feature: register %s: %w", p.prefix+p.id, err)
	}
	p.lease.Store(int64(lease.ID))
	end, err := p.watermark()
	if err != nil {
		return fmt.Errorf("feature: invalidations watermark: %w", err)
	}
	for p.applied.Load() < end {
		select {
		case <-cctx.Done():
			return fmt.Errorf("feature: the invalidations follower did not reach offset %d: %w", end, cctx.Err())
		case <-time.After(time.Millisecond):
		}
	}
	p.trustedUntil.Store(start + int64(p.cfg.trust))
	p.joined.Store(true)
	return nil
}

// keep confirms the lease every check interval until it is lost or ctx ends.
func (p *Peers) keep(ctx context.Context) error {
	t := time.NewTicker(p.cfg.check)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
		start := p.mono()
		cctx, cancel := context.WithTimeout(ctx, p.cfg.trust)
		_, err := p.etcd.KeepAliveOnce(cctx, clientv3.LeaseID(p.lease.Load()))
		cancel()
		switch {
		case err == nil:
			p.trustedUntil.Store(start + int64(p.cfg.trust))
		case errors.Is(err, rpctypes.ErrLeaseNotFound):
			return fmt.Errorf("feature: registration revoked or expired: %w", err)
		default:
			p.cfg.log.Debug("lease keep-alive", "err", err)
		}
	}
}

func (p *Peers) leave() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if _, err := p.etcd.Revoke(ctx, clientv3.LeaseID(p.lease.Load())); err != nil {
		p.cfg.log.Warn("leaving: the registration stays until its lease ends", "err", err)
	}
}

// Invalidate is PeerService.Invalidate: another server's Persist.
func (p *Peers) Invalidate(_ context.Context, req *featurev1.InvalidateRequest) (*featurev1.InvalidateResponse, error) {
	if p.cache != nil {
		applyInvalidation(p.cache, req.GetInvalidation())
	}
	return &featurev1.InvalidateResponse{}, nil
}

func (p *Peers) conn(addr string) (featurev1.PeerServiceClient, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	c, ok := p.conns[addr]
	if !ok {
		var err error
		if c, err = grpc.NewClient(addr, p.cfg.dial...); err != nil {
			return nil, err
		}
		p.conns[addr] = c
	}
	return featurev1.NewPeerServiceClient(c), nil
}

func (p *Peers) closeConns() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for a, c := range p.conns {
		_ = c.Close() // nothing is in flight: Run is over
		delete(p.conns, a)
	}
}

// invalidate tells every other registered server to drop inv's keys. A
// server that does not answer within the ack timeout has its registration
// revoked, and invalidate returns only after trust, by when it no longer
// serves from its caches. acked and fenced name the servers.
func (p *Peers) invalidate(ctx context.Context, inv *featurev1.Invalidation) (acked, fenced []string, err error) {
	resp, err := p.etcd.Get(ctx, p.prefix, clientv3.WithPrefix())
	if err != nil {
		return nil, nil, fmt.Errorf("feature: list servers: %w", err)
	}
	type result struct {
		id    string
		lease clientv3.LeaseID
		err   error
	}
	results := make(chan result, len(resp.Kvs))
	req := &featurev1.InvalidateRequest{Invalidation: inv, From: p.id}
	n := 0
	for _, kv := range resp.Kvs {
		id := strings.TrimPrefix(string(kv.Key), p.prefix)
		if id == p.id {
			continue
		}
		n++
		go func(addr string, r result) {
			c, err := p.conn(addr)
			if err == nil {
				actx, cancel := context.WithTimeout(ctx, p.cfg.ack)
				_, err = c.Invalidate(actx, req, grpc.WaitForReady(true))
				cancel()
			}
			r.err = err
			results <- r
		}(string(kv.Value), result{id: id, lease: clientv3.LeaseID(kv.Lease)})
	}
	for range n {
		r := <-results
		if r.err == nil {
			acked = append(acked, r.id)
			continue
		}
		p.cfg.log.Warn("a feature server did not acknowledge an invalidation: revoking its registration", "peer", r.id, "err", r.err)
		if _, err := p.etcd.Revoke(ctx, r.lease); err != nil && !errors.Is(err, rpctypes.ErrLeaseNotFound) {
			return acked, fenced, fmt.Errorf("feature: server %s did not acknowledge (%w), and revoking its registration failed: %w", r.id, r.err, err)
		}
		fenced = append(fenced, r.id)
		p.fenced.Inc()
	}
	if len(fenced) > 0 {
		select {
		case <-ctx.Done():
			return acked, fenced, fmt.Errorf("feature: waiting out fenced servers %v: %w", fenced, ctx.Err())
		case <-time.After(p.cfg.trust):
		}
	}
	return acked, fenced, nil
}
