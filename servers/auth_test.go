package servers

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

func TestAuthCheck(t *testing.T) {
	roles := StandardRoles().With(Roles{"/svc/Read": Reader, "/svc/Write": Writer})
	a := NewAuth(Tokens{Readers: []string{"r1"}, Writers: []string{"w1"}}, roles, nil)
	off := NewAuth(Tokens{}, roles, nil)
	md := func(token string) metadata.MD {
		if token == "" {
			return metadata.MD{}
		}
		return metadata.Pairs("authorization", "Bearer "+token)
	}
	for _, tc := range []struct {
		a             *Auth
		token, method string
		want          codes.Code
	}{
		{a, "", "/svc/Read", codes.Unauthenticated},
		{a, "nope", "/svc/Read", codes.Unauthenticated},
		{a, "r1", "/svc/Read", codes.OK},
		{a, "r1", "/svc/Write", codes.PermissionDenied},
		{a, "w1", "/svc/Write", codes.OK},
		{a, "w1", "/svc/Read", codes.OK},
		{a, "", "/grpc.health.v1.Health/Check", codes.OK},
		{a, "", "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo", codes.OK},
		// The allow-list: an unlisted method is denied to every caller,
		// with or without tokens.
		{a, "w1", "/svc/NewWrite", codes.PermissionDenied},
		{a, "r1", "/svc/NewWrite", codes.PermissionDenied},
		{off, "", "/svc/NewWrite", codes.PermissionDenied},
		{off, "", "/svc/Write", codes.OK},
	} {
		if got := status.Code(tc.a.check(tc.method, md(tc.token))); got != tc.want {
			t.Errorf("token %q calling %s: %v, want %v", tc.token, tc.method, got, tc.want)
		}
	}
}

// serveTest starts a server with opts and returns a client connection.
func serveTest(t *testing.T, opts ...grpc.ServerOption) *grpc.ClientConn {
	t.Helper()
	return serveWith(t, nil, opts...)
}

// serveWith is serveTest with register called before the server starts.
func serveWith(t *testing.T, register func(*grpc.Server), opts ...grpc.ServerOption) *grpc.ClientConn {
	t.Helper()
	s, health := NewGRPC(slog.New(slog.NewTextHandler(io.Discard, nil)), opts...)
	if register != nil {
		register(s)
	}
	health.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = s.Serve(lis) }() // Stop ends it
	t.Cleanup(s.Stop)
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}

// TestAuthBeforeTheMessage: the tap refuses a call without reading its
// message (a request far over the receive limit is answered Unauthenticated,
// not ResourceExhausted), an unlisted method is denied on the wire, and the
// denials are counted.
func TestAuthBeforeTheMessage(t *testing.T) {
	reg := prometheus.NewRegistry()
	roles := Roles{"/grpc.health.v1.Health/Watch": Reader} // Check is left out
	a := NewAuth(Tokens{Readers: []string{"r1"}}, roles, reg)
	conn := serveTest(t, append(a.Options(), grpc.MaxRecvMsgSize(1024))...)
	h := healthpb.NewHealthClient(conn)
	big := &healthpb.HealthCheckRequest{Service: strings.Repeat("x", 1<<20)}
	ctx := context.Background()
	_, err := h.Check(ctx, big)
	if status.Code(err) != codes.PermissionDenied || !strings.Contains(status.Convert(err).Message(), "allow-list") {
		t.Fatalf("unlisted method: %v, want PermissionDenied naming the allow-list", err)
	}
	w, err := h.Watch(ctx, big)
	if err == nil {
		_, err = w.Recv()
	}
	if status.Code(err) != codes.Unauthenticated {
		t.Fatalf("no token, 1 MB request over a 1 KB limit: %v, want Unauthenticated", err)
	}
	if got := testutil.ToFloat64(a.denied.WithLabelValues("unlisted")); got != 1 {
		t.Errorf("unlisted denials counted %v, want 1", got)
	}
	if got := testutil.ToFloat64(a.denied.WithLabelValues("unauthenticated")); got != 1 {
		t.Errorf("unauthenticated denials counted %v, want 1", got)
	}
}

