package main

import (
	"context"
	"fmt"
	"net"

	"github.com/IBM/sarama"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/ofstack/ofs/internal/tlsconf"
	"github.com/ofstack/ofs/servers/feature"
)

// newPeers returns the server's membership among the feature servers, and
// a function that closes what it opened.
func newPeers(rt *runtime, listen net.Addr, cache feature.Invalidator) (*feature.Peers, func(), error) {
	pc := rt.cfg.Persist
	id, addr, err := pc.Identity(listen)
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
