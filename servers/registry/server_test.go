package registry_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/lovoo/goka"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/ofstack/ofs/internal/testenv"
	processor "github.com/ofstack/ofs/processors/registry"
	registryv1 "github.com/ofstack/ofs/proto/ofs/registry/v1"
	"github.com/ofstack/ofs/schema"
	"github.com/ofstack/ofs/servers"
	"github.com/ofstack/ofs/servers/registry"
	"github.com/ofstack/ofs/topics"
	"github.com/ofstack/ofs/views/registrycopy"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

type env struct {
	brokers []string
	names   topics.Names
	etcd    *clientv3.Client
	client  registryv1.RegistryServiceClient
}

// startProcessor runs a registry processor of names publishing under root,
// until the test ends.
func startProcessor(t *testing.T, ctx context.Context, brokers []string, names topics.Names, cli *clientv3.Client, root string) {
	t.Helper()
	pub := registrycopy.NewPublisher(cli, root)
	t.Cleanup(func() { _ = pub.Close() })
	p, err := processor.New(brokers, names, pub, processor.WithLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	pctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- p.Run(pctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("registry processor: %v", err)
		}
	})
	select {
	case <-p.Ready():
	case err := <-done:
		done <- err // for the cleanup
		t.Fatalf("registry processor stopped: %v", err)
	case <-time.After(2 * time.Minute):
		t.Fatal("registry processor not ready in 2 minutes")
	}
}

func setup(t *testing.T) *env {
	t.Helper()
	names, brokers := testenv.Topics(t, 1)
	endpoints := testenv.Etcd(t)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	cli, err := clientv3.New(clientv3.Config{Endpoints: endpoints, DialTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cli.Close() })
	root := registrycopy.Root(names.Prefix)
	startProcessor(t, ctx, brokers, names, cli, root)

	holder := schema.NewHolder(nil)
	w := registrycopy.NewWatcher(cli, root, holder, quiet)
	go func() { _ = w.Run(ctx) }()
	<-w.Ready()

	cfg := topics.SaramaConfig("registry-server-test")
	producer, err := sarama.NewSyncProducer(brokers, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = producer.Close() })
	consumer, err := sarama.NewConsumer(brokers, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = consumer.Close() })
	srv := registry.New(names, holder, producer, quiet)
	positioned := make(chan struct{})
	go func() { _ = srv.Run(ctx, consumer, func() { close(positioned) }) }()
	<-positioned

	gs, _ := servers.NewGRPC(quiet)
	registryv1.RegisterRegistryServiceServer(gs, srv)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = gs.Serve(lis) }()
	t.Cleanup(gs.Stop)
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return &env{brokers: brokers, names: names, etcd: cli, client: registryv1.NewRegistryServiceClient(conn)}
}

func u64(v uint64) *uint64 { return &v }

func fp32(name string) *registryv1.Feature {
	return &registryv1.Feature{Name: name, Type: registryv1.DataType_DATA_TYPE_FP32}
}

func baseCommands() []*registryv1.Command {
	return []*registryv1.Command{
		{Command: &registryv1.Command_ApplyStore{ApplyStore: &registryv1.ApplyStore{
			Id: "main", Kind: registryv1.StoreKind_STORE_KIND_REDIS, Connection: "default"}}},
		{Command: &registryv1.Command_ApplyEntity{ApplyEntity: &registryv1.ApplyEntity{
			Name: "user", KeyColumns: []*registryv1.KeyColumn{{Name: "user_id", Type: registryv1.DataType_DATA_TYPE_INT64}}}}},
		group(fp32("clicks"), fp32("ctr")),
	}
}

func group(features ...*registryv1.Feature) *registryv1.Command {
	return &registryv1.Command{Command: &registryv1.Command_ApplyFeatureGroup{ApplyFeatureGroup: &registryv1.ApplyFeatureGroup{
		Name: "user_stats", Entity: "user", Id: 1, Store: "main", Ttl: durationpb.New(24 * time.Hour),
		Features: features,
	}}}
}

func apply(t *testing.T, e *env, cmds ...*registryv1.Command) *registryv1.ApplyResponse {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	resp, err := e.client.Apply(ctx, &registryv1.ApplyRequest{Commands: cmds})
	if err != nil {
		t.Fatalf("Apply: %v", err)
	}
	return resp
}

