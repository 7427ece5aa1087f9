package feature_test

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/ofstack/ofs/codec"
	featurev1 "github.com/ofstack/ofs/proto/ofs/feature/v1"
	"github.com/ofstack/ofs/schema"
	"github.com/ofstack/ofs/servers"
	"github.com/ofstack/ofs/servers/feature"
)

// serveGRPC serves srv over gRPC on loopback as `ofs serve` does: the
// allow-list and tokens in the tap, the Retrieve receive limit of 4 MiB
// under the server's 64 MiB; it returns a client and the health client.
func serveGRPC(t *testing.T, srv *feature.Server, tokens servers.Tokens) (featurev1.FeatureServiceClient, *grpc.ClientConn) {
	t.Helper()
	auth := servers.NewAuth(tokens, servers.StandardRoles().With(feature.Roles()), nil)
	opts := slices.Concat(auth.Options(), servers.RecvLimits(servers.RecvLimit{Request: (*featurev1.RetrieveRequest)(nil),
		Bytes: 4 << 20, Name: "limits.retrieve_max_request_bytes"}))
	gs, health := servers.NewGRPC(slog.New(slog.DiscardHandler), opts...)
	feature.Register(gs, srv)
	health.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = gs.Serve(lis) }() // Stop ends it
	t.Cleanup(gs.Stop)
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(64<<20)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return featurev1.NewFeatureServiceClient(conn), conn
}

