// Package config is the configuration of ofs's long-running commands (ofs
// serve, ofs process, ofs publish, ofs dev): one Config with defaults,
// loadable from a YAML file, the environment and command-line values, and
// validated as a whole. It holds no flag registration: cmd/ofs binds its
// flags to Flags.
package config

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/ofstack/ofs/internal/tlsconf"
	"github.com/ofstack/ofs/servers"
	"github.com/ofstack/ofs/servers/feature"
	"github.com/ofstack/ofs/topics"
	"github.com/ofstack/ofs/views"
	"github.com/ofstack/ofs/views/connections"
	"github.com/ofstack/ofs/views/registrycopy"
)

// Config is the configuration of every long-running subcommand. Values come,
// each overriding the one before, from the defaults, the file named by
// --config (or OFS_CONFIG), the environment (OFS_KAFKA_BROKERS,
// OFS_ETCD_ENDPOINTS, OFS_PREFIX, OFS_GRPC_ADDR, OFS_METRICS_ADDR,
// OFS_LOG_LEVEL, and the secrets OFS_KAFKA_SASL_USERNAME/PASSWORD,
// OFS_ETCD_USERNAME/PASSWORD, OFS_READER_TOKENS, OFS_WRITER_TOKENS), and the
// flags. examples/ofs.yaml shows every field.
type Config struct {
	// Prefix names every topic, group and etcd root of one installation.
	Prefix  string              `yaml:"prefix"`
	Kafka   KafkaConfig         `yaml:"kafka"`
	Etcd    EtcdConfig          `yaml:"etcd"`
	GRPC    GRPCConfig          `yaml:"grpc"`
	Metrics MetricsConfig       `yaml:"metrics"`
	Console ConsoleConfig       `yaml:"console"`
	Auth    AuthConfig          `yaml:"auth"`
	Cache   CacheConfig         `yaml:"cache"`
	Log     LogConfig           `yaml:"log"`
	Stores  connections.Configs `yaml:"stores"`
	Persist PersistConfig       `yaml:"persist"`
	// Limits bound what one request may ask of a server.
	Limits LimitsConfig `yaml:"limits"`
	// StoreReads guards the servers' reads of the stores.
	StoreReads StoreReadsConfig `yaml:"store_reads"`
	// Tracing sends OpenTelemetry traces of `ofs serve`'s calls; off
	// without an endpoint.
	Tracing servers.TracingConfig `yaml:"tracing"`
}

// LimitsConfig bounds the requests of the gRPC servers. Each is checked
// before the work it bounds and answered ResourceExhausted naming it.
type LimitsConfig struct {
	// MaxRequestBytes is the servers' receive limit: the largest Persist
	// or Apply.
	MaxRequestBytes int `yaml:"max_request_bytes"`
	// RetrieveMaxRequestBytes is the largest Retrieve request, at most
	// MaxRequestBytes.
	RetrieveMaxRequestBytes int `yaml:"retrieve_max_request_bytes"`
	// RetrieveMaxKeys bounds the keys of one Retrieve.
	RetrieveMaxKeys int `yaml:"retrieve_max_keys"`
	// RetrieveMaxValues bounds keys x values a key (every vector element
	// and string counted) of one Retrieve.
	RetrieveMaxValues int `yaml:"retrieve_max_values"`
	// RetrieveMaxAnswerBytes bounds a Retrieve's answer, at most
	// MaxRequestBytes.
	RetrieveMaxAnswerBytes int `yaml:"retrieve_max_answer_bytes"`
}

// StoreReadsConfig bounds the feature servers' reads of a store: each
// within Timeout, and after BreakerFailures reads in a row failed (timed out
// or unavailable), none for BreakerCooldown but one probe: Retrieve answers
// Unavailable at once meanwhile.
type StoreReadsConfig struct {
	Timeout         time.Duration `yaml:"timeout"`
	BreakerFailures int           `yaml:"breaker_failures"`
	BreakerCooldown time.Duration `yaml:"breaker_cooldown"`
}

// MetricsConfig says where Prometheus metrics, health and pprof are served.
type MetricsConfig struct {
	// Addr of the HTTP server for /metrics, /healthz and /readyz; empty
	// turns it off.
	Addr string `yaml:"addr"`
	// PprofAddr serves /debug/pprof on a listener of its own; empty (the
	// default) turns it off. It must be a loopback address: a profile
	// shows the process's memory and costs its CPU.
	PprofAddr string `yaml:"pprof_addr"`
}

