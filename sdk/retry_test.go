package sdk_test

import (
	"context"
	"errors"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	featurev1 "github.com/ofstack/ofs/proto/ofs/feature/v1"
	"github.com/ofstack/ofs/sdk"
)

// stub is a feature service that answers Retrieve with a fixed error (or an
// empty answer) and records the authorization metadata.
type stub struct {
	featurev1.UnimplementedFeatureServiceServer
	err  error
	auth atomic.Value
}

func (s *stub) Retrieve(ctx context.Context, _ *featurev1.RetrieveRequest) (*featurev1.RetrieveResponse, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	s.auth.Store(md.Get("authorization"))
	if s.err != nil {
		return nil, s.err
	}
	return &featurev1.RetrieveResponse{}, nil
}

// serveStub serves s (or as, given) on l until the test ends.
func serveStub(t *testing.T, l net.Listener, s *stub, as ...featurev1.FeatureServiceServer) {
	t.Helper()
	srv := grpc.NewServer()
	if len(as) > 0 {
		featurev1.RegisterFeatureServiceServer(srv, as[0])
	} else {
		featurev1.RegisterFeatureServiceServer(srv, s)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(l) }()
	t.Cleanup(func() {
		srv.Stop()
		if err := <-done; err != nil && !errors.Is(err, grpc.ErrServerStopped) {
			t.Errorf("stub server: %v", err)
		}
	})
}

// counting returns a per-attempt interceptor that counts the attempts and
// their codes.
func counting(attempts *atomic.Int64, onAttempt func(n int64)) sdk.Option {
	return sdk.WithDialOptions(grpc.WithChainUnaryInterceptor(
		func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
			n := attempts.Add(1)
			if onAttempt != nil {
				onAttempt(n)
			}
			return invoker(ctx, method, req, reply, cc, opts...)
		}))
}

func TestRetriesUnavailableUntilTheServerIsUp(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	if err := l.Close(); err != nil { // nothing listens until the second attempt
		t.Fatal(err)
	}
	var attempts atomic.Int64
	up := make(chan error, 1)
	c, err := sdk.Dial(addr,
		sdk.WithRetry(sdk.Retry{MaxAttempts: 100, Base: 10 * time.Millisecond, Max: 100 * time.Millisecond}),
		counting(&attempts, func(n int64) {
			if n == 2 { // the first attempt has failed: bring the server up
				l, err := net.Listen("tcp", addr)
				if err == nil {
					serveStub(t, l, &stub{})
				}
				up <- err
			}
		}))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, err = c.Retrieve(ctx, sdk.RetrieveRequest{Entity: "user", Keys: [][]string{{"1"}}})
	if lerr := <-up; lerr != nil {
		t.Fatalf("listen again on %s: %v", addr, lerr)
	}
	if err != nil {
		t.Fatalf("Retrieve after the server came up: %v (after %d attempts)", err, attempts.Load())
	}
	if n := attempts.Load(); n < 2 {
		t.Fatalf("%d attempts, want a failed one and a retry", n)
	}
}

func TestRetriesStopAtTheDeadline(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	serveStub(t, l, &stub{err: status.Error(codes.Unavailable, "store down")})
	var attempts atomic.Int64
	c, err := sdk.Dial(l.Addr().String(),
		sdk.WithRetry(sdk.Retry{MaxAttempts: 1 << 30, Base: time.Millisecond, Max: 5 * time.Millisecond}),
		counting(&attempts, nil))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	_, err = c.Retrieve(ctx, sdk.RetrieveRequest{Entity: "user", Keys: [][]string{{"1"}}})
	if code := status.Code(err); code != codes.Unavailable && code != codes.DeadlineExceeded {
		t.Fatalf("Retrieve: %v, want the server's Unavailable or the deadline", err)
	}
	if n := attempts.Load(); n < 2 {
		t.Fatalf("%d attempts, want retries until the deadline", n)
	}
}

func TestNoRetryOnInvalidArgument(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &stub{err: status.Error(codes.InvalidArgument, "no such entity")}
	serveStub(t, l, s)
	var attempts atomic.Int64
	c, err := sdk.Dial(l.Addr().String(), sdk.WithToken("s3cret"), counting(&attempts, nil))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, err = c.Retrieve(context.Background(), sdk.RetrieveRequest{Entity: "nope", Keys: [][]string{{"1"}}})
	if status.Code(err) != codes.InvalidArgument {
		t.Fatalf("Retrieve: %v, want InvalidArgument", err)
	}
	if n := attempts.Load(); n != 1 {
		t.Fatalf("%d attempts for InvalidArgument, want 1", n)
	}
	if got, _ := s.auth.Load().([]string); len(got) != 1 || got[0] != "Bearer s3cret" {
		t.Fatalf("authorization metadata %q, want [Bearer s3cret]", got)
	}
}

func TestDialRejectsBadOptions(t *testing.T) {
	for _, o := range []sdk.Option{
		sdk.WithRetry(sdk.Retry{MaxAttempts: 0, Base: time.Millisecond, Max: time.Second}),
		sdk.WithRetry(sdk.Retry{MaxAttempts: 3, Base: time.Second, Max: time.Millisecond}),
		sdk.WithDeadline(-time.Second),
	} {
		if _, err := sdk.Dial("127.0.0.1:1", o); !errors.Is(err, sdk.ErrInvalidOption) {
			t.Errorf("Dial: %v, want ErrInvalidOption", err)
		}
	}
}
