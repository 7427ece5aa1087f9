package servers

import (
	"context"
	"crypto/subtle"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// Tokens are the bearer tokens a server accepts. A reader token may call
// every method but the writing ones; a writer token may call every method.
// With no tokens at all, authentication is off (a server on loopback).
type Tokens struct {
	Readers []string
	Writers []string
	// Writing lists the full method names that need a writer token, e.g.
	// "/ofs.feature.v1.FeatureService/Persist".
	Writing []string
}

func (t Tokens) enabled() bool { return len(t.Readers)+len(t.Writers) > 0 }

// Options returns the server options that enforce the tokens: a token in the
// "authorization: Bearer <token>" metadata, compared in constant time.
func (t Tokens) Options() []grpc.ServerOption {
	if !t.enabled() {
		return nil
	}
	return []grpc.ServerOption{
		grpc.ChainUnaryInterceptor(func(ctx context.Context, req any, info *grpc.UnaryServerInfo, next grpc.UnaryHandler) (any, error) {
			if err := t.check(ctx, info.FullMethod); err != nil {
				return nil, err
			}
			return next(ctx, req)
		}),
		grpc.ChainStreamInterceptor(func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, next grpc.StreamHandler) error {
			if err := t.check(ss.Context(), info.FullMethod); err != nil {
				return err
			}
			return next(srv, ss)
		}),
	}
}

// open are the methods anyone may call: health checks and reflection.
func open(method string) bool {
	return strings.HasPrefix(method, "/grpc.health.v1.") || strings.HasPrefix(method, "/grpc.reflection.")
}

func (t Tokens) check(ctx context.Context, method string) error {
	if open(method) {
		return nil
	}
	token := bearer(ctx)
	if token == "" {
		return status.Error(codes.Unauthenticated, "a bearer token is required (metadata authorization: Bearer <token>)")
	}
	if match(token, t.Writers) {
		return nil
	}
	if !match(token, t.Readers) {
		return status.Error(codes.Unauthenticated, "unknown token")
	}
	for _, w := range t.Writing {
		if w == method {
			return status.Errorf(codes.PermissionDenied, "%s needs a writer token", method)
		}
	}
	return nil
}

func bearer(ctx context.Context) string {
	md, _ := metadata.FromIncomingContext(ctx)
	for _, v := range md.Get("authorization") {
		if t, ok := strings.CutPrefix(v, "Bearer "); ok {
			return strings.TrimSpace(t)
		}
	}
	return ""
}

func match(token string, set []string) bool {
	found := 0
	for _, s := range set {
		found |= subtle.ConstantTimeCompare([]byte(token), []byte(s))
	}
	return found == 1
}
