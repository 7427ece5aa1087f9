package feature

import (
	"context"
	"slices"
	"sync"

	"google.golang.org/grpc"

	featurev1 "github.com/ofstack/ofs/proto/ofs/feature/v1"
)

// Register registers srv as the FeatureService of s, a server of
// servers.NewGRPC, as featurev1.RegisterFeatureServiceServer does, but with
// a Retrieve handler that decodes into pooled requests: a request of 100
// keys is a copy of its wire bytes and a slice of 100 key strings over
// them, about 3 KB that every call allocated and the garbage collector
// then found among the L1's rows. The request is the call's only: it goes
// back to the pool when the handler returns, and nothing the call leaves
// behind refers to it (the answer holds no key, the tiers copy the keys
// they keep, and a store read that outlives the call has its own copy).
func Register(s grpc.ServiceRegistrar, srv *Server) {
	desc := featurev1.FeatureService_ServiceDesc // a copy: the generated one stays as it is
	desc.Methods = slices.Clone(desc.Methods)
	for i := range desc.Methods {
		if desc.Methods[i].MethodName == "Retrieve" {
			desc.Methods[i].Handler = retrieveHandler
		}
	}
	s.RegisterService(&desc, srv)
}

// retrieveCall is a pooled Retrieve request with the bytes its key values
// point into.
type retrieveCall struct {
	req  featurev1.RetrieveRequest
	wire []byte
}

var retrieveCalls = sync.Pool{New: func() any { return new(retrieveCall) }}

// maxPooledWire bounds the requests kept for reuse: an unusually large one
// is left to the garbage collector.
const maxPooledWire = 1 << 20

// WireBuffer gives the codec n bytes to copy the request into
// (servers.Pooled).
func (c *retrieveCall) WireBuffer(n int) []byte {
	if cap(c.wire) < n {
		c.wire = make([]byte, n)
	}
	c.wire = c.wire[:n]
	return c.wire
}

// done puts c back in the pool, keeping its buffers' capacity.
func (c *retrieveCall) done() {
	if cap(c.wire) > maxPooledWire {
		return
	}
	kv := c.req.KeyValues[:0]
	c.req.Reset()
	c.req.KeyValues = kv
	retrieveCalls.Put(c)
}

// retrieveHandler is the generated handler of Retrieve with a pooled
// request.
//
//nolint:revive // the argument order is grpc.MethodHandler's
func retrieveHandler(srv any, ctx context.Context, dec func(any) error, interceptor grpc.UnaryServerInterceptor) (any, error) {
	c := retrieveCalls.Get().(*retrieveCall)
	defer c.done()
	if err := dec(c); err != nil {
		return nil, err
	}
	s := srv.(*Server)
	if interceptor == nil {
		return s.Retrieve(ctx, &c.req)
	}
	info := &grpc.UnaryServerInfo{Server: srv, FullMethod: featurev1.FeatureService_Retrieve_FullMethodName}
	return interceptor(ctx, &c.req, info, func(ctx context.Context, req any) (any, error) {
		return s.Retrieve(ctx, req.(*featurev1.RetrieveRequest))
	})
}

// Message is the request c holds (servers.Pooled).
func (c *retrieveCall) Message() any { return &c.req }