// TestBadRequests: each bad input of issue 14, sent over gRPC, gets its
// code and a short message, and the server stays healthy and serving.
func TestBadRequests(t *testing.T) {
	f := setup(t)
	f.write(t, "dense", 1, []string{"1"}, now.Add(-time.Minute), time.Time{}, func(b *codec.Builder) {
		b.SetFloat32(0, 3)
		b.SetFloat32(1, 4)
	})
	reg := prometheus.NewRegistry()
	srv := feature.New(f.holder, func(string) (feature.Reader, error) { return f.store, nil },
		feature.WithClock(func() time.Time { return now }), feature.WithRegisterer(reg),
		feature.WithLimits(feature.Limits{MaxValues: 100_000, MaxAnswerBytes: 256 << 10}))
	client, conn := serveGRPC(t, srv, servers.Tokens{Readers: []string{"r"}})
	ctx := metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer r")
	dense := []*featurev1.GroupSelection{{FeatureGroup: "dense"}}
	many := func(n int) []*featurev1.EntityKey {
		out := make([]*featurev1.EntityKey, n)
		for i := range out {
			out[i] = &featurev1.EntityKey{Values: []string{fmt.Sprint(i)}}
		}
		return out
	}
	mb := strings.Repeat("7", 1<<20)
	dup := make([]string, 150_000)
	for i := range dup {
		dup[i] = "a"
	}
	for _, tc := range []struct {
		name string
		req  *featurev1.RetrieveRequest
		want codes.Code
		says string // in the message
	}{
		{"1 MB integer key", &featurev1.RetrieveRequest{Entity: "user", Keys: keys([]string{mb}), Groups: dense},
			codes.InvalidArgument, "not a int64"},
		{"20 MB request", &featurev1.RetrieveRequest{Entity: "user", Keys: keys([]string{strings.Repeat("7", 20<<20)}), Groups: dense},
			codes.ResourceExhausted, "limits.retrieve_max_request_bytes"},
		{"1 MB string key", &featurev1.RetrieveRequest{Entity: "user_item", Keys: keys([]string{"1", mb}),
			Groups: []*featurev1.GroupSelection{{FeatureGroup: "affinity"}}}, codes.InvalidArgument, "more than 1024"},
		{"empty string key", &featurev1.RetrieveRequest{Entity: "user_item", Keys: keys([]string{"1", ""}),
			Groups: []*featurev1.GroupSelection{{FeatureGroup: "affinity"}}}, codes.InvalidArgument, "is empty"},
		{"empty key in key_values", &featurev1.RetrieveRequest{Entity: "user_item", KeyValues: []string{"1", ""},
			Groups: []*featurev1.GroupSelection{{FeatureGroup: "affinity"}}}, codes.InvalidArgument, "is empty"},
		{"duplicate feature", &featurev1.RetrieveRequest{Entity: "user", Keys: keys([]string{"1"}),
			Groups: []*featurev1.GroupSelection{{FeatureGroup: "profile", Features: []string{"age", "ctr", "age"}}}},
			codes.InvalidArgument, "asked for twice"},
		{"one feature named 150,000 times, 10,000 keys", &featurev1.RetrieveRequest{Entity: "user", Keys: many(10_000),
			Groups: []*featurev1.GroupSelection{{FeatureGroup: "dense", Features: dup}}}, codes.InvalidArgument, "dense"},
		{"too many keys", &featurev1.RetrieveRequest{Entity: "user", Keys: many(60_000), Groups: dense},
			codes.ResourceExhausted, "retrieve_max_keys"},
		{"keys x width", &featurev1.RetrieveRequest{Entity: "user", Keys: many(10_000),
			Groups: []*featurev1.GroupSelection{{FeatureGroup: "profile"}, {FeatureGroup: "dense"}}},
			codes.ResourceExhausted, "retrieve_max_values"},
		{"answer bytes", &featurev1.RetrieveRequest{Entity: "user", Keys: many(9_000),
			Groups: []*featurev1.GroupSelection{{FeatureGroup: "profile"}}}, codes.ResourceExhausted, "retrieve_max_answer_bytes"},
		{"unknown entity of 1 MB", &featurev1.RetrieveRequest{Entity: mb, Keys: keys([]string{"1"}), Groups: dense},
			codes.InvalidArgument, "unknown entity"},
	} {
		_, err := client.Retrieve(ctx, tc.req)
		msg := status.Convert(err).Message()
		if status.Code(err) != tc.want || !strings.Contains(msg, tc.says) {
			t.Errorf("%s: %v %.200q, want %v saying %q", tc.name, status.Code(err), msg, tc.want, tc.says)
		}
		if len(msg) > servers.MaxStatusMessage {
			t.Errorf("%s: a message of %d bytes", tc.name, len(msg))
		}
	}

	// Tokens are checked before the message is read: without one, a 20 MB
	// request is Unauthenticated, not ResourceExhausted.
	_, err := client.Retrieve(context.Background(), &featurev1.RetrieveRequest{Entity: "user",
		Keys: keys([]string{strings.Repeat("7", 20<<20)}), Groups: dense})
	if status.Code(err) != codes.Unauthenticated {
		t.Errorf("20 MB without a token: %v, want Unauthenticated", err)
	}
	// A method not in the allow-list is denied, even to a token that is.
	err = conn.Invoke(ctx, "/ofs.feature.v1.FeatureService/Delete", &featurev1.RetrieveRequest{}, &featurev1.RetrieveResponse{})
	if status.Code(err) != codes.PermissionDenied {
		t.Errorf("an unlisted method: %v, want PermissionDenied", err)
	}
	// A reader may not Persist.
	if _, err := client.Persist(ctx, &featurev1.PersistRequest{}); status.Code(err) != codes.PermissionDenied {
		t.Errorf("Persist with a reader token: %v, want PermissionDenied", err)
	}

	// Healthy, and serving what it served.
	h, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
	if err != nil || h.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("health after the bad requests: %v %v", h, err)
	}
	resp, err := client.Retrieve(ctx, &featurev1.RetrieveRequest{Entity: "user", Keys: keys([]string{"1"}, []string{"2"}), Groups: dense})
	if err != nil || !resp.GetRows()[0].GetFound()[0] {
		t.Fatalf("a good request after the bad ones: %v %v", resp, err)
	}
	if got := testutil.ToFloat64(srv.DefaultsCounter("dense", "missing")); got != 1 {
		t.Errorf("defaults of dense for missing keys counted %v, want 1", got)
	}
}

// TestDefaultsCountedMissingAndExpired: a row answered with defaults is
// counted by group and reason.
func TestDefaultsCountedMissingAndExpired(t *testing.T) {
	f := setup(t)
	f.write(t, "dense", 1, []string{"1"}, now.Add(-2*time.Hour), now.Add(-time.Hour), func(b *codec.Builder) {
		b.SetFloat32(0, 9)
	})
	reg := prometheus.NewRegistry()
	srv := feature.New(f.holder, func(string) (feature.Reader, error) { return f.store, nil },
		feature.WithClock(func() time.Time { return now }), feature.WithRegisterer(reg))
	_, err := srv.Retrieve(context.Background(), &featurev1.RetrieveRequest{Entity: "user",
		Keys: keys([]string{"1"}, []string{"2"}, []string{"3"}), Groups: []*featurev1.GroupSelection{{FeatureGroup: "dense"}}})
	if err != nil {
		t.Fatal(err)
	}
	if got := testutil.ToFloat64(srv.DefaultsCounter("dense", "expired")); got != 1 {
		t.Errorf("expired counted %v, want 1", got)
	}
	if got := testutil.ToFloat64(srv.DefaultsCounter("dense", "missing")); got != 2 {
		t.Errorf("missing counted %v, want 2", got)
	}
}

