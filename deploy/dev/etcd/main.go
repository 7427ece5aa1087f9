// Command etcd runs the embedded etcd server of internal/etcdserver in the
// foreground until SIGINT or SIGTERM. deploy/dev/etcd.sh builds and starts it,
// so development and tests need no etcd package.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/ofstack/ofs/internal/etcdserver"
)

func main() {
	var cfg etcdserver.Config
	flag.StringVar(&cfg.Dir, "data-dir", "", "data directory")
	flag.StringVar(&cfg.ClientAddr, "client-addr", "127.0.0.1:12379", "client listen address")
	flag.StringVar(&cfg.PeerAddr, "peer-addr", "127.0.0.1:12380", "peer listen address")
	flag.StringVar(&cfg.LogLevel, "log-level", "warn", "etcd log level")
	flag.Parse()
	if err := run(cfg); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func run(cfg etcdserver.Config) error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	srv, err := etcdserver.Start(cfg)
	if err != nil {
		return err
	}
	defer srv.Close()
	fmt.Printf("etcd serving on %s\n", srv.Endpoint())
	select {
	case <-ctx.Done():
		return nil
	case err := <-srv.Err():
		return err
	}
}