func TestApplyReapplyAndRules(t *testing.T) {
	e := setup(t)
	ctx := context.Background()

	resp := apply(t, e, baseCommands()...)
	for i, o := range resp.GetOutcomes() {
		if o.GetApplied() == nil || o.GetApplied().GetNoop() {
			t.Fatalf("command %d: %v, want applied", i, o)
		}
	}
	g, err := e.client.GetFeatureGroup(ctx, &registryv1.GetFeatureGroupRequest{
		Selector: &registryv1.GetFeatureGroupRequest_Name{Name: "user_stats"}})
	if err != nil {
		t.Fatalf("GetFeatureGroup right after Apply: %v", err)
	}
	if v := g.GetFeatureGroup().GetVersions(); len(v) != 1 || len(v[0].GetFeatures()) != 2 {
		t.Fatalf("versions %v, want one version with two features", v)
	}

	// The same file again: nothing changes.
	again := apply(t, e, baseCommands()...)
	for i, o := range again.GetOutcomes() {
		if !o.GetApplied().GetNoop() {
			t.Fatalf("re-apply, command %d: %v, want a no-op", i, o)
		}
	}
	if again.GetRevision() != resp.GetRevision() {
		t.Fatalf("re-apply moved the revision from %d to %d", resp.GetRevision(), again.GetRevision())
	}

	// Adding a feature makes version 2.
	added := apply(t, e, group(fp32("clicks"), fp32("ctr"), fp32("dwell")))
	if a := added.GetOutcomes()[0].GetApplied(); a == nil || a.GetFeatureGroupVersion() != 2 {
		t.Fatalf("adding a feature: %v, want version 2", added.GetOutcomes()[0])
	}

	// Changing a feature's type is incompatible; the message names the feature and the rule.
	changed := apply(t, e, group(&registryv1.Feature{Name: "clicks", Type: registryv1.DataType_DATA_TYPE_INT64},
		fp32("ctr"), fp32("dwell")))
	rej := changed.GetOutcomes()[0].GetRejected()
	if rej.GetCode() != registryv1.RejectCode_REJECT_CODE_INCOMPATIBLE_CHANGE ||
		!strings.Contains(rej.GetMessage(), "clicks") || rej.GetRule() == "" || !strings.Contains(rej.GetMessage(), rej.GetRule()) {
		t.Fatalf("type change: %v, want INCOMPATIBLE_CHANGE naming clicks and the rule", rej)
	}

	// A stale expected revision is rejected, never merged.
	stale := group(fp32("clicks"), fp32("ctr"), fp32("dwell"), fp32("extra"))
	stale.ExpectedRevision = u64(g.GetFeatureGroup().GetMeta().GetModRevision()) // before version 2
	rej = apply(t, e, stale).GetOutcomes()[0].GetRejected()
	if rej.GetCode() != registryv1.RejectCode_REJECT_CODE_STALE_REVISION {
		t.Fatalf("stale expected revision: %v, want STALE_REVISION", rej)
	}

	// A dry run says what would happen and changes nothing.
	dry, err := e.client.Apply(ctx, &registryv1.ApplyRequest{DryRun: true,
		Commands: []*registryv1.Command{group(fp32("clicks"), fp32("ctr"), fp32("dwell"), fp32("extra"))}})
	if err != nil || dry.GetOutcomes()[0].GetApplied().GetFeatureGroupVersion() != 3 {
		t.Fatalf("dry run: %v %v, want version 3 predicted", dry, err)
	}
	g, err = e.client.GetFeatureGroup(ctx, &registryv1.GetFeatureGroupRequest{
		Selector: &registryv1.GetFeatureGroupRequest_Id{Id: 1}, ActiveVersionOnly: true})
	if err != nil || g.GetFeatureGroup().GetVersions()[0].GetNumber() != 2 {
		t.Fatalf("after the dry run: %v %v, want still version 2", g, err)
	}
}

func TestConcurrentAppliesOneWins(t *testing.T) {
	e := setup(t)
	first := apply(t, e, baseCommands()...)
	g := first.GetOutcomes()[2].GetApplied()
	if g == nil {
		t.Fatalf("setup: %v", first.GetOutcomes()[2])
	}

	var wg sync.WaitGroup
	outs := make([]*registryv1.Outcome, 2)
	for i, extra := range []string{"a", "b"} {
		wg.Go(func() {
			c := group(fp32("clicks"), fp32("ctr"), fp32(extra))
			c.ExpectedRevision = u64(g.GetRevision())
			outs[i] = apply(t, e, c).GetOutcomes()[0]
		})
	}
	wg.Wait()
	applied, stale := 0, 0
	for _, o := range outs {
		switch {
		case o.GetApplied() != nil && !o.GetApplied().GetNoop():
			applied++
		case o.GetRejected().GetCode() == registryv1.RejectCode_REJECT_CODE_STALE_REVISION:
			stale++
		}
	}
	if applied != 1 || stale != 1 {
		t.Fatalf("outcomes %v: want one applied and one told to retry (stale)", outs)
	}
}