// FuzzRetrieve drives any RetrieveRequest through the real handler over a
// real store: it never panics, fails only with InvalidArgument or
// ResourceExhausted and a short message, and answers one row per key with
// matrices of rows x width. `go test` runs the seed corpus only.
func FuzzRetrieve(f *testing.F) {
	fx := setup(f)
	fx.write(f, "dense", 1, []string{"1"}, now.Add(-time.Minute), time.Time{}, func(b *codec.Builder) { b.SetFloat32(0, 1) })
	fx.write(f, "profile", 1, []string{"1"}, now.Add(-time.Minute), time.Time{}, func(b *codec.Builder) {
		b.SetString(2, "fr")
	})
	srv := feature.New(fx.holder, func(string) (feature.Reader, error) { return fx.store, nil },
		feature.WithClock(func() time.Time { return now }), feature.WithLimits(feature.Limits{MaxKeys: 200}))
	for _, r := range []*featurev1.RetrieveRequest{
		{Entity: "user", Keys: keys([]string{"1"}, []string{"2"}), Groups: []*featurev1.GroupSelection{{FeatureGroup: "dense"}}},
		{Entity: "user", KeyValues: []string{"1", "-5"}, TypedValues: true,
			Groups: []*featurev1.GroupSelection{{FeatureGroup: "profile", Features: []string{"country", "emb", "premium"}}, {FeatureGroup: "dense"}}},
		{Entity: "user_item", Keys: keys([]string{"5", "sku"}), Groups: []*featurev1.GroupSelection{{FeatureGroup: "affinity"}}},
		{Entity: "user_item", KeyValues: []string{"5", ""}, Groups: []*featurev1.GroupSelection{{FeatureGroup: "affinity"}}},
		{Entity: "user", Keys: keys([]string{"01"}), Groups: []*featurev1.GroupSelection{{FeatureGroup: "dense", Features: []string{"a", "a"}}}},
		{Entity: "user", Keys: keys([]string{"1"}), Groups: []*featurev1.GroupSelection{{FeatureGroup: "dense"}, {FeatureGroup: "dense"}}},
		{Entity: "user", KeyValues: []string{"1", "2", "3"}, Keys: keys([]string{"1"}), Groups: []*featurev1.GroupSelection{{FeatureGroup: "dense"}}},
		{},
	} {
		b, err := proto.Marshal(r)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, data []byte) {
		req := &featurev1.RetrieveRequest{}
		if proto.Unmarshal(data, req) != nil {
			return
		}
		resp, err := srv.Retrieve(ctx, req)
		if err != nil {
			s := status.Convert(err)
			if c := s.Code(); c != codes.InvalidArgument && c != codes.ResourceExhausted {
				t.Fatalf("%v: %s", c, s.Message())
			}
			if len(s.Message()) > servers.MaxStatusMessage {
				t.Fatalf("a message of %d bytes", len(s.Message()))
			}
			return
		}
		n := len(req.GetKeys())
		if n == 0 {
			snap := fx.holder.Load()
			e, _ := snap.Entity(req.GetEntity())
			n = len(req.GetKeyValues()) / len(e.Keys)
		}
		if len(resp.GetRows()) != n {
			t.Fatalf("%d rows for %d keys", len(resp.GetRows()), n)
		}
		for _, m := range resp.GetMatrices() {
			size := 8
			if m.GetType() == schema.DataTypeToProto(schema.FP32) {
				size = 4
			}
			if len(m.GetData()) != n*int(m.GetWidth())*size {
				t.Fatalf("matrix %v of %d bytes for %d rows of %d", m.GetType(), len(m.GetData()), n, m.GetWidth())
			}
		}
	})
}
