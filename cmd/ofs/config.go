package main

import (
	"os"

	"github.com/spf13/cobra"

	"github.com/ofstack/ofs/internal/config"
	"github.com/ofstack/ofs/internal/node"
)

// configFlags binds the configuration (internal/config) to a command's
// flags. Load must be called in the command's RunE.
type configFlags struct {
	file  string
	flags config.Flags
}

func (f *configFlags) register(cmd *cobra.Command, withGRPC bool) {
	fl := cmd.Flags()
	fl.StringVarP(&f.file, "config", "c", os.Getenv("OFS_CONFIG"), "configuration file (YAML; env OFS_CONFIG)")
	fl.StringVar(&f.flags.Brokers, "brokers", "", "comma-separated Kafka brokers (env OFS_KAFKA_BROKERS)")
	fl.StringVar(&f.flags.Endpoints, "etcd", "", "comma-separated etcd endpoints (env OFS_ETCD_ENDPOINTS)")
	fl.StringVar(&f.flags.Prefix, "prefix", "", "prefix of topics, groups and etcd keys (env OFS_PREFIX)")
	fl.StringVar(&f.flags.LogLevel, "log-level", "", "log level: debug, info, warn, error")
	fl.StringVar(&f.flags.MetricsAddr, "metrics-addr", "", "address of /metrics, /healthz and /readyz (env OFS_METRICS_ADDR)")
	if withGRPC {
		fl.StringVar(&f.flags.GRPCAddr, "grpc-addr", "", "gRPC listen address (env OFS_GRPC_ADDR)")
		fl.StringVar(&f.flags.ConsoleAddr, "console-addr", "", "address of the web console, off when empty (env OFS_CONSOLE_ADDR)")
	}
}

// runtime loads the configuration and opens what every long-running
// command shares (the etcd client, the topic names, the logger).
func (f *configFlags) runtime(g *globals) (*node.Node, error) {
	cfg, err := f.Load()
	if err != nil {
		return nil, err
	}
	return node.New(cfg, g.stderr)
}

// Load builds the configuration (defaults, file, environment, flags) and
// validates it; what is wrong is a usage error.
func (f *configFlags) Load() (*config.Config, error) {
	c, err := config.Load(f.file, f.flags)
	if err != nil {
		return nil, usageError{err}
	}
	return c, nil
}