func TestReplayIntoFreshEtcdIsByteIdentical(t *testing.T) {
	e := setup(t)
	apply(t, e, baseCommands()...)
	apply(t, e, group(fp32("clicks"), fp32("ctr"), fp32("dwell")))
	apply(t, e, &registryv1.Command{Command: &registryv1.Command_ApplyEntity{ApplyEntity: &registryv1.ApplyEntity{
		Name: "item", KeyColumns: []*registryv1.KeyColumn{{Name: "sku", Type: registryv1.DataType_DATA_TYPE_STRING}}}}})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	live, err := registrycopy.Load(ctx, e.etcd, registrycopy.Root(e.names.Prefix))
	if err != nil {
		t.Fatal(err)
	}

	// A new group (empty table) over the same commands, into another root.
	replay := e.names
	replay.RegistryGroup += "-replay"
	replay.RegistryTable = goka.GroupTable(replay.RegistryGroup)
	admin, err := topics.NewAdmin(e.brokers, topics.Security{})
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	var tableSpec []topics.Spec
	for _, s := range e.names.Specs(topics.Layout{FeaturePartitions: 1}) {
		if s.Name == string(e.names.RegistryTable) {
			s.Name = string(replay.RegistryTable)
			tableSpec = append(tableSpec, s)
		}
	}
	if err := topics.Ensure(admin, tableSpec); err != nil {
		t.Fatal(err)
	}
	root2 := "/" + testenv.Name(t) + "/replayed/"
	startProcessor(t, ctx, e.brokers, replay, e.etcd, root2)

	var rebuilt *schema.Registry
	for rebuilt == nil || rebuilt.Revision() < live.Revision() {
		if ctx.Err() != nil {
			t.Fatalf("replay reached revision %d of %d", rebuilt.Revision(), live.Revision())
		}
		time.Sleep(100 * time.Millisecond)
		if rebuilt, err = registrycopy.Load(ctx, e.etcd, root2); err != nil {
			t.Fatal(err)
		}
	}
	a, _ := live.Marshal()
	b, _ := rebuilt.Marshal()
	if !bytes.Equal(a, b) {
		t.Fatalf("replayed registry differs from the live one (%d vs %d bytes)", len(a), len(b))
	}
	// And etcd itself holds the same bytes under both roots.
	kv := func(root string) map[string]string {
		resp, err := e.etcd.Get(ctx, root, clientv3.WithPrefix())
		if err != nil {
			t.Fatal(err)
		}
		m := map[string]string{}
		for _, x := range resp.Kvs {
			if k := strings.TrimPrefix(string(x.Key), root); !strings.HasPrefix(k, "lock/") {
				m[k] = string(x.Value)
			}
		}
		return m
	}
	k1, k2 := kv(registrycopy.Root(e.names.Prefix)), kv(root2)
	if len(k1) != len(k2) || len(k1) < 4 {
		t.Fatalf("etcd keys: %d live, %d replayed", len(k1), len(k2))
	}
	for k, v := range k1 {
		if k2[k] != v {
			t.Fatalf("etcd key %s differs after replay", k)
		}
	}
}

// TestDuplicateRequestIDs: two commands of one request id, in one Apply or
// in two Applies at once, each get their own outcome; none times out.
func TestDuplicateRequestIDs(t *testing.T) {
	e := setup(t)
	apply(t, e, baseCommands()...)
	entity := func(id, name string) *registryv1.Command {
		return &registryv1.Command{RequestId: id, Command: &registryv1.Command_ApplyEntity{ApplyEntity: &registryv1.ApplyEntity{
			Name: name, KeyColumns: []*registryv1.KeyColumn{{Name: "id", Type: registryv1.DataType_DATA_TYPE_INT64}}}}}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	// One Apply, the same id twice: two outcomes, in order.
	resp, err := e.client.Apply(ctx, &registryv1.ApplyRequest{Commands: []*registryv1.Command{
		entity("dup", "item"), entity("dup", "shop")}})
	if err != nil {
		t.Fatalf("Apply with one id twice: %v", err)
	}
	outs := resp.GetOutcomes()
	if len(outs) != 2 || outs[0].GetApplied() == nil || outs[1].GetApplied() == nil ||
		outs[0].GetApplied().GetRevision() >= outs[1].GetApplied().GetRevision() {
		t.Fatalf("outcomes %v, want two applied, the second later", outs)
	}

	// Two Applies at once with the same id.
	var wg sync.WaitGroup
	errs := make([]error, 2)
	revs := make([]uint64, 2)
	for i, name := range []string{"city", "region"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := e.client.Apply(ctx, &registryv1.ApplyRequest{Commands: []*registryv1.Command{entity("same", name)}})
			errs[i] = err
			if err == nil {
				revs[i] = r.GetOutcomes()[0].GetApplied().GetRevision()
			}
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("concurrent Apply %d with a shared id: %v", i, err)
		}
	}
	if revs[0] == 0 || revs[1] == 0 || revs[0] == revs[1] {
		t.Fatalf("revisions %v, want each Apply its own applied revision", revs)
	}
}
