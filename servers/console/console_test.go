package console

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/IBM/sarama"
	"google.golang.org/grpc"

	registryv1 "github.com/ofstack/ofs/proto/ofs/registry/v1"
	"github.com/ofstack/ofs/schema"
	"github.com/ofstack/ofs/topics"
)

type noRegistry struct{}

func (noRegistry) GetRegistry(context.Context, *registryv1.GetRegistryRequest, ...grpc.CallOption) (*registryv1.GetRegistryResponse, error) {
	return &registryv1.GetRegistryResponse{}, nil
}

func (noRegistry) Apply(context.Context, *registryv1.ApplyRequest, ...grpc.CallOption) (*registryv1.ApplyResponse, error) {
	return nil, errors.New("not here")
}

func newTest(t *testing.T, addr string, opts ...Option) (*Server, error) {
	t.Helper()
	names, err := topics.For("ofs")
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(addr, schema.NewHolder(nil), noRegistry{}, []string{"127.0.0.1:1"}, sarama.NewConfig(), names, opts...)
	if err == nil {
		t.Cleanup(func() { s.lis.Close() })
	}
	return s, err
}

// TestNewRefusesUnprotected: off loopback, the console needs tokens or
// mutual TLS.
func TestNewRefusesUnprotected(t *testing.T) {
	for _, tc := range []struct {
		addr string
		opts []Option
		want error
	}{
		{"127.0.0.1:0", nil, nil},
		{"localhost:0", nil, nil},
		{"[::1]:0", nil, nil},
		{"0.0.0.0:0", nil, ErrUnprotected},
		{":0", nil, ErrUnprotected},
		{"0.0.0.0:0", []Option{WithTokens([]string{"r"}, []string{"w"})}, nil},
		{"0.0.0.0:0", []Option{WithTLS(nil, true)}, nil},
	} {
		_, err := newTest(t, tc.addr, tc.opts...)
		if !errors.Is(err, tc.want) {
			t.Errorf("New(%s, %d options): %v, want %v", tc.addr, len(tc.opts), err, tc.want)
		}
	}
}

// TestAuth: without a token every page sends to sign-in; a reader reads
// and plans but does not apply; the sign-in form sets the cookie; an
// unknown token is refused.
func TestAuth(t *testing.T) {
	s, err := newTest(t, "127.0.0.1:0", WithTokens([]string{"r"}, []string{"w"}))
	if err != nil {
		t.Fatal(err)
	}
	h := s.Handler()
	get := func(path, token string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodGet, path, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}
	for _, tc := range []struct {
		path, token string
		code        int
	}{
		{"/", "", http.StatusSeeOther},
		{"/groups/x", "nope", http.StatusSeeOther},
		{"/", "r", http.StatusOK},
		{"/history", "w", http.StatusOK},
		{"/groups/missing", "r", http.StatusNotFound},
		{"/static/console.css", "", http.StatusOK},
		{"/login", "", http.StatusOK},
	} {
		if rec := get(tc.path, tc.token); rec.Code != tc.code {
			t.Errorf("GET %s with %q: %d, want %d", tc.path, tc.token, rec.Code, tc.code)
		}
	}
	post := func(path, token, body string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}
	yaml := "action=apply&yaml=" + strings.ReplaceAll("stores: [{id: s, kind: redis, connection: c}]", " ", "+")
	if rec := post("/plan", "r", yaml); rec.Code != http.StatusForbidden || !strings.Contains(rec.Body.String(), "Applying needs a writer token") {
		t.Errorf("a reader's apply: %d\n%s", rec.Code, rec.Body.String())
	}
	if rec := post("/login", "", "token=w&next=/history"); rec.Code != http.StatusSeeOther ||
		rec.Header().Get("Location") != "/history" || !strings.Contains(rec.Header().Get("Set-Cookie"), tokenCookie+"=w") {
		t.Errorf("sign-in: %d %v", rec.Code, rec.Header())
	}
	if rec := post("/login", "", "token=bad&next=//evil.example"); rec.Code != http.StatusUnauthorized {
		t.Errorf("sign-in with a bad token: %d", rec.Code)
	}
	if got := safeNext("//evil.example/x"); got != "/" {
		t.Errorf("safeNext kept %q", got)
	}
}

func TestDiff(t *testing.T) {
	for _, tc := range []struct {
		a, b []string
		want string
	}{
		{nil, []string{"x"}, "[{+ x}]"},
		{[]string{"a", "b", "c"}, []string{"a", "c", "d"}, "[{  a} {- b} {  c} {+ d}]"},
		{[]string{"a"}, []string{"a"}, "[{  a}]"},
		{[]string{"a", "b"}, nil, "[{- a} {- b}]"},
	} {
		if got := fmt.Sprint(diff(tc.a, tc.b)); got != tc.want {
			t.Errorf("diff(%q, %q) = %s, want %s", tc.a, tc.b, got, tc.want)
		}
	}
}
