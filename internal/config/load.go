package config

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/ofstack/ofs/views/connections"
)

// Flags are the values a command line gives. An empty one leaves what the
// file or the environment set.
type Flags struct {
	Brokers     string // comma-separated
	Endpoints   string // comma-separated
	Prefix      string
	GRPCAddr    string
	MetricsAddr string
	ConsoleAddr string
	LogLevel    string
}

// Load builds the configuration, each source overriding the one before:
// the defaults, the YAML file (none when file is ""; unknown fields are
// errors), the environment, the flags. Then it validates the result. Every
// error it returns is one for the user to correct, worded "config: ...".
func Load(file string, f Flags) (*Config, error) {
	c := Default()
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return nil, fmt.Errorf("config: %w", err)
		}
		dec := yaml.NewDecoder(bytes.NewReader(b))
		dec.KnownFields(true)
		if err := dec.Decode(&c); err != nil {
			return nil, fmt.Errorf("config %s: %w", file, err)
		}
	}
	pick := func(dst *string, env, flag string) {
		if v := os.Getenv(env); v != "" {
			*dst = v
		}
		if flag != "" {
			*dst = flag
		}
	}
	pickList := func(dst *[]string, env, flag string) {
		var s string
		pick(&s, env, flag)
		if s != "" {
			*dst = SplitList(s)
		}
	}
	pickList(&c.Kafka.Brokers, "OFS_KAFKA_BROKERS", f.Brokers)
	pickList(&c.Etcd.Endpoints, "OFS_ETCD_ENDPOINTS", f.Endpoints)
	pick(&c.Prefix, "OFS_PREFIX", f.Prefix)
	pick(&c.GRPC.Addr, "OFS_GRPC_ADDR", f.GRPCAddr)
	pick(&c.Metrics.Addr, "OFS_METRICS_ADDR", f.MetricsAddr)
	pick(&c.Console.Addr, "OFS_CONSOLE_ADDR", f.ConsoleAddr)
	pick(&c.Log.Level, "OFS_LOG_LEVEL", f.LogLevel)
	pick(&c.Kafka.SASL.Username, "OFS_KAFKA_SASL_USERNAME", "")
	pick(&c.Kafka.SASL.Password, "OFS_KAFKA_SASL_PASSWORD", "")
	pickList(&c.Auth.ReaderTokens, "OFS_READER_TOKENS", "")
	pickList(&c.Auth.WriterTokens, "OFS_WRITER_TOKENS", "")
	pick(&c.Etcd.Username, "OFS_ETCD_USERNAME", "")
	pick(&c.Etcd.Password, "OFS_ETCD_PASSWORD", "")
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return &c, nil
}

// SplitList splits a comma-separated value, dropping empty items.
func SplitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// Logger returns the configured logger, writing to w.
func (c *Config) Logger(w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(c.Log.Level)) // Validate checked it
	opts := &slog.HandlerOptions{Level: level}
	if c.Log.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// Masked returns a copy of c with its secrets (passwords, tokens) replaced
// by "***", for printing.
func (c *Config) Masked() Config {
	m := *c
	mask := func(s string) string {
		if s == "" {
			return ""
		}
		return "***"
	}
	maskAll := func(in []string) []string {
		out := make([]string, len(in))
		for i := range in {
			out[i] = "***"
		}
		return out
	}
	m.Kafka.SASL.Password = mask(m.Kafka.SASL.Password)
	m.Etcd.Password = mask(m.Etcd.Password)
	m.Auth.ReaderTokens, m.Auth.WriterTokens = maskAll(m.Auth.ReaderTokens), maskAll(m.Auth.WriterTokens)
	m.Stores = make(connections.Configs, len(c.Stores))
	for name, s := range c.Stores {
		if s.Redis != nil {
			r := *s.Redis
			r.Password = mask(r.Password)
			s.Redis = &r
		}
		if s.Scylla != nil {
			sc := *s.Scylla
			sc.Password = mask(sc.Password)
			s.Scylla = &sc
		}
		m.Stores[name] = s
	}
	return m
}
