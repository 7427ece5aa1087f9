package main

import (
	"context"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/redis/go-redis/v9"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/ofstack/ofs/codec"
	"github.com/ofstack/ofs/internal/blocks"
	"github.com/ofstack/ofs/internal/testenv"
	"github.com/ofstack/ofs/schema"
	"github.com/ofstack/ofs/topics"
	"github.com/ofstack/ofs/views"
	"github.com/ofstack/ofs/views/registrycopy"
)

// TestProcessIngest runs `ofs process ingest` with a store connection from
// the configuration file: a JSON event produced as kcat would (raw bytes, no
// content-type header) is stored in Redis, and a malformed one is on the
// dead-letter topic.
func TestProcessIngest(t *testing.T) {
	brokers := testenv.Kafka(t)
	endpoints := testenv.Etcd(t)
	redisAddr := testenv.Redis(t)
	name := testenv.Name(t)
	names, err := topics.For(name)
	if err != nil {
		t.Fatal(err)
	}

	reg := publishUserProfile(t, endpoints, name)

	config := redisConfig(t, redisAddr, name+":")
	rc := redis.NewClient(&redis.Options{Addr: redisAddr})
	t.Cleanup(func() {
		keys, err := rc.Keys(context.Background(), name+":*").Result()
		if err == nil && len(keys) > 0 {
			err = rc.Del(context.Background(), keys...).Err()
		}
		if err != nil {
			t.Errorf("cleanup: %v", err)
		}
		_ = rc.Close()
	})
	env := []string{
		"OFS_CONFIG=" + config,
		"OFS_KAFKA_BROKERS=" + strings.Join(brokers, ","),
		"OFS_ETCD_ENDPOINTS=" + strings.Join(endpoints, ","),
		"OFS_PREFIX=" + name,
		"OFS_LOG_LEVEL=warn",
		"OFS_METRICS_ADDR=none",
	}
	start(t, env, "process", "ingest")

	cfg := sarama.NewConfig()
	cfg.Version = topics.KafkaVersion
	cfg.Producer.Return.Successes = true
	var producer sarama.SyncProducer
	deadline := time.Now().Add(time.Minute)
	for { // the topics exist once the processor has created them
		producer, err = sarama.NewSyncProducer(brokers, cfg)
		if err == nil {
			_, _, err = producer.SendMessage(&sarama.ProducerMessage{Topic: string(names.Features),
				Key:   sarama.StringEncoder(topics.FeatureKey("user", "user_profile", "42")),
				Value: sarama.StringEncoder(`{"entity":"user","keys":{"user_id":42},"feature_group":"user_profile","values":{"age":31,"ctr":0.25}}`)})
		}
		if err == nil {
			break
		}
		if producer != nil {
			_ = producer.Close()
		}
		if time.Now().After(deadline) {
			t.Fatalf("produce: %v", err)
		}
		time.Sleep(time.Second)
	}
	defer producer.Close()
	if _, _, err := producer.SendMessage(&sarama.ProducerMessage{Topic: string(names.Features),
		Key: sarama.StringEncoder("user/user_profile/43"), Value: sarama.StringEncoder(`{"entity":"user","keys":{"user_id":43},"feature_group":"user_profile","values":{"age":300}}`)}); err != nil {
		t.Fatal(err)
	}

	store, err := views.NewRedis(rc, views.RedisPrefix(name+":"))
	if err != nil {
		t.Fatal(err)
	}
	g, _ := reg.FeatureGroup("user_profile")
	var block []byte
	for block == nil {
		bs, err := store.Read(context.Background(), []views.Key{{Entity: "user", Values: []string{"42"}}}, []uint32{g.ID})
		if err != nil {
			t.Fatal(err)
		}
		block = bs[0]
		if block == nil && time.Now().After(deadline.Add(time.Minute)) {
			t.Fatal("the event is not in Redis after 2 minutes")
		}
		time.Sleep(100 * time.Millisecond)
	}
	l, err := blocks.NewLayout(g.Active())
	if err != nil {
		t.Fatal(err)
	}
	p, _ := codec.NewProjection(l, []*codec.Layout{l}, nil)
	var r codec.Reader
	if err := r.Open(block, p, math.MinInt64); err != nil {
		t.Fatal(err)
	}
	if r.Int64(0) != 31 || r.Float32(1) != 0.25 {
		t.Fatalf("stored age %d ctr %v, want 31 0.25", r.Int64(0), r.Float32(1))
	}

	// The malformed event, read back with kcat as docs/kafka.md shows.
	kcat := testenv.Tool(t, "kcat")
	for {
		out, err := exec.Command(kcat, "-b", strings.Join(brokers, ","), "-C", "-t", string(names.DeadLetters), "-c", "1", "-e",
			"-f", "%k %h\n").CombinedOutput()
		if err == nil && strings.Contains(string(out), "ofs-dlq-code=out_of_range") {
			if !strings.Contains(string(out), "user/user_profile/43") || !strings.Contains(string(out), "300 is out of the range of int8") {
				t.Fatalf("dead letter %s, want user 43's event and the reason", out)
			}
			break
		}
		if time.Now().After(deadline.Add(2 * time.Minute)) {
			t.Fatalf("kcat on the dead-letter topic: %v\n%s", err, out)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// publishUserProfile publishes, straight into etcd as the registry processor
// would, a registry of one Redis store (connection "default"), the entity
// user (user_id int64) and the group user_profile (id 1: age int8, ctr fp32).
func publishUserProfile(t *testing.T, endpoints []string, name string) *schema.Registry {
	t.Helper()
	reg := schema.NewRegistry()
	for i, c := range []schema.Command{
		schema.ApplyStore{ID: "online", Kind: schema.Redis, Connection: "default"},
		schema.ApplyEntity{Name: "user", Keys: []schema.KeyColumn{{Name: "user_id", Type: schema.Int64}}},
		schema.ApplyFeatureGroup{Name: "user_profile", Entity: "user", ID: 1, Store: "online",
			Features: []schema.Feature{{Name: "age", Type: schema.Int8}, {Name: "ctr", Type: schema.FP32}}},
	} {
		next, out, err := reg.Apply(schema.Request{ID: fmt.Sprint("r", i), Actor: "test", Command: c}, time.Now().UTC())
		if err != nil || out.Err != nil {
			t.Fatalf("command %d: %v %v", i, err, out.Err)
		}
		reg = next
	}
	cli, err := clientv3.New(clientv3.Config{Endpoints: endpoints, DialTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	pub := registrycopy.NewPublisher(cli, registrycopy.Root(name))
	defer pub.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := pub.Publish(ctx, reg); err != nil {
		t.Fatal(err)
	}
	return reg
}

// redisConfig writes a configuration of two feature partitions and one Redis
// store connection, "default", at addr under keyPrefix, and returns its path.
func redisConfig(t *testing.T, addr, keyPrefix string) string {
	t.Helper()
	config := filepath.Join(t.TempDir(), "ofs.yaml")
	if err := os.WriteFile(config, fmt.Appendf(nil, "kafka:\n  feature_partitions: 2\nstores:\n  default:\n    redis:\n      addrs: [%s]\n      key_prefix: %q\n",
		addr, keyPrefix), 0o600); err != nil {
		t.Fatal(err)
	}
	return config
}
