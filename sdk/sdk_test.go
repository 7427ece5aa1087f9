package sdk_test

import (
	"context"
	"encoding/binary"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"golang.org/x/sync/errgroup"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	featurev1 "github.com/ofstack/ofs/proto/ofs/feature/v1"
	registryv1 "github.com/ofstack/ofs/proto/ofs/registry/v1"
	"github.com/ofstack/ofs/sdk"
)

var littleEndian = binary.NativeEndian.Uint16([]byte{1, 0}) == 1

func dial(t *testing.T) *sdk.Client {
	t.Helper()
	needServices(t)
	c, err := sdk.Dial(serverAddr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Error(err)
		}
	})
	return c
}

func ctxFor(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func TestApplyAndRead(t *testing.T) {
	c := dial(t)
	ctx := ctxFor(t, time.Minute)
	resp, err := c.Apply(ctx, &registryv1.Command{Command: &registryv1.Command_ApplyFeatureGroup{ApplyFeatureGroup: &registryv1.ApplyFeatureGroup{
		Name: "sdk_scores", Entity: "user", Store: "online", Ttl: durationpb.New(time.Hour),
		Features: []*registryv1.Feature{{Name: "score", Type: registryv1.DataType_DATA_TYPE_FP32}},
	}}})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.GetOutcomes()) != 1 || resp.GetOutcomes()[0].GetApplied() == nil {
		t.Fatalf("Apply outcomes %v, want one applied", resp.GetOutcomes())
	}
	g, err := c.FeatureGroup(ctx, "sdk_scores")
	if err != nil {
		t.Fatal(err)
	}
	if g.GetEntity() != "user" || len(g.GetVersions()) != 1 || g.GetVersions()[0].GetFeatures()[0].GetName() != "score" {
		t.Fatalf("FeatureGroup = %v", g)
	}
	e, err := c.Entity(ctx, "user_item")
	if err != nil {
		t.Fatal(err)
	}
	if cols := e.GetKeyColumns(); len(cols) != 2 || cols[0].GetName() != "user_id" || cols[1].GetName() != "sku" {
		t.Fatalf("Entity(user_item) key columns %v", cols)
	}
	if _, err := c.Entity(ctx, "no_such_entity"); status.Code(err) != codes.NotFound {
		t.Fatalf("Entity(no_such_entity): %v, want NotFound", err)
	}
}