// ConsoleConfig says where `ofs serve` serves the web console.
type ConsoleConfig struct {
	// Addr of the console; empty turns it off. Off loopback it needs the
	// auth tokens or mutual TLS (tls with ca_file).
	Addr string `yaml:"addr"`
	// TLS serves HTTPS with cert_file and key_file; ca_file also requires
	// client certificates it signed.
	TLS tlsconf.Files `yaml:"tls"`
}

// CacheConfig sizes the feature servers' cache tiers. Which groups use them,
// and for how long, is each feature group's cache policy in the registry.
type CacheConfig struct {
	// MemoryBytes bounds the L1, uncompressed blocks in memory; 0 turns it off.
	MemoryBytes int64 `yaml:"memory_bytes"`
	// DiskDir is where the L2 (Pebble, compressed blocks) lives; empty turns
	// it off. It is emptied on start.
	DiskDir string `yaml:"disk_dir"`
	// DiskBytes bounds the L2.
	DiskBytes int64 `yaml:"disk_bytes"`
}

// AuthConfig holds the bearer tokens the gRPC servers accept. With none,
// authentication is off, which is only sensible on loopback. The
// environment (OFS_READER_TOKENS, OFS_WRITER_TOKENS, comma-separated)
// overrides the file, so that tokens can live in a secret store.
type AuthConfig struct {
	ReaderTokens []string `yaml:"reader_tokens"`
	WriterTokens []string `yaml:"writer_tokens"`
}

// KafkaConfig says where Kafka is and how ofs's topics are laid out.
type KafkaConfig struct {
	Brokers []string `yaml:"brokers"`
	// FeaturePartitions is the partition count of the features topic.
	FeaturePartitions int32 `yaml:"feature_partitions"`
	// Replication of the topics ofs creates; -1 is the broker's default.
	Replication int16 `yaml:"replication"`
	// MinInsyncReplicas is the min.insync.replicas of the topics ofs
	// creates; 0 is the broker's setting.
	MinInsyncReplicas int16 `yaml:"min_insync_replicas"`
	// TLS connects to the brokers with TLS.
	TLS ClientTLS `yaml:"tls"`
	// SASL authenticates ofs to the brokers.
	SASL KafkaSASL `yaml:"sasl"`
}

// ClientTLS turns on TLS to a service (Kafka, etcd, Redis, ScyllaDB).
type ClientTLS = tlsconf.ClientConfig

// KafkaSASL is the user ofs authenticates as. Keep the password out of the
// file: OFS_KAFKA_SASL_PASSWORD (and OFS_KAFKA_SASL_USERNAME) override it.
type KafkaSASL struct {
	Mechanism string `yaml:"mechanism"` // PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512
	Username  string `yaml:"username"`
	Password  string `yaml:"password"`
}

// EtcdConfig says where etcd is.
type EtcdConfig struct {
	Endpoints   []string      `yaml:"endpoints"`
	DialTimeout time.Duration `yaml:"dial_timeout"`
	// Root is the registry's prefix in etcd; default /<prefix>/registry/.
	Root string    `yaml:"root"`
	TLS  ClientTLS `yaml:"tls"`
	// Username and Password authenticate to an etcd with auth enabled; keep
	// the password out of the file: OFS_ETCD_USERNAME, OFS_ETCD_PASSWORD.
	Username string `yaml:"username"`
	Password string `yaml:"password"`
}

// GRPCConfig says where the gRPC servers listen.
type GRPCConfig struct {
	Addr string `yaml:"addr"`
	// TLS serves TLS with cert_file and key_file (read again when they
	// change, so a rotated certificate needs no restart); ca_file also
	// requires every client to present a certificate it signed (mutual TLS).
	// Without it the servers speak plain text.
	TLS tlsconf.Files `yaml:"tls"`
	// MaxConnectionAge closes a client's connection (gracefully, after the
	// calls in flight) once it is that old, so that clients resolve the
	// servers' name again and spread over servers added since; 0 keeps
	// connections for ever.
	MaxConnectionAge time.Duration `yaml:"max_connection_age"`
	// ShutdownDelay is how long the server keeps serving on SIGTERM after
	// it reported NOT_SERVING and withdrew its readiness and registration,
	// so that balancers and clients stop sending to it; then it stops
	// gracefully (GOAWAY, the calls in flight finish).
	ShutdownDelay time.Duration `yaml:"shutdown_delay"`
	// ShutdownTimeout bounds how long the calls in flight may finish; then
	// their connections are closed.
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout"`
	// Insecure allows a listener beyond loopback with neither tokens
	// (auth) nor mutual TLS (tls.ca_file): anyone who reaches it may then
	// Persist and Apply. Without it such a configuration is refused.
	Insecure bool `yaml:"insecure"`
}

