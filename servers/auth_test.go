package servers

import (
	"context"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

func TestTokens(t *testing.T) {
	tok := Tokens{Readers: []string{"r1"}, Writers: []string{"w1"}, Writing: []string{"/svc/Write"}}
	ctx := func(token string) context.Context {
		if token == "" {
			return context.Background()
		}
		return metadata.NewIncomingContext(context.Background(), metadata.Pairs("authorization", "Bearer "+token))
	}
	for _, tc := range []struct {
		token, method string
		want          codes.Code
	}{
		{"", "/svc/Read", codes.Unauthenticated},
		{"nope", "/svc/Read", codes.Unauthenticated},
		{"r1", "/svc/Read", codes.OK},
		{"r1", "/svc/Write", codes.PermissionDenied},
		{"w1", "/svc/Write", codes.OK},
		{"w1", "/svc/Read", codes.OK},
		{"", "/grpc.health.v1.Health/Check", codes.OK},
		{"", "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo", codes.OK},
	} {
		if got := status.Code(tok.check(ctx(tc.token), tc.method)); got != tc.want {
			t.Errorf("token %q calling %s: %v, want %v", tc.token, tc.method, got, tc.want)
		}
	}
	if (Tokens{}).Options() != nil {
		t.Error("no tokens should mean no interceptors")
	}
}