func TestPersistAndRetrieve(t *testing.T) {
	c := dial(t)
	ctx := ctxFor(t, time.Minute)
	emb := make([]float32, 16)
	for i := range emb {
		emb[i] = float32(i) / 4 // exact in fp16
	}
	at := time.Now().Add(-time.Minute)
	if err := c.Persist(ctx, "user_profile", []sdk.Row{{
		Keys: map[string]any{"user_id": 101}, EventTime: at,
		Values: map[string]any{"age": 31, "country": "DE", "is_premium": true, "lifetime_value": 1234.5, "embedding": emb},
	}}); err != nil {
		t.Fatal(err)
	}
	if err := c.Persist(ctx, "user_activity", []sdk.Row{
		{Keys: map[string]any{"user_id": int64(101)}, Values: map[string]any{"clicks_1h": uint32(5), "views_1h": 50, "ctr_1h": float32(0.1)}},
		{Keys: map[string]any{"user_id": "102"}, Values: map[string]any{"clicks_1h": 1}}, // views and ctr: defaults
	}); err != nil {
		t.Fatal(err)
	}
	err := c.Persist(ctx, "user_activity", []sdk.Row{{Keys: map[string]any{"user_id": 103}, Values: map[string]any{"nope": 1}}})
	if status.Code(err) != codes.InvalidArgument {
		t.Fatalf("Persist of an unknown feature: %v, want InvalidArgument", err)
	}

	res, err := c.Retrieve(ctx, sdk.RetrieveRequest{Entity: "user", Keys: [][]string{{"101"}, {"102"}, {"999"}},
		Groups: []sdk.Group{{Name: "user_profile"}, {Name: "user_activity", Features: []string{"ctr_1h", "clicks_1h", "views_1h"}}}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Len() != 3 || len(res.Columns()) != 8 {
		t.Fatalf("%d rows, %d columns; want 3 and 8", res.Len(), len(res.Columns()))
	}
	col := func(name string) int {
		t.Helper()
		i, err := res.Index(name)
		if err != nil {
			t.Fatal(err)
		}
		return i
	}
	age, country, premium, ltv, embCol := col("age"), col("user_profile.country"), col("is_premium"), col("lifetime_value"), col("embedding")
	ctr, clicks, views := col("user_activity.ctr_1h"), col("clicks_1h"), col("views_1h")

	found := [][2]bool{{true, true}, {false, true}, {false, false}}
	for row, want := range found {
		if res.Found(row, 0) != want[0] || res.Found(row, 1) != want[1] {
			t.Errorf("row %d found %v %v, want %v", row, res.Found(row, 0), res.Found(row, 1), want)
		}
	}
	if res.Int64(0, age) != 31 || res.String(0, country) != "DE" || !res.Bool(0, premium) || res.Float64(0, ltv) != 1234.5 ||
		res.Uint64(0, clicks) != 5 || res.Int64(0, views) != 50 || res.Float32(0, ctr) != 0.1 {
		t.Errorf("row 0: age %d country %q premium %v ltv %v clicks %d views %d ctr %v",
			res.Int64(0, age), res.String(0, country), res.Bool(0, premium), res.Float64(0, ltv),
			res.Uint64(0, clicks), res.Int64(0, views), res.Float32(0, ctr))
	}
	if got := res.Float32s(0, embCol); len(got) != 16 || got[5] != 1.25 {
		t.Errorf("embedding %v, want i/4", got)
	}
	// Defaults: the group's own for a row not found, and for a feature the
	// event left out.
	if res.Int64(1, age) != -1 || res.String(2, country) != "unknown" || res.Bool(2, premium) ||
		res.Float32(1, ctr) != 0.01 || res.Uint64(1, clicks) != 1 || res.Uint64(1, views) != 0 || res.Float32(2, ctr) != 0.01 {
		t.Errorf("defaults: age %d country %q ctr %v/%v clicks %d views %d",
			res.Int64(1, age), res.String(2, country), res.Float32(1, ctr), res.Float32(2, ctr), res.Uint64(1, clicks), res.Uint64(1, views))
	}

	// The matrices hold what the accessors read, at each column's offset.
	cols := res.Columns()
	f32, rows, w := res.Float32Matrix()
	if rows != 3 || w != 17 || len(f32) != rows*w {
		t.Fatalf("Float32Matrix: %d values, %d rows, width %d; want 3 x 17 (embedding, ctr_1h)", len(f32), rows, w)
	}
	if again, _, _ := res.Float32Matrix(); littleEndian && &again[0] != &f32[0] {
		t.Error("Float32Matrix copies on a little-endian host: want a view of the answer")
	}
	i64, _, wi := res.Int64Matrix()
	u64, _, wu := res.Uint64Matrix()
	f64, _, wf := res.Float64Matrix()
	for row := range rows {
		if f32[row*w+cols[ctr].Offset] != res.Float32(row, ctr) || f32[row*w+cols[embCol].Offset+5] != res.Float32s(row, embCol)[5] ||
			i64[row*wi+cols[age].Offset] != res.Int64(row, age) || i64[row*wi+cols[premium].Offset] != res.Int64(row, premium) ||
			u64[row*wu+cols[views].Offset] != res.Uint64(row, views) || f64[row*wf+cols[ltv].Offset] != res.Float64(row, ltv) {
			t.Errorf("row %d: the matrices disagree with the accessors", row)
		}
	}
}

func TestPublishThenRetrieve(t *testing.T) {
	needServices(t)
	const n = 500
	p, err := sdk.NewPublisher(brokers, prefix)
	if err != nil {
		t.Fatal(err)
	}
	at := time.Now().Add(-time.Minute)
	keys := make([][]string, n)
	for i := range n {
		keys[i] = []string{strconv.Itoa(10_000 + i)}
	}
	// Four publishers, and Flushes while they publish.
	var g errgroup.Group
	for w := range 4 {
		g.Go(func() error {
			for i := w; i < n; i += 4 {
				if err := p.Publish(sdk.Event{Entity: "user", Group: "user_activity", Keys: []sdk.Key{{Column: "user_id", Value: 10_000 + i}},
					EventTime: at, Values: map[string]any{"clicks_1h": i, "ctr_1h": float32(i) / 1000}}); err != nil {
					return err
				}
			}
			return nil
		})
	}
	g.Go(func() error {
		for range 3 {
			if err := p.Flush(context.Background()); err != nil {
				return err
			}
		}
		return nil
	})
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
	if err := p.Flush(ctxFor(t, time.Minute)); err != nil {
		t.Fatal(err)
	}
	if sent, failed := p.Stats(); sent != n || failed != 0 {
		t.Fatalf("after Flush: %d sent, %d failed; want %d and 0", sent, failed, n)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if err := p.Publish(sdk.Event{Entity: "user", Group: "user_activity"}); err == nil {
		t.Fatal("Publish after Close succeeded")
	}

	// The ingest processor writes them shortly after: wait for the last.
	c := dial(t)
	ctx := ctxFor(t, 2*time.Minute)
	req := sdk.RetrieveRequest{Entity: "user", Keys: keys, Groups: []sdk.Group{{Name: "user_activity", Features: []string{"clicks_1h", "ctr_1h"}}}}
	for {
		res, err := c.Retrieve(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		missing := 0
		for row := range res.Len() {
			if !res.Found(row, 0) {
				missing++
			}
		}
		if missing == 0 {
			for row := range res.Len() {
				if res.Uint64(row, 0) != uint64(row) || res.Float32(row, 1) != float32(row)/1000 {
					t.Fatalf("row %d: clicks %d ctr %v, want %d and %v", row, res.Uint64(row, 0), res.Float32(row, 1), row, float32(row)/1000)
				}
			}
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%d of %d published rows still not retrievable", missing, n)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func TestPublishRejectsBadEvents(t *testing.T) {
	needServices(t)
	p, err := sdk.NewPublisher(brokers, prefix)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := p.Close(); err != nil {
			t.Error(err)
		}
	}()
	for _, ev := range []sdk.Event{
		{Entity: "user", Group: "user_activity", Keys: []sdk.Key{{Column: "user_id", Value: 1.5}}},
		{Entity: "user", Group: "user_activity", Keys: []sdk.Key{{Column: "user_id", Value: 1}}, Values: map[string]any{"x": struct{}{}}},
	} {
		if err := p.Publish(ev); err == nil {
			t.Errorf("Publish(%v) succeeded", ev)
		}
	}
	if err := p.Flush(ctxFor(t, time.Minute)); err != nil {
		t.Fatal(err)
	}
}

func TestFlushReportsFailures(t *testing.T) {
	needServices(t)
	// An installation whose topics do not exist: the producer cannot send.
	p, err := sdk.NewPublisher(brokers, prefix+"_none", sdk.WithSaramaConfig(func(c *sarama.Config) {
		c.Producer.Retry.Max = 1
		c.Producer.Retry.Backoff = 10 * time.Millisecond
		c.Metadata.Retry.Max = 1
		c.Metadata.Retry.Backoff = 10 * time.Millisecond
	}))
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Publish(sdk.Event{Entity: "user", Group: "user_activity", Keys: []sdk.Key{{Column: "user_id", Value: 1}}}); err != nil {
		t.Fatal(err)
	}
	if err := p.Flush(ctxFor(t, time.Minute)); err == nil {
		t.Fatal("Flush succeeded for a topic that does not exist")
	}
	if sent, failed := p.Stats(); sent != 0 || failed != 1 {
		t.Fatalf("%d sent, %d failed; want 0 and 1", sent, failed)
	}
	if err := p.Flush(ctxFor(t, time.Minute)); err != nil {
		t.Fatalf("second Flush: %v, want nil: the failure was returned once", err)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestRetrieveKeepsColumns: the client asks for the compact form and, once
// it holds a shape's columns, for answers without them; a new registry
// revision brings them again, with the group's new feature.
func TestRetrieveKeepsColumns(t *testing.T) {
	needServices(t)
	type call struct {
		compact       bool
		columnsRev    uint64
		columns, rows int
		rev           uint64
	}
	var mu sync.Mutex
	var calls []call
	record := func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		err := invoker(ctx, method, req, reply, cc, opts...)
		if q, ok := req.(*featurev1.RetrieveRequest); ok && err == nil {
			a := reply.(*featurev1.RetrieveResponse)
			mu.Lock()
			calls = append(calls, call{q.GetCompact(), q.GetColumnsRevision(), len(a.GetColumns()), len(a.GetRows()), a.GetRegistryRevision()})
			mu.Unlock()
		}
		return err
	}
	c, err := sdk.Dial(serverAddr, sdk.WithDialOptions(grpc.WithChainUnaryInterceptor(record)))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := ctxFor(t, time.Minute)
	apply := func(features ...string) {
		t.Helper()
		g := &registryv1.ApplyFeatureGroup{Name: "sdk_columns", Entity: "user", Store: "online"}
		for _, f := range features {
			g.Features = append(g.Features, &registryv1.Feature{Name: f, Type: registryv1.DataType_DATA_TYPE_FP32})
		}
		if _, err := c.Apply(ctx, &registryv1.Command{Command: &registryv1.Command_ApplyFeatureGroup{ApplyFeatureGroup: g}}); err != nil {
			t.Fatal(err)
		}
	}
	apply("a")
	if err := c.Persist(ctx, "sdk_columns", []sdk.Row{{Keys: map[string]any{"user_id": 5}, Values: map[string]any{"a": float32(1.5)}}}); err != nil {
		t.Fatal(err)
	}
	req := sdk.RetrieveRequest{Entity: "user", Keys: [][]string{{"5"}, {"6"}}, Groups: []sdk.Group{{Name: "sdk_columns"}}}
	first, err := c.Retrieve(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	second, err := c.Retrieve(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	got := append([]call(nil), calls...)
	mu.Unlock()
	if len(got) != 2 || !got[0].compact || got[0].columnsRev != 0 || got[0].columns != 1 || got[0].rows != 0 ||
		got[1].columnsRev != got[0].rev || got[1].columns != 0 || got[1].rows != 0 {
		t.Fatalf("calls %+v: want compact answers, the second without columns", got)
	}
	for _, r := range []*sdk.Result{first, second} {
		if r.Len() != 2 || len(r.Columns()) != 1 || r.Columns()[0].Name != "a" || r.Float32(0, 0) != 1.5 || !r.Found(0, 0) || r.Found(1, 0) {
			t.Fatalf("answer: %d rows, columns %v, a %v, found %v %v", r.Len(), r.Columns(), r.Float32(0, 0), r.Found(0, 0), r.Found(1, 0))
		}
	}

	apply("a", "b") // a new revision, and a new column
	deadline := time.Now().Add(20 * time.Second)
	for {
		r, err := c.Retrieve(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		if len(r.Columns()) == 2 {
			if i, err := r.Index("b"); err != nil || r.Float32(0, i) != 0 || r.Float32(0, 0) != 1.5 {
				t.Fatalf("after the new version: b at %d (%v), a %v", i, err, r.Float32(0, 0))
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the answer's columns stayed %v after a new version of the group", r.Columns())
		}
		time.Sleep(100 * time.Millisecond)
	}
}
