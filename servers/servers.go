// Package servers holds what every gRPC server of ofs shares: the server
// options (health, reflection, panics turned into errors, message sizes) and
// the one mapping from package errors to gRPC status codes.
package servers

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/reflection"
	"google.golang.org/grpc/status"
)

// MaxMessageBytes bounds a request or response (a Retrieve of thousands of
// keys, a registry of thousands of groups).
const MaxMessageBytes = 64 << 20

// NewGRPC returns a gRPC server with health checking and reflection
// registered, and a recovery interceptor that turns a handler's panic into an
// Internal error (logged with its stack) instead of a crashed process. The
// returned health server starts NOT_SERVING for service ""; the caller sets
// SERVING once its views have caught up.
func NewGRPC(log *slog.Logger, opts ...grpc.ServerOption) (*grpc.Server, *health.Server) {
	opts = append([]grpc.ServerOption{
		grpc.MaxRecvMsgSize(MaxMessageBytes),
		grpc.MaxSendMsgSize(MaxMessageBytes),
		grpc.ChainUnaryInterceptor(recoverUnary(log)),
		grpc.ChainStreamInterceptor(recoverStream(log)),
	}, opts...)
	s := grpc.NewServer(opts...)
	h := health.NewServer()
	h.SetServingStatus("", healthpb.HealthCheckResponse_NOT_SERVING)
	healthpb.RegisterHealthServer(s, h)
	reflection.Register(s)
	return s, h
}

func recoverUnary(log *slog.Logger) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, next grpc.UnaryHandler) (resp any, err error) {
		defer func() {
			if r := recover(); r != nil {
				log.Error("handler panicked", "method", info.FullMethod, "panic", r, "stack", string(debug.Stack()))
				err = status.Errorf(codes.Internal, "internal error in %s", info.FullMethod)
			}
		}()
		return next(ctx, req)
	}
}

func recoverStream(log *slog.Logger) grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, next grpc.StreamHandler) (err error) {
		defer func() {
			if r := recover(); r != nil {
				log.Error("handler panicked", "method", info.FullMethod, "panic", r, "stack", string(debug.Stack()))
				err = status.Errorf(codes.Internal, "internal error in %s", info.FullMethod)
			}
		}()
		return next(srv, ss)
	}
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
// passes through, and anything else is Internal.
func Status(err error) error {
	if err == nil {
		return nil
	}
	var c *Coded
	switch {
	case errors.As(err, &c):
		return status.Error(c.Code, err.Error())
	case errors.Is(err, context.DeadlineExceeded):
		return status.Error(codes.DeadlineExceeded, err.Error())
	case errors.Is(err, context.Canceled):
		return status.Error(codes.Canceled, err.Error())
	}
	if s, ok := status.FromError(err); ok {
		return s.Err()
	}
	return status.Error(codes.Internal, err.Error())
}
