package main

import (
	"context"
	"fmt"
	"os"

	"google.golang.org/grpc"

	"github.com/ofstack/ofs/internal/node"
	"github.com/ofstack/ofs/internal/tlsconf"
	registryv1 "github.com/ofstack/ofs/proto/ofs/registry/v1"
	"github.com/ofstack/ofs/schema"
	"github.com/ofstack/ofs/servers/console"
	"github.com/ofstack/ofs/servers/feature"
	"github.com/ofstack/ofs/views"
)

// inProcessRegistry lets the console plan and apply through this process's
// RegistryService without a network hop; the console checks its tokens
// itself.
type inProcessRegistry struct {
	srv registryv1.RegistryServiceServer
}

func (r inProcessRegistry) GetRegistry(ctx context.Context, in *registryv1.GetRegistryRequest, _ ...grpc.CallOption) (*registryv1.GetRegistryResponse, error) {
	return r.srv.GetRegistry(ctx, in)
}

func (r inProcessRegistry) Apply(ctx context.Context, in *registryv1.ApplyRequest, _ ...grpc.CallOption) (*registryv1.ApplyResponse, error) {
	return r.srv.Apply(ctx, in)
}

// newConsole returns the web console of `ofs serve` (nil when it is off),
// reading through the same tiered readers as Retrieve.
func newConsole(rt *node.Node, holder *schema.Holder, reg registryv1.RegistryServiceServer,
	readers func(string) (feature.Reader, error),
) (*console.Server, error) {
	addr := rt.Cfg.Console.Addr
	if addr == "" || addr == "none" {
		return nil, nil
	}
	host, _ := os.Hostname()
	opts := []console.Option{
		console.WithLogger(rt.Log.With("server", "console")),
		console.WithTokens(rt.Cfg.Auth.ReaderTokens, rt.Cfg.Auth.WriterTokens),
		console.WithMetrics(rt.Metrics),
		console.WithActor("ofs-console@" + host),
		console.WithReaders(func(store string) (console.Locator, error) {
			r, err := readers(store)
			if err != nil {
				return nil, err
			}
			loc, ok := r.(*views.TieredReader)
			if !ok {
				return nil, fmt.Errorf("store %s: its reader cannot say which tier answered", store)
			}
			return loc, nil
		}),
	}
	if f := rt.Cfg.Console.TLS; f.Enabled() {
		tcfg, err := tlsconf.Server(f)
		if err != nil {
			return nil, fmt.Errorf("console.tls: %w", err)
		}
		opts = append(opts, console.WithTLS(tcfg, f.CAFile != ""))
	}
	return console.New(addr, holder, inProcessRegistry{reg}, rt.Cfg.Kafka.Brokers, rt.Sarama("ofs-console"), rt.Names, opts...)
}
