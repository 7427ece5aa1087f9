package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"

	"github.com/ofstack/ofs/internal/tlsconf"
	registryv1 "github.com/ofstack/ofs/proto/ofs/registry/v1"
)

// dialFlags are the flags of the subcommands that call a running server:
// where it is, how long to wait, the bearer token, and TLS.
type dialFlags struct {
	addr       string
	timeout    time.Duration
	token      string
	tls        bool
	tlsFiles   tlsconf.Files
	serverName string
}

func (d *dialFlags) register(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&d.addr, "addr", envOr("OFS_GRPC_ADDR", "127.0.0.1:7070"), "address of an ofs server (env OFS_GRPC_ADDR)")
	f.DurationVar(&d.timeout, "timeout", time.Minute, "deadline of the whole call")
	f.StringVar(&d.token, "token", "", "bearer token, sent as \"authorization: Bearer\" (env OFS_TOKEN)")
	f.BoolVar(&d.tls, "tls", os.Getenv("OFS_GRPC_TLS") == "1", "connect with TLS, verifying the server against the system's roots (env OFS_GRPC_TLS=1)")
	f.StringVar(&d.tlsFiles.CAFile, "tls-ca", os.Getenv("OFS_GRPC_TLS_CA"), "connect with TLS, verifying the server against this CA file (env OFS_GRPC_TLS_CA)")
	f.StringVar(&d.tlsFiles.CertFile, "tls-cert", os.Getenv("OFS_GRPC_TLS_CERT"), "client certificate for mutual TLS (env OFS_GRPC_TLS_CERT)")
	f.StringVar(&d.tlsFiles.KeyFile, "tls-key", os.Getenv("OFS_GRPC_TLS_KEY"), "key of the client certificate (env OFS_GRPC_TLS_KEY)")
	f.StringVar(&d.serverName, "tls-server-name", "", "the name the server's certificate must carry (default: the host of --addr)")
}

// dial connects to the server: plain text unless a TLS flag is given.
func (d *dialFlags) dial() (*grpc.ClientConn, error) {
	creds := insecure.NewCredentials()
	if d.tls || d.tlsFiles.Enabled() || d.serverName != "" {
		cfg, err := tlsconf.Client(d.tlsFiles, d.serverName)
		if err != nil {
			return nil, err
		}
		creds = credentials.NewTLS(cfg)
	}
	conn, err := grpc.NewClient(d.addr, grpc.WithTransportCredentials(creds))
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", d.addr, err)
	}
	return conn, nil
}

// context bounds ctx by --timeout and adds the token.
func (d *dialFlags) context(ctx context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithTimeout(ctx, d.timeout)
	token := d.token
	if token == "" {
		token = os.Getenv("OFS_TOKEN")
	}
	if token != "" {
		ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+token)
	}
	return ctx, cancel
}

// registry calls f with a RegistryService client of the server and a context
// bounded by --timeout.
func (d *dialFlags) registry(ctx context.Context, f func(context.Context, registryv1.RegistryServiceClient) error) error {
	conn, err := d.dial()
	if err != nil {
		return err
	}
	defer conn.Close()
	ctx, cancel := d.context(ctx)
	defer cancel()
	return f(ctx, registryv1.NewRegistryServiceClient(conn))
}