// LogConfig sets the log level and format.
type LogConfig struct {
	Level  string `yaml:"level"`  // debug, info, warn, error
	Format string `yaml:"format"` // text or json
}

// Default returns the configuration before any file, environment or flag:
// one installation on loopback, with the default prefix.
func Default() Config {
	return Config{
		Prefix:  topics.DefaultPrefix,
		Kafka:   KafkaConfig{Brokers: []string{"127.0.0.1:9092"}, FeaturePartitions: 12, Replication: -1},
		Etcd:    EtcdConfig{Endpoints: []string{"127.0.0.1:2379"}, DialTimeout: 5 * time.Second},
		GRPC:    GRPCConfig{Addr: "127.0.0.1:7070", ShutdownDelay: 3 * time.Second, ShutdownTimeout: 10 * time.Second},
		Metrics: MetricsConfig{Addr: "127.0.0.1:9464"},
		Cache:   CacheConfig{MemoryBytes: 256 << 20, DiskBytes: 4 << 30},
		Log:     LogConfig{Level: "info", Format: "text"},
		Persist: DefaultPersist(),
		Limits: LimitsConfig{MaxRequestBytes: servers.MaxMessageBytes, RetrieveMaxRequestBytes: 4 << 20,
			RetrieveMaxKeys: feature.DefaultMaxKeys, RetrieveMaxValues: feature.DefaultMaxValues,
			RetrieveMaxAnswerBytes: feature.DefaultMaxAnswerBytes},
		StoreReads: StoreReadsConfig{Timeout: views.DefaultReadTimeout, BreakerFailures: views.DefaultBreakerFailures,
			BreakerCooldown: views.DefaultBreakerCooldown},
		Tracing: servers.TracingConfig{SampleRatio: 0.01, Service: "ofs-serve"},
	}
}

