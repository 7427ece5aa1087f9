package node

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

// Peers returns the feature server's membership among its peers (it
// listens on listen), and a function that closes what it opened.
func (rt *Node) Peers(listen net.Addr, cache feature.Invalidator) (*feature.Peers, func(), error) {
	pc := rt.Cfg.Persist
	id, addr, err := pc.Identity(listen)
	if err != nil {
		return nil, nil, err
	}
	kc, err := sarama.NewClient(rt.Cfg.Kafka.Brokers, rt.Sarama("ofs-serve-offsets"))
	if err != nil {
		return nil, nil, fmt.Errorf("kafka client: %w", err)
	}
	topic := string(rt.Names.Invalidations)
	watermark := func() (int64, error) { return kc.GetOffset(topic, 0, sarama.OffsetNewest) }
	creds := insecure.NewCredentials()
	if rt.Cfg.GRPC.TLS.Enabled() {
		tcfg, err := tlsconf.Client(rt.Cfg.GRPC.TLS, "")
		if err != nil {
			_ = kc.Close() // the error says more
			return nil, nil, fmt.Errorf("grpc.tls, as a client of the peers: %w", err)
		}
		creds = credentials.NewTLS(tcfg)
	}
	dial := []grpc.DialOption{grpc.WithTransportCredentials(creds)}
	if len(rt.Cfg.Auth.WriterTokens) > 0 {
		dial = append(dial, grpc.WithPerRPCCredentials(peerToken{token: rt.Cfg.Auth.WriterTokens[0], secure: rt.Cfg.GRPC.TLS.Enabled()}))
	}
	p, err := feature.NewPeers(rt.Etcd, "/"+rt.Cfg.Prefix, id, addr, cache, watermark,
		feature.PeerLease(pc.LeaseTTL), feature.PeerTrust(pc.Trust, pc.Check), feature.PeerAckTimeout(pc.AckTimeout),
		feature.PeerDialOptions(dial...), feature.PeerLogger(rt.Log.With("server", "peers")),
		feature.PeerRegisterer(rt.Metrics))
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
