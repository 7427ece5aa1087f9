package sdk

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	featurev1 "github.com/ofstack/ofs/proto/ofs/feature/v1"
	registryv1 "github.com/ofstack/ofs/proto/ofs/registry/v1"
)

// ErrInvalidOption is returned by Dial and NewPublisher for an option whose
// value cannot work.
var ErrInvalidOption = errors.New("sdk: invalid option")

// Client calls the feature and registry services of one address over a
// single gRPC connection. It is safe for concurrent use.
type Client struct {
	conn     *grpc.ClientConn
	features featurev1.FeatureServiceClient
	registry registryv1.RegistryServiceClient
	cfg      *dialConfig
	layouts  *layouts // of the answers' columns, by request shape (Retrieve)
}

// Retry says how calls are tried again. A call is retried only when the
// server marks its error retryable (an ErrorInfo detail), or when the error
// did not come from the server's handler and is UNAVAILABLE (the
// connection) or DEADLINE_EXCEEDED of an attempt while the caller's
// deadline still runs. Each attempt gets an equal share of what is left of
// the deadline: with 5 attempts the first has a fifth, the last what is
// left. The n-th retry waits a random time between zero and
// min(Base*2^(n-1), Max) ("full jitter"), and never past the deadline.
type Retry struct {
	// MaxAttempts counts the first call; 1 turns retries off.
	MaxAttempts int
	Base        time.Duration
	Max         time.Duration
}

type dialConfig struct {
	token    string
	creds    credentials.TransportCredentials
	deadline time.Duration
	retry    Retry
	extra    []grpc.DialOption
}

// Option configures Dial.
type Option func(*dialConfig)

// WithToken sends "authorization: Bearer <token>" with every call.
func WithToken(token string) Option { return func(c *dialConfig) { c.token = token } }

// WithTLS uses TLS with the given configuration. Without it the connection is
// plain text, meant for a server on loopback or inside a trusted network.
func WithTLS(cfg *tls.Config) Option {
	return func(c *dialConfig) { c.creds = credentials.NewTLS(cfg) }
}

// WithDeadline sets the deadline given to a call whose context has none,
// retries included. The default is 10 seconds; 0 leaves such calls without
// a deadline.
func WithDeadline(d time.Duration) Option { return func(c *dialConfig) { c.deadline = d } }

// WithRetry replaces the retry policy. The default is 5 attempts, 50 ms
// base, 2 s cap.
func WithRetry(r Retry) Option { return func(c *dialConfig) { c.retry = r } }

// WithDialOptions passes further options to grpc.NewClient. Unary
// interceptors given here run once per attempt, inside the retries.
func WithDialOptions(opts ...grpc.DialOption) Option {
	return func(c *dialConfig) { c.extra = append(c.extra, opts...) }
}

// Dial returns a client of the feature and registry services at addr
// (host:port, or any gRPC target). Like grpc.NewClient it does not wait for
// the connection: the first call connects. Calls are spread round robin over
// every address the name resolves to: dial a Kubernetes headless Service
// (dns:///ofs-headless.features.svc:7070) to use every feature server; a
// name with one address behaves as a single connection.
func Dial(addr string, opts ...Option) (*Client, error) {
	cfg := dialConfig{
		creds:    insecure.NewCredentials(),
		deadline: 10 * time.Second,
		retry:    Retry{MaxAttempts: 5, Base: 50 * time.Millisecond, Max: 2 * time.Second},
	}
	for _, o := range opts {
		o(&cfg)
	}
	switch {
	case cfg.retry.MaxAttempts < 1:
		return nil, fmt.Errorf("%w: retry max attempts %d, want at least 1", ErrInvalidOption, cfg.retry.MaxAttempts)
	case cfg.retry.MaxAttempts > 1 && (cfg.retry.Base <= 0 || cfg.retry.Max < cfg.retry.Base):
		return nil, fmt.Errorf("%w: retry backoff base %s and max %s", ErrInvalidOption, cfg.retry.Base, cfg.retry.Max)
	case cfg.deadline < 0:
		return nil, fmt.Errorf("%w: negative deadline %s", ErrInvalidOption, cfg.deadline)
	}
	reconnect := backoff.DefaultConfig
	if cfg.retry.MaxAttempts > 1 {
		// Reconnect about as eagerly as the retries try, instead of gRPC's
		// default of a first wait of one second.
		reconnect.BaseDelay, reconnect.MaxDelay = cfg.retry.Base, cfg.retry.Max
	}
	dopts := []grpc.DialOption{
		grpc.WithTransportCredentials(cfg.creds),
		grpc.WithDefaultServiceConfig(`{"loadBalancingConfig": [{"round_robin": {}}]}`),
		grpc.WithConnectParams(grpc.ConnectParams{Backoff: reconnect, MinConnectTimeout: 5 * time.Second}),
		grpc.WithChainUnaryInterceptor(cfg.unary),
	}
	if cfg.token != "" {
		dopts = append(dopts, grpc.WithPerRPCCredentials(bearer{token: cfg.token, secure: cfg.creds.Info().SecurityProtocol == "tls"}))
	}
	conn, err := grpc.NewClient(addr, append(dopts, cfg.extra...)...)
	if err != nil {
		return nil, fmt.Errorf("sdk: dial %s: %w", addr, err)
	}
	return &Client{conn: conn, features: featurev1.NewFeatureServiceClient(conn), registry: registryv1.NewRegistryServiceClient(conn),
		cfg: &cfg, layouts: new(layouts)}, nil
}

