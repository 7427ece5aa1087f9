package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"time"

	"github.com/IBM/sarama"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/ofstack/ofs/internal/tlsconf"
	"github.com/ofstack/ofs/servers/feature"
)

// PersistConfig bounds Persist and sets how the feature servers keep each
// other's caches clean (docs/ARCHITECTURE.md, "Persist").
type PersistConfig struct {
	// Timeout bounds a whole Persist: the server answers within it (and
	// within the caller's deadline), with outcome unknown if it must.
	Timeout time.Duration `yaml:"timeout"`
	// StoreTimeout bounds one store write within a Persist.
	StoreTimeout time.Duration `yaml:"store_timeout"`
	// IdempotencyKeys and IdempotencyTTL: how many keys a server remembers,
	// and for how long at most.
	IdempotencyKeys int           `yaml:"idempotency_keys"`
	IdempotencyTTL  time.Duration `yaml:"idempotency_ttl"`
	// ServerID names this server among its peers (default: host name and a
	// random suffix); AdvertiseAddr is where peers reach its gRPC port
	// (default: the listen address, or the host name and port when it
	// listens on every interface; OFS_GRPC_ADVERTISE_ADDR).
	ServerID      string `yaml:"server_id"`
	AdvertiseAddr string `yaml:"advertise_addr"`
	// LeaseTTL of the registration in etcd; Trust is how long one
	// confirmed keep-alive lets a server use its caches, checked every
	// Check; AckTimeout bounds the wait for a peer's acknowledgement.
	LeaseTTL   time.Duration `yaml:"lease_ttl"`
	Trust      time.Duration `yaml:"trust"`
	Check      time.Duration `yaml:"check"`
	AckTimeout time.Duration `yaml:"ack_timeout"`
}

func defaultPersistConfig() PersistConfig {
	return PersistConfig{Timeout: feature.DefaultPersistTimeout, StoreTimeout: feature.DefaultStoreTimeout,
		IdempotencyKeys: feature.DefaultIdempotencyKeys, IdempotencyTTL: feature.DefaultIdempotencyTTL,
		LeaseTTL: feature.DefaultPeerTTL, Trust: feature.DefaultPeerTrust, Check: feature.DefaultPeerCheck,
		AckTimeout: feature.DefaultPeerAckTimeout}
}

func (p PersistConfig) validate() []error {
	var errs []error
	switch {
	case p.Timeout <= 0 || p.StoreTimeout <= 0 || p.StoreTimeout > p.Timeout:
		errs = append(errs, fmt.Errorf("persist: timeout %s and store_timeout %s must be positive, store_timeout at most timeout", p.Timeout, p.StoreTimeout))
	case p.IdempotencyKeys < 1 || p.IdempotencyTTL <= 0:
		errs = append(errs, fmt.Errorf("persist: idempotency_keys %d and idempotency_ttl %s must be positive", p.IdempotencyKeys, p.IdempotencyTTL))
	case p.Check <= 0 || p.Trust < 2*p.Check || p.LeaseTTL < 2*p.Trust || p.LeaseTTL < 2*time.Second:
		errs = append(errs, fmt.Errorf("persist: want check > 0, trust >= 2 check, lease_ttl >= 2 trust and >= 2s; got %s, %s, %s", p.Check, p.Trust, p.LeaseTTL))
	case p.AckTimeout <= 0 || p.AckTimeout+p.Trust >= p.Timeout:
		errs = append(errs, fmt.Errorf("persist: ack_timeout %s plus trust %s must stay under timeout %s", p.AckTimeout, p.Trust, p.Timeout))
	}
	return errs
}

// identity returns the server id and the address peers reach it at.
func (p PersistConfig) identity(listen net.Addr) (id, addr string, err error) {
	host, _ := os.Hostname()
	id, addr = p.ServerID, p.AdvertiseAddr
	if v := os.Getenv("OFS_GRPC_ADVERTISE_ADDR"); v != "" {
		addr = v
	}
	if id == "" {
		b := make([]byte, 4)
		if _, err := rand.Read(b); err != nil {
			return "", "", err
		}
		id = host + "-" + hex.EncodeToString(b)
	}
	if addr == "" {
		tcp, ok := listen.(*net.TCPAddr)
		switch {
		case !ok:
			addr = listen.String()
		case tcp.IP.IsUnspecified():
			addr = net.JoinHostPort(host, fmt.Sprint(tcp.Port))
		default:
			addr = tcp.String()
		}
	}
	return id, addr, nil
}

// newPeers returns the server's membership among the feature servers, and
// a function that closes what it opened.
func newPeers(rt *runtime, listen net.Addr, cache feature.Invalidator) (*feature.Peers, func(), error) {
	pc := rt.cfg.Persist
	id, addr, err := pc.identity(listen)
	if err != nil {
		return nil, nil, err
	}
	kc, err := sarama.NewClient(rt.cfg.Kafka.Brokers, rt.sarama("ofs-serve-offsets"))
	if err != nil {
		return nil, nil, fmt.Errorf("kafka client: %w", err)
	}
	topic := string(rt.names.Invalidations)
	watermark := func() (int64, error) { return kc.GetOffset(topic, 0, sarama.OffsetNewest) }
	creds := insecure.NewCredentials()
	if rt.cfg.GRPC.TLS.Enabled() {
		tcfg, err := tlsconf.Client(rt.cfg.GRPC.TLS, "")
		if err != nil {
			_ = kc.Close() // the error says more
			return nil, nil, fmt.Errorf("grpc.tls, as a client of the peers: %w", err)
		}
		creds = credentials.NewTLS(tcfg)
	}
	dial := []grpc.DialOption{grpc.WithTransportCredentials(creds)}
	if len(rt.cfg.Auth.WriterTokens) > 0 {
		dial = append(dial, grpc.WithPerRPCCredentials(peerToken{token: rt.cfg.Auth.WriterTokens[0], secure: rt.cfg.GRPC.TLS.Enabled()}))
	}
	p, err := feature.NewPeers(rt.etcd, "/"+rt.cfg.Prefix, id, addr, cache, watermark,
		feature.PeerLease(pc.LeaseTTL), feature.PeerTrust(pc.Trust, pc.Check), feature.PeerAckTimeout(pc.AckTimeout),
		feature.PeerDialOptions(dial...), feature.PeerLogger(rt.log.With("server", "peers")),
		feature.PeerRegisterer(rt.metrics))
	if err != nil {
		_ = kc.Close() // the error says more
		return nil, nil, err
	}
	return p, func() { _ = kc.Close() }, nil // read-only client: nothing to lose on close
}

// peerToken sends the writer token to peers.
type peerToken struct {
	token  string
	secure bool
}

func (t peerToken) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + t.token}, nil
}

func (t peerToken) RequireTransportSecurity() bool { return t.secure }
