package servers

import (
	"context"
	"reflect"
	"sync"
	"sync/atomic"
	"unicode/utf8"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/status"
	protov2 "google.golang.org/protobuf/proto"
)

// MaxStatusMessage bounds the message of a status a server answers: a
// longer one is cut, so that no request (a 1 MB key) comes back whole in a
// trailer, which a client's header limit would turn into a connection
// error instead of the status.
const MaxStatusMessage = 512

// RecvLimit bounds the requests of one message type below the server's
// MaxRecvMsgSize: a Retrieve request may be smaller than a Persist. It is
// for the requests of unary methods, which the interceptor answers.
type RecvLimit struct {
	// Request is a message of the type bounded, e.g.
	// (*featurev1.RetrieveRequest)(nil).
	Request protov2.Message
	// Bytes is the largest encoded request.
	Bytes int
	// Name is the setting that sets Bytes, named in the answer
	// ("limits.retrieve_max_request_bytes").
	Name string
}

// RecvLimits returns the server options that enforce limits: a codec that
// does not decode a request over its type's limit, and an interceptor that
// answers it ResourceExhausted, naming the limit. gRPC reads a message
// whole (up to the server's MaxRecvMsgSize) before any interceptor can see
// it, and turns a codec error into Internal: the codec marks the request
// instead, and the interceptor, which receives the same request, answers
// for it. Without limits it returns nil.
func RecvLimits(limits ...RecvLimit) []grpc.ServerOption {
	if len(limits) == 0 {
		return nil
	}
	c := &limitCodec{base: newServerCodec(), limits: map[reflect.Type]RecvLimit{}}
	for _, l := range limits {
		c.limits[reflect.TypeOf(l.Request)] = l
	}
	return []grpc.ServerOption{
		grpc.ForceServerCodecV2(c),
		grpc.ChainUnaryInterceptor(c.unary),
	}
}

type limitCodec struct {
	base   encoding.CodecV2
	limits map[reflect.Type]RecvLimit
	// over holds the requests left undecoded, with their size, until the
	// interceptor answers them; pending counts them, so that the common
	// call does not look.
	over    sync.Map // any (the request) -> int
	pending atomic.Int64
}

func (c *limitCodec) Name() string { return c.base.Name() }

func (c *limitCodec) Marshal(v any) (mem.BufferSlice, error) { return c.base.Marshal(v) }

func (c *limitCodec) Unmarshal(data mem.BufferSlice, v any) error {
	m := message(v) // the request the interceptor will receive
	if l, ok := c.limits[reflect.TypeOf(m)]; ok && data.Len() > l.Bytes {
		c.over.Store(m, data.Len())
		c.pending.Add(1)
		return nil
	}
	return c.base.Unmarshal(data, v)
}

func (c *limitCodec) unary(ctx context.Context, req any, info *grpc.UnaryServerInfo, next grpc.UnaryHandler) (any, error) {
	if c.pending.Load() > 0 {
		if n, ok := c.over.LoadAndDelete(req); ok {
			c.pending.Add(-1)
			l := c.limits[reflect.TypeOf(req)]
			return nil, status.Errorf(codes.ResourceExhausted, "%s request of %d bytes, more than %d (%s)",
				info.FullMethod, n.(int), l.Bytes, l.Name)
		}
	}
	return next(ctx, req)
}

// clipMessage cuts s to at most n bytes, on a rune boundary, marking the cut.
func clipMessage(s string, n int) string {
	if len(s) <= n {
		return s
	}
	const more = "... (cut)"
	cut := n - len(more)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + more
}