func TestCheckRoles(t *testing.T) {
	s, _ := NewGRPC(slog.New(slog.DiscardHandler))
	if err := CheckRoles(s, StandardRoles()); err != nil {
		t.Fatalf("the standard services: %v", err)
	}
	err := CheckRoles(s, Roles{"/grpc.health.v1.Health/Check": Open})
	if !errors.Is(err, ErrUnlisted) || !strings.Contains(err.Error(), "/grpc.health.v1.Health/List") {
		t.Fatalf("health's List without a role: %v", err)
	}
}

// TestRecvLimits: a request over its type's limit (below the server's
// receive limit) is ResourceExhausted naming the limit; the connection
// stays usable, and a request under it is served.
func TestRecvLimits(t *testing.T) {
	conn := serveTest(t, RecvLimits(RecvLimit{Request: (*healthpb.HealthCheckRequest)(nil), Bytes: 1000,
		Name: "limits.test_bytes"})...)
	h := healthpb.NewHealthClient(conn)
	ctx := context.Background()
	_, err := h.Check(ctx, &healthpb.HealthCheckRequest{Service: strings.Repeat("x", 5000)})
	msg := status.Convert(err).Message()
	if status.Code(err) != codes.ResourceExhausted || !strings.Contains(msg, "limits.test_bytes") || len(msg) > 200 {
		t.Fatalf("over the limit: %v, want a short ResourceExhausted naming the limit", err)
	}
	if _, err := h.Check(ctx, &healthpb.HealthCheckRequest{}); err != nil {
		t.Fatalf("under the limit, after: %v", err)
	}
	// Over the server's own limit (64 MiB by default) gRPC answers
	// ResourceExhausted itself.
	_, err = h.Check(ctx, &healthpb.HealthCheckRequest{Service: strings.Repeat("x", MaxMessageBytes+1)},
		grpc.MaxCallSendMsgSize(MaxMessageBytes+1<<10))
	if status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("over the server's receive limit: %v", err)
	}
}

// TestRecovery: a panicking handler answers Internal and the server goes on.
func TestRecovery(t *testing.T) {
	const method = "/test.Panic/Check"
	desc := grpc.ServiceDesc{ServiceName: "test.Panic", HandlerType: (*any)(nil), Methods: []grpc.MethodDesc{{
		MethodName: "Check",
		Handler: func(_ any, ctx context.Context, dec func(any) error, in grpc.UnaryServerInterceptor) (any, error) {
			req := new(healthpb.HealthCheckRequest)
			if err := dec(req); err != nil {
				return nil, err
			}
			return in(ctx, req, &grpc.UnaryServerInfo{FullMethod: method}, func(context.Context, any) (any, error) {
				panic("boom")
			})
		},
	}}}
	conn := serveWith(t, func(s *grpc.Server) { s.RegisterService(&desc, struct{}{}) })
	for range 2 {
		err := conn.Invoke(context.Background(), method, &healthpb.HealthCheckRequest{}, &healthpb.HealthCheckResponse{})
		if status.Code(err) != codes.Internal {
			t.Fatalf("panicking handler: %v, want Internal", err)
		}
	}
	if _, err := healthpb.NewHealthClient(conn).Check(context.Background(), &healthpb.HealthCheckRequest{}); err != nil {
		t.Fatalf("after the panics: %v", err)
	}
}

func TestStatusIsShort(t *testing.T) {
	long := strings.Repeat("é", 10000)
	for _, err := range []error{
		Errorf(codes.InvalidArgument, "key %s", long),
		errors.New(long),
		status.Error(codes.NotFound, long),
	} {
		s := status.Convert(Status(err))
		if len(s.Message()) > MaxStatusMessage || !strings.HasSuffix(s.Message(), "(cut)") {
			t.Errorf("%v: message of %d bytes: %.40q", s.Code(), len(s.Message()), s.Message())
		}
	}
	if got := status.Code(Status(Errorf(codes.InvalidArgument, "%s", long))); got != codes.InvalidArgument {
		t.Errorf("code %v after the cut", got)
	}
}
