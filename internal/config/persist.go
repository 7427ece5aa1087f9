package config

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"time"

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

// DefaultPersist returns the defaults of PersistConfig, those of the
// feature server.
func DefaultPersist() PersistConfig {
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

// Identity returns the server id and the address peers reach it at, from
// the configuration, OFS_GRPC_ADVERTISE_ADDR and the address it listens on.
func (p PersistConfig) Identity(listen net.Addr) (id, addr string, err error) {
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
