package registry_test

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/IBM/sarama"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"google.golang.org/protobuf/proto"

	"github.com/ofstack/ofs/internal/etcdserver"
	"github.com/ofstack/ofs/internal/testenv"
	"github.com/ofstack/ofs/processors/registry"
	registryv1 "github.com/ofstack/ofs/proto/ofs/registry/v1"
	"github.com/ofstack/ofs/topics"
	"github.com/ofstack/ofs/views/registrycopy"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// TestEtcdDownDuringApply: with etcd (a private one) down, a command is
// neither answered nor committed; the processor stopped meanwhile leaves
// it uncommitted, and the next processor, once etcd is back, applies it and
// publishes its state: no command is skipped.
func TestEtcdDownDuringApply(t *testing.T) {
	if testing.Short() {
		t.Skip("starts an etcd server: not run with -short")
	}
	names, brokers := testenv.Topics(t, 1)
	dir := filepath.Join(t.TempDir(), "etcd")
	addr := testenv.FreeAddr(t, 1)
	host, p, _ := splitHostPort(t, addr)
	peer := host + ":" + strconv.Itoa(p+1)
	start := func() *etcdserver.Server {
		t.Helper()
		srv, err := etcdserver.Start(etcdserver.Config{Dir: dir, ClientAddr: addr, PeerAddr: peer, LogLevel: "error",
			LogFile: filepath.Join(filepath.Dir(dir), "etcd.log")})
		if err != nil {
			t.Fatal(err)
		}
		return srv
	}
	srv := start()
	t.Cleanup(func() { srv.Close() })
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{addr}, DialTimeout: 2 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cli.Close() })
	root := registrycopy.Root(names.Prefix)

	run := func() (stop func()) {
		t.Helper()
		pub := registrycopy.NewPublisher(cli, root)
		p, err := registry.New(brokers, names, pub, registry.WithLogger(quiet))
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- p.Run(ctx) }()
		select {
		case <-p.Ready():
		case err := <-done:
			t.Fatalf("registry processor stopped: %v", err)
		case <-time.After(2 * time.Minute):
			t.Fatal("registry processor not ready in 2 minutes")
		}
		return func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("registry processor: %v", err)
			}
			_ = pub.Close()
		}
	}

	cfg := topics.SaramaConfig("t")
	cfg.Producer.Return.Successes = true
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
	results, err := consumer.ConsumePartition(string(names.RegistryResults), 0, sarama.OffsetOldest)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = results.Close() })
	admin, err := topics.NewAdmin(brokers, topics.Security{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = admin.Close() })
	committed := func() int64 {
		t.Helper()
		res, err := admin.ListConsumerGroupOffsets(string(names.RegistryGroup), map[string][]int32{string(names.Registry): {0}})
		if err != nil {
			t.Fatal(err)
		}
		if b := res.GetBlock(string(names.Registry), 0); b != nil {
			return b.Offset
		}
		return -1
	}
	send := func(id, entity string) {
		t.Helper()
		b, err := proto.Marshal(&registryv1.Command{RequestId: id, Actor: "test",
			Command: &registryv1.Command_ApplyEntity{ApplyEntity: &registryv1.ApplyEntity{Name: entity,
				KeyColumns: []*registryv1.KeyColumn{{Name: "id", Type: registryv1.DataType_DATA_TYPE_INT64}}}}})
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := producer.SendMessage(&sarama.ProducerMessage{Topic: string(names.Registry),
			Key: sarama.StringEncoder(registry.Key), Value: sarama.ByteEncoder(b)}); err != nil {
			t.Fatal(err)
		}
	}
	outcome := func(limit time.Duration) *registryv1.Outcome {
		t.Helper()
		select {
		case m := <-results.Messages():
			var out registryv1.Outcome
			if err := proto.Unmarshal(m.Value, &out); err != nil {
				t.Fatal(err)
			}
			return &out
		case <-time.After(limit):
			return nil
		}
	}

	stop := run()
	send("first", "user")
	if out := outcome(time.Minute); out.GetRequestId() != "first" || out.GetApplied() == nil {
		t.Fatalf("outcome %v, want first applied", out)
	}

	srv.Close() // etcd goes down
	send("second", "item")
	if out := outcome(5 * time.Second); out != nil {
		t.Fatalf("outcome %v while etcd was down", out)
	}
	stop() // the partition stops before etcd is back
	if off := committed(); off != 1 {
		t.Fatalf("committed offset %d after a stop with etcd down, want 1: the second command uncommitted", off)
	}

	srv = start()
	stop = run()
	defer stop()
	out := outcome(time.Minute)
	if out.GetRequestId() != "second" || out.GetApplied() == nil {
		t.Fatalf("outcome %v, want second applied by the next processor", out)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	r, err := registrycopy.Load(ctx, cli, root)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := r.Entity("item"); !ok || r.Revision() != out.GetApplied().GetRevision() {
		t.Fatalf("etcd holds revision %d without entity item; want revision %d with it", r.Revision(), out.GetApplied().GetRevision())
	}
	eventually(t, 30*time.Second, func() bool { return committed() == 2 })
}

func splitHostPort(t *testing.T, addr string) (string, int, error) {
	t.Helper()
	i := len(addr) - 1
	for addr[i] != ':' {
		i--
	}
	p, err := strconv.Atoi(addr[i+1:])
	if err != nil {
		t.Fatal(err)
	}
	return addr[:i], p, nil
}

func eventually(t *testing.T, limit time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %v", limit)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
