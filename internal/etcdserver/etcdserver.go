// Package etcdserver runs a single-member etcd server inside the process, on
// loopback. It backs the dev service script (deploy/dev/etcd) and `ofs dev`,
// so that neither needs an etcd binary installed.
package etcdserver

import (
	"errors"
	"fmt"
	"net/url"
	"time"

	"go.etcd.io/etcd/client/pkg/v3/transport"
	"go.etcd.io/etcd/server/v3/embed"
)

// ErrNotReady is returned when the server does not become ready in time.
var ErrNotReady = errors.New("etcdserver: not ready")

// Config says where the server listens and keeps its data.
type Config struct {
	Dir        string        // data directory; created if missing
	ClientAddr string        // host:port for clients, default 127.0.0.1:2379
	PeerAddr   string        // host:port for the raft peer listener, default 127.0.0.1:2380
	LogLevel   string        // etcd's zap level: debug, info, warn, error; default warn
	LogFile    string        // where etcd logs; default stderr
	StartLimit time.Duration // how long Start waits for readiness, default 60s
	// CertFile and KeyFile, when set, serve clients over TLS; ClientCAFile
	// also requires client certificates that it signed.
	CertFile, KeyFile, ClientCAFile string
}

func (c *Config) defaults() {
	if c.ClientAddr == "" {
		c.ClientAddr = "127.0.0.1:2379"
	}
	if c.PeerAddr == "" {
		c.PeerAddr = "127.0.0.1:2380"
	}
	if c.LogLevel == "" {
		c.LogLevel = "warn"
	}
	if c.StartLimit == 0 {
		c.StartLimit = time.Minute
	}
}

// Server is a running embedded etcd.
type Server struct {
	etcd *embed.Etcd
	addr string
}

// Start starts the server and waits until it serves clients.
func Start(cfg Config) (*Server, error) {
	cfg.defaults()
	if cfg.Dir == "" {
		return nil, errors.New("etcdserver: a data directory is required")
	}
	ec := embed.NewConfig()
	ec.Name = "ofs"
	ec.Dir = cfg.Dir
	ec.LogLevel = cfg.LogLevel
	if cfg.LogFile != "" {
		ec.LogOutputs = []string{cfg.LogFile}
	}
	client := url.URL{Scheme: "http", Host: cfg.ClientAddr}
	if cfg.CertFile != "" {
		client.Scheme = "https"
		ec.ClientTLSInfo = transport.TLSInfo{CertFile: cfg.CertFile, KeyFile: cfg.KeyFile,
			TrustedCAFile: cfg.ClientCAFile, ClientCertAuth: cfg.ClientCAFile != ""}
	}
	peer := url.URL{Scheme: "http", Host: cfg.PeerAddr}
	ec.ListenClientUrls, ec.AdvertiseClientUrls = []url.URL{client}, []url.URL{client}
	ec.ListenPeerUrls, ec.AdvertisePeerUrls = []url.URL{peer}, []url.URL{peer}
	ec.InitialCluster = ec.InitialClusterFromName(ec.Name)
	// The registry keeps one key per entity plus a revision key: history is
	// only needed for watchers to resume, so an hour of it is plenty.
	ec.AutoCompactionMode = embed.CompactorModePeriodic
	ec.AutoCompactionRetention = "1h"

	e, err := embed.StartEtcd(ec)
	if err != nil {
		return nil, fmt.Errorf("etcdserver: start on %s: %w", cfg.ClientAddr, err)
	}
	select {
	case <-e.Server.ReadyNotify():
	case err := <-e.Err():
		e.Close()
		return nil, fmt.Errorf("etcdserver: %w", err)
	case <-time.After(cfg.StartLimit):
		e.Close()
		return nil, fmt.Errorf("%w after %s", ErrNotReady, cfg.StartLimit)
	}
	return &Server{etcd: e, addr: cfg.ClientAddr}, nil
}

// Endpoint is the client address, host:port.
func (s *Server) Endpoint() string { return s.addr }

// Err reports a fatal server error after start.
func (s *Server) Err() <-chan error { return s.etcd.Err() }

// Close stops the server and waits for it to release its data directory.
func (s *Server) Close() { s.etcd.Close() }
