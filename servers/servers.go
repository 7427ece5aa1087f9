// Package servers holds what every gRPC server of ofs shares: the server
// options (health, reflection, panics turned into errors, message sizes) and
// the one mapping from package errors to gRPC status codes.
package servers

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"runtime/debug"

	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/recovery"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/reflection"
	"google.golang.org/grpc/status"
)

// MaxMessageBytes is the default bound of a request (the server's
// MaxRecvMsgSize, sized for a Persist) and of an answer. RecvLimits bounds
// the requests of a method below it.
const MaxMessageBytes = 64 << 20

// streamWorkers is how many goroutines serve requests and are kept for the
// next one. A request on a fresh goroutine grows its stack from 8 KiB on
// every call (runtime.newstack was 7.5% of the server's CPU from the L1 in
// the profile of docs/benchmarks.md); a kept worker has grown it already.
// When every worker is busy gRPC starts a goroutine as it does without
// them, so the number bounds nothing.
const streamWorkers = 64

// NewGRPC returns a gRPC server with health checking and reflection
// registered, and a recovery interceptor (go-grpc-middleware's) that turns
// a handler's panic into an Internal error (logged with its stack) instead
// of a crashed process. Its codec marshals the messages of RegisterAppend
// with their AppendFuncs. The returned health server starts NOT_SERVING for
// service ""; the caller sets SERVING once its views have caught up. A
// grpc.MaxRecvMsgSize in opts replaces the default MaxMessageBytes.
func NewGRPC(log *slog.Logger, opts ...grpc.ServerOption) (*grpc.Server, *health.Server) {
	rec := recovery.WithRecoveryHandlerContext(func(ctx context.Context, p any) error {
		method, _ := grpc.Method(ctx)
		log.Error("handler panicked", "method", method, "panic", p, "stack", string(debug.Stack()))
		return status.Errorf(codes.Internal, "internal error in %s", method)
	})
	opts = append([]grpc.ServerOption{
		grpc.MaxRecvMsgSize(MaxMessageBytes),
		grpc.MaxSendMsgSize(MaxMessageBytes),
		grpc.NumStreamWorkers(streamWorkers), // marked experimental in grpc-go
		grpc.ForceServerCodecV2(newServerCodec()),
		grpc.ChainUnaryInterceptor(recovery.UnaryServerInterceptor(rec)),
		grpc.ChainStreamInterceptor(recovery.StreamServerInterceptor(rec)),
	}, opts...)
	s := grpc.NewServer(opts...)
	h := health.NewServer()
	h.SetServingStatus("", healthpb.HealthCheckResponse_NOT_SERVING)
	healthpb.RegisterHealthServer(s, h)
	reflection.Register(s)
	return s, h
}

// Coded is an error that knows its gRPC code; packages wrap their sentinel
// errors in it through Code.
type Coded struct {
	Code codes.Code
	Err  error
}

func (c *Coded) Error() string { return c.Err.Error() }
func (c *Coded) Unwrap() error { return c.Err }

// Code marks err with a gRPC code for Status.
func Code(code codes.Code, err error) error { return &Coded{Code: code, Err: err} }

// Errorf is Code with a formatted message.
func Errorf(code codes.Code, format string, args ...any) error {
	return &Coded{Code: code, Err: fmt.Errorf(format, args...)}
}

// Status turns err into the gRPC status a client sees: a Coded error keeps
// its code, context errors become Canceled or DeadlineExceeded, a status
// passes through, and anything else is Internal. The message is cut to
// MaxStatusMessage bytes.
func Status(err error) error {
	if err == nil {
		return nil
	}
	var c *Coded
	code := codes.Internal
	switch {
	case errors.As(err, &c):
		code = c.Code
	case errors.Is(err, context.DeadlineExceeded):
		code = codes.DeadlineExceeded
	case errors.Is(err, context.Canceled):
		code = codes.Canceled
	default:
		if s, ok := status.FromError(err); ok {
			if len(s.Message()) <= MaxStatusMessage {
				return s.Err()
			}
			code = s.Code()
			err = errors.New(s.Message())
		}
	}
	return status.Error(code, clipMessage(err.Error(), MaxStatusMessage))
}

// Loopback reports whether addr (host:port) listens on loopback only:
// "localhost" or a loopback IP. Servers that refuse to run open beyond the
// machine (the gRPC server, pprof, the console) ask it.
func Loopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
