package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(*Config)
		want string // "" when valid
	}{
		{"default", func(*Config) {}, ""},
		{"no brokers", func(c *Config) { c.Kafka.Brokers = nil }, "kafka.brokers is empty"},
		{"exposed", func(c *Config) { c.GRPC.Addr = "0.0.0.0:7070" }, "is not loopback"},
		{"exposed, insecure", func(c *Config) { c.GRPC.Addr, c.GRPC.Insecure = "0.0.0.0:7070", true }, ""},
		{"pprof off loopback", func(c *Config) { c.Metrics.PprofAddr = "0.0.0.0:6060" }, "pprof_addr"},
		{"answer over the limit", func(c *Config) { c.Limits.RetrieveMaxAnswerBytes = c.Limits.MaxRequestBytes + 1 }, "retrieve_max_answer_bytes"},
		{"store timeout over timeout", func(c *Config) { c.Persist.StoreTimeout = c.Persist.Timeout + 1 }, "persist: timeout"},
		{"log format", func(c *Config) { c.Log.Format = "xml" }, "log.format"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := Default()
			tc.edit(&c)
			err := c.Validate()
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("Validate: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("Validate: %v, want an error naming %q", err, tc.want)
			}
		})
	}
}

func TestLoad(t *testing.T) {
	file := filepath.Join(t.TempDir(), "ofs.yaml")
	if err := os.WriteFile(file, []byte("prefix: fromfile\nkafka:\n  brokers: [a:1]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("OFS_KAFKA_BROKERS", "b:1, c:1")
	t.Setenv("OFS_PREFIX", "")
	c, err := Load(file, Flags{LogLevel: "debug"})
	if err != nil {
		t.Fatal(err)
	}
	if c.Prefix != "fromfile" || strings.Join(c.Kafka.Brokers, ",") != "b:1,c:1" || c.Log.Level != "debug" {
		t.Fatalf("got prefix %q, brokers %v, level %q", c.Prefix, c.Kafka.Brokers, c.Log.Level)
	}
	if err := os.WriteFile(file, []byte("unknown_field: 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(file, Flags{}); err == nil || !strings.HasPrefix(err.Error(), "config "+file) {
		t.Fatalf("Load of an unknown field: %v", err)
	}
}