// Close closes the connection; calls in flight fail.
func (c *Client) Close() error { return c.conn.Close() }

// unary applies the default deadline and the retries to every call but
// Persist, which Client.Persist retries itself.
func (c *dialConfig) unary(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn,
	invoker grpc.UnaryInvoker, opts ...grpc.CallOption,
) error {
	if method == featurev1.FeatureService_Persist_FullMethodName {
		return invoker(ctx, method, req, reply, cc, opts...)
	}
	return c.do(ctx, func(ctx context.Context) error { return invoker(ctx, method, req, reply, cc, opts...) }, nil)
}

// do calls call until it succeeds, fails in a way not worth retrying, or
// the attempts or the deadline run out; observe (may be nil) sees every
// attempt's error.
func (c *dialConfig) do(ctx context.Context, call func(context.Context) error, observe func(error)) error {
	if _, ok := ctx.Deadline(); !ok && c.deadline > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.deadline)
		defer cancel()
	}
	for attempt := 1; ; attempt++ {
		actx, cancel := ctx, context.CancelFunc(func() {})
		if d, ok := ctx.Deadline(); ok && attempt < c.retry.MaxAttempts {
			actx, cancel = context.WithTimeout(ctx, time.Until(d)/time.Duration(c.retry.MaxAttempts-attempt+1))
		}
		err := call(actx)
		cancel()
		if observe != nil {
			observe(err)
		}
		if err == nil || attempt >= c.retry.MaxAttempts || ctx.Err() != nil || !retryable(err) {
			return err
		}
		wait := c.retry.wait(attempt)
		if d, ok := ctx.Deadline(); ok && time.Until(d) <= wait {
			return err // the deadline would pass while waiting: the last error says more than DeadlineExceeded
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return err
		case <-t.C:
		}
	}
}

// errorInfo is the ErrorInfo detail of err, or nil.
func errorInfo(err error) *featurev1.ErrorInfo {
	st, ok := status.FromError(err)
	if !ok {
		return nil
	}
	for _, d := range st.Details() {
		if info, ok := d.(*featurev1.ErrorInfo); ok {
			return info
		}
	}
	return nil
}

// retryable reports whether a call that failed with err may succeed when
// sent again: the server says so, or the error is the connection's or an
// attempt's deadline (the caller's own deadline is checked apart).
func retryable(err error) bool {
	if info := errorInfo(err); info != nil {
		return info.GetRetryable()
	}
	switch status.Code(err) {
	case codes.Unavailable, codes.DeadlineExceeded:
		return true
	}
	return false
}

// wait is the full-jitter backoff before retry n (n >= 1).
func (r Retry) wait(n int) time.Duration {
	ceil := r.Base
	for i := 1; i < n && ceil < r.Max; i++ {
		ceil *= 2
	}
	return rand.N(min(ceil, r.Max) + 1) //nolint:gosec // jitter needs no cryptographic randomness
}

// bearer sends the token as call metadata.
type bearer struct {
	token  string
	secure bool
}

func (b bearer) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + b.token}, nil
}

// RequireTransportSecurity is false over plain text so that a token can be
// used on loopback; with WithTLS the token only travels encrypted.
func (b bearer) RequireTransportSecurity() bool { return b.secure }
