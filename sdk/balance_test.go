package sdk_test

import (
	"context"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/resolver"
	"google.golang.org/grpc/resolver/manual"

	registryv1 "github.com/ofstack/ofs/proto/ofs/registry/v1"
	"github.com/ofstack/ofs/sdk"
)

// countingRegistry answers GetEntity and counts the calls it got.
type countingRegistry struct {
	registryv1.UnimplementedRegistryServiceServer
	calls atomic.Int64
}

func (c *countingRegistry) GetEntity(context.Context, *registryv1.GetEntityRequest) (*registryv1.GetEntityResponse, error) {
	c.calls.Add(1)
	return &registryv1.GetEntityResponse{Entity: &registryv1.Entity{Name: "user"}}, nil
}

// TestCallsAreSpreadOverServers: a name that resolves to two servers (as a
// headless Service does) gets calls on both, not on the first alone. The
// two servers are gRPC servers on loopback that count calls; the SDK's
// calls to real ofs servers are tested in sdk_test.go.
func TestCallsAreSpreadOverServers(t *testing.T) {
	addrs := make([]resolver.Address, 0, 2)
	regs := make([]*countingRegistry, 0, 2)
	for range 2 {
		lis, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		srv := grpc.NewServer()
		reg := &countingRegistry{}
		registryv1.RegisterRegistryServiceServer(srv, reg)
		go func() { _ = srv.Serve(lis) }()
		t.Cleanup(srv.Stop)
		addrs = append(addrs, resolver.Address{Addr: lis.Addr().String()})
		regs = append(regs, reg)
	}
	r := manual.NewBuilderWithScheme("ofs-test")
	r.InitialState(resolver.State{Addresses: addrs})
	c, err := sdk.Dial(r.Scheme()+":///features", sdk.WithDialOptions(grpc.WithResolvers(r)))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	call := func() {
		if _, err := c.Entity(context.Background(), "user"); err != nil {
			t.Fatal(err)
		}
	}
	// Round robin picks among the connections that are up: until the second
	// one is, every call goes to the first.
	deadline := time.Now().Add(10 * time.Second)
	for regs[0].calls.Load() == 0 || regs[1].calls.Load() == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("calls per server after 10 s: %d and %d, want both", regs[0].calls.Load(), regs[1].calls.Load())
		}
		call()
	}
	regs[0].calls.Store(0)
	regs[1].calls.Store(0)
	for range 100 {
		call()
	}
	a, b := regs[0].calls.Load(), regs[1].calls.Load()
	if a+b != 100 || a < 40 || b < 40 {
		t.Fatalf("calls per server: %d and %d, want both about 50", a, b)
	}
}