// Validate reports every problem of the configuration at once.
func (c *Config) Validate() error {
	var errs []error
	if _, err := topics.For(c.Prefix); err != nil {
		errs = append(errs, err)
	}
	if len(c.Kafka.Brokers) == 0 {
		errs = append(errs, errors.New("kafka.brokers is empty"))
	}
	if c.Kafka.FeaturePartitions < 1 {
		errs = append(errs, fmt.Errorf("kafka.feature_partitions is %d, want at least 1", c.Kafka.FeaturePartitions))
	}
	if c.Kafka.Replication == 0 || c.Kafka.Replication < -1 {
		errs = append(errs, fmt.Errorf("kafka.replication is %d, want -1 (broker default) or at least 1", c.Kafka.Replication))
	}
	if c.Kafka.MinInsyncReplicas < 0 || (c.Kafka.Replication > 0 && c.Kafka.MinInsyncReplicas > c.Kafka.Replication) {
		errs = append(errs, fmt.Errorf("kafka.min_insync_replicas is %d, want 0 (broker default) or 1 to kafka.replication (%d)",
			c.Kafka.MinInsyncReplicas, c.Kafka.Replication))
	}
	if err := (topics.SASL{Mechanism: c.Kafka.SASL.Mechanism, Username: c.Kafka.SASL.Username}).Check(); err != nil {
		errs = append(errs, err)
	}
	if len(c.Etcd.Endpoints) == 0 {
		errs = append(errs, errors.New("etcd.endpoints is empty"))
	}
	if c.GRPC.Addr == "" {
		errs = append(errs, errors.New("grpc.addr is empty"))
	}
	if c.GRPC.ShutdownDelay < 0 || c.GRPC.ShutdownTimeout <= 0 {
		errs = append(errs, fmt.Errorf("grpc.shutdown_delay %s and grpc.shutdown_timeout %s: want 0 or more, and more than 0",
			c.GRPC.ShutdownDelay, c.GRPC.ShutdownTimeout))
	}
	if c.GRPC.MaxConnectionAge < 0 {
		errs = append(errs, fmt.Errorf("grpc.max_connection_age is %s, want 0 (off) or more", c.GRPC.MaxConnectionAge))
	}
	errs = append(errs, c.checkExposure(), c.checkLimits())
	if a := c.Metrics.PprofAddr; a != "" && !servers.Loopback(a) {
		errs = append(errs, fmt.Errorf("metrics.pprof_addr %q is not a loopback address (127.0.0.1:port, [::1]:port, localhost:port)", a))
	}
	errs = append(errs, c.Persist.validate()...)
	errs = append(errs, c.Tracing.Validate())
	var level slog.Level
	if err := level.UnmarshalText([]byte(c.Log.Level)); err != nil {
		errs = append(errs, fmt.Errorf("log.level: %w", err))
	}
	if c.Log.Format != "text" && c.Log.Format != "json" {
		errs = append(errs, fmt.Errorf("log.format is %q, want text or json", c.Log.Format))
	}
	if c.Cache.MemoryBytes < 0 || c.Cache.DiskBytes < 0 || (c.Cache.DiskDir != "" && c.Cache.DiskBytes == 0) {
		errs = append(errs, fmt.Errorf("cache: sizes must be positive, and disk_bytes set with disk_dir"))
	}
	if err := c.Stores.Validate(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// checkExposure refuses a gRPC listener beyond loopback that anyone could
// write through: no tokens, no mutual TLS, and no grpc.insecure.
func (c *Config) checkExposure() error {
	if servers.Loopback(c.GRPC.Addr) || c.GRPC.Insecure || len(c.Auth.ReaderTokens)+len(c.Auth.WriterTokens) > 0 ||
		c.GRPC.TLS.CAFile != "" {
		return nil
	}
	return fmt.Errorf("grpc.addr %q is not loopback, with neither tokens (auth, OFS_READER_TOKENS, OFS_WRITER_TOKENS) "+
		"nor mutual TLS (grpc.tls.ca_file): anyone who reaches it could Persist and Apply; set one, or grpc.insecure: true", c.GRPC.Addr)
}

func (c *Config) checkLimits() error {
	l, r := c.Limits, c.StoreReads
	var errs []error
	for name, v := range map[string]int{"max_request_bytes": l.MaxRequestBytes, "retrieve_max_request_bytes": l.RetrieveMaxRequestBytes,
		"retrieve_max_keys": l.RetrieveMaxKeys, "retrieve_max_values": l.RetrieveMaxValues,
		"retrieve_max_answer_bytes": l.RetrieveMaxAnswerBytes} {
		if v < 1 {
			errs = append(errs, fmt.Errorf("limits.%s is %d, want at least 1", name, v))
		}
	}
	if l.RetrieveMaxRequestBytes > l.MaxRequestBytes {
		errs = append(errs, fmt.Errorf("limits.retrieve_max_request_bytes (%d) is more than limits.max_request_bytes (%d)",
			l.RetrieveMaxRequestBytes, l.MaxRequestBytes))
	}
	if l.RetrieveMaxAnswerBytes > l.MaxRequestBytes {
		errs = append(errs, fmt.Errorf("limits.retrieve_max_answer_bytes (%d) is more than limits.max_request_bytes (%d), the servers' send limit too",
			l.RetrieveMaxAnswerBytes, l.MaxRequestBytes))
	}
	if r.Timeout <= 0 || r.BreakerFailures < 1 || r.BreakerCooldown <= 0 {
		errs = append(errs, fmt.Errorf("store_reads: timeout (%s) and breaker_cooldown (%s) must be positive, breaker_failures (%d) at least 1",
			r.Timeout, r.BreakerCooldown, r.BreakerFailures))
	}
	return errors.Join(errs...)
}

// KafkaSecurity returns how the Kafka clients connect: TLS and SASL.
func (c *Config) KafkaSecurity() (topics.Security, error) {
	sec := topics.Security{SASL: topics.SASL{Mechanism: c.Kafka.SASL.Mechanism, Username: c.Kafka.SASL.Username,
		Password: c.Kafka.SASL.Password}}
	cfg, err := c.Kafka.TLS.Config()
	if err != nil {
		return sec, fmt.Errorf("kafka.tls: %w", err)
	}
	sec.TLS = cfg
	return sec, sec.SASL.Check()
}

// Names returns the topic and group names of the configured prefix.
func (c *Config) Names() topics.Names {
	n, _ := topics.For(c.Prefix) // Validate checked the prefix
	return n
}

// EtcdRoot returns the registry's root in etcd.
func (c *Config) EtcdRoot() string {
	if c.Etcd.Root != "" {
		return c.Etcd.Root
	}
	return registrycopy.Root(c.Prefix)
}

// Layout returns the topic layout.
func (c *Config) Layout() topics.Layout {
	return topics.Layout{FeaturePartitions: c.Kafka.FeaturePartitions, Replication: c.Kafka.Replication, MinInsyncReplicas: c.Kafka.MinInsyncReplicas}
}
