package servers

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	reflectionv1 "google.golang.org/grpc/reflection/grpc_reflection_v1"
	reflectionv1alpha "google.golang.org/grpc/reflection/grpc_reflection_v1alpha"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/tap"
)

// ErrUnlisted is returned by CheckRoles for a registered method that names
// no role.
var ErrUnlisted = errors.New("servers: method without a role")

// Role is who may call a method.
type Role uint8

// The roles, from the most open.
const (
	// Unlisted is the zero Role: nobody may call the method.
	Unlisted Role = iota
	// Open methods need no token: health checks and reflection.
	Open
	// Reader methods need a reader or a writer token.
	Reader
	// Writer methods need a writer token.
	Writer
)

func (r Role) String() string {
	switch r {
	case Open:
		return "open"
	case Reader:
		return "reader"
	case Writer:
		return "writer"
	}
	return "unlisted"
}

// Roles is the allow-list of a server: the role of each full method name,
// e.g. "/ofs.feature.v1.FeatureService/Persist". A method not in it is
// denied to every caller, so that a new RPC is callable only once it says
// who may call it.
type Roles map[string]Role

// StandardRoles are the roles of the services NewGRPC registers: health
// checking and reflection, open to all.
func StandardRoles() Roles {
	r := Roles{}
	for _, d := range []grpc.ServiceDesc{healthpb.Health_ServiceDesc, reflectionv1.ServerReflection_ServiceDesc,
		reflectionv1alpha.ServerReflection_ServiceDesc} {
		for _, m := range d.Methods {
			r["/"+d.ServiceName+"/"+m.MethodName] = Open
		}
		for _, s := range d.Streams {
			r["/"+d.ServiceName+"/"+s.StreamName] = Open
		}
	}
	return r
}

// With returns the union of r and others (a later role wins).
func (r Roles) With(others ...Roles) Roles {
	out := Roles{}
	for _, m := range append([]Roles{r}, others...) {
		for k, v := range m {
			out[k] = v
		}
	}
	return out
}

// CheckRoles reports every method registered on s that has no role in
// roles: a server must not start with an RPC nobody can call, or that
// nobody decided the role of.
func CheckRoles(s *grpc.Server, roles Roles) error {
	var missing []string
	for svc, info := range s.GetServiceInfo() {
		for _, m := range info.Methods {
			full := "/" + svc + "/" + m.Name
			if roles[full] == Unlisted {
				missing = append(missing, full)
			}
		}
	}
	if len(missing) > 0 {
		slices.Sort(missing)
		return fmt.Errorf("%w: %s", ErrUnlisted, strings.Join(missing, ", "))
	}
	return nil
}

// Tokens are the bearer tokens a server accepts. A reader token may call
// Reader methods; a writer token Reader and Writer methods. With no tokens
// at all, authentication is off (a server on loopback) and only the
// allow-list applies.
type Tokens struct {
	Readers []string
	Writers []string
}

// Enabled reports whether any token is set.
func (t Tokens) Enabled() bool { return len(t.Readers)+len(t.Writers) > 0 }

// Auth checks every call against an allow-list and the tokens. It runs as
// the transport's tap: before gRPC reads the request message, so that an
// unauthenticated caller costs the server a header parse, not the decoding
// of a message of up to the receive limit.
type Auth struct {
	tokens Tokens
	roles  Roles
	denied *prometheus.CounterVec
}

// NewAuth returns the checks of tokens and roles; its denials are counted
// on reg (nil: not counted) as ofs_grpc_denied_total{reason}.
func NewAuth(tokens Tokens, roles Roles, reg prometheus.Registerer) *Auth {
	a := &Auth{tokens: tokens, roles: roles, denied: prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "ofs_grpc_denied_total",
		Help: "gRPC calls refused before their message was read, by reason (unauthenticated, permission, unlisted).",
	}, []string{"reason"})}
	if reg != nil {
		reg.MustRegister(a.denied)
	}
	return a
}

// Options returns the server option that enforces a: a grpc.InTapHandle
// (a server has one tap).
func (a *Auth) Options() []grpc.ServerOption {
	return []grpc.ServerOption{grpc.InTapHandle(a.tap)}
}

func (a *Auth) tap(ctx context.Context, info *tap.Info) (context.Context, error) {
	if err := a.check(info.FullMethodName, info.Header); err != nil {
		return ctx, err
	}
	return ctx, nil
}

// check decides a call of method with the request headers md.
func (a *Auth) check(method string, md metadata.MD) error {
	role := a.roles[method]
	switch {
	case role == Unlisted:
		a.denied.WithLabelValues("unlisted").Inc()
		return status.Errorf(codes.PermissionDenied, "method %s is not in the server's allow-list", clipMessage(method, 200))
	case role == Open || !a.tokens.Enabled():
		return nil
	}
	token := bearer(md)
	if token == "" {
		a.denied.WithLabelValues("unauthenticated").Inc()
		return status.Error(codes.Unauthenticated, "a bearer token is required (metadata authorization: Bearer <token>)")
	}
	if match(token, a.tokens.Writers) {
		return nil
	}
	if !match(token, a.tokens.Readers) {
		a.denied.WithLabelValues("unauthenticated").Inc()
		return status.Error(codes.Unauthenticated, "unknown token")
	}
	if role == Writer {
		a.denied.WithLabelValues("permission").Inc()
		return status.Errorf(codes.PermissionDenied, "%s needs a writer token", method)
	}
	return nil
}

func bearer(md metadata.MD) string {
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
