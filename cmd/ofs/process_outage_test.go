package main

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/redis/go-redis/v9"

	"github.com/ofstack/ofs/codec"
	"github.com/ofstack/ofs/internal/blocks"
	"github.com/ofstack/ofs/internal/testenv"
	"github.com/ofstack/ofs/topics"
	"github.com/ofstack/ofs/views"
)

// TestProcessSurvivesAKafkaOutage runs `ofs process registry ingest`
// against a private broker that is killed for 20 s in the middle of an
// ingest: the process does not exit, and every event, produced before and
// after the outage, is stored exactly.
func TestProcessSurvivesAKafkaOutage(t *testing.T) {
	broker := testenv.PrivateKafka(t)
	endpoints := testenv.Etcd(t)
	redisAddr := testenv.Redis(t)
	name := testenv.Name(t)
	names, err := topics.For(name)
	if err != nil {
		t.Fatal(err)
	}
	reg := publishUserProfile(t, endpoints, name)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	config := redisConfig(t, redisAddr, name+":")
	rc := redis.NewClient(&redis.Options{Addr: redisAddr})
	t.Cleanup(func() {
		iter := rc.Scan(context.Background(), 0, name+":*", 1000).Iterator()
		for iter.Next(context.Background()) {
			_ = rc.Unlink(context.Background(), iter.Val()).Err() // the test's own keys
		}
		_ = rc.Close()
	})

	cmd := exec.Command(binary, "process", "registry", "ingest")
	cmd.Env = append(os.Environ(), "OFS_CONFIG="+config, "OFS_KAFKA_BROKERS="+broker.Addr,
		"OFS_ETCD_ENDPOINTS="+strings.Join(endpoints, ","), "OFS_PREFIX="+name, "OFS_LOG_LEVEL=warn", "OFS_METRICS_ADDR=none")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM) // it may have exited already; Wait tells
		select {
		case err := <-exited:
			t.Logf("ofs process ended: %v", err) // a signal's exit status, after SIGTERM
		case <-time.After(60 * time.Second):
			_ = cmd.Process.Kill() // it did not stop on SIGTERM
			t.Errorf("ofs process did not stop within 60s of SIGTERM\n%s", out.String())
		}
	})

	cfg := topics.SaramaConfig("outage-test")
	cfg.Producer.Return.Successes = true
	send := func(from, to int) {
		t.Helper()
		deadline := time.Now().Add(2 * time.Minute)
		for {
			producer, err := sarama.NewSyncProducer(broker.Brokers(), cfg)
			if err == nil {
				var msgs []*sarama.ProducerMessage
				for i := from; i < to; i++ {
					msgs = append(msgs, &sarama.ProducerMessage{Topic: string(names.Features),
						Key: sarama.StringEncoder(topics.FeatureKey("user", "user_profile", strconv.Itoa(i))),
						Value: sarama.StringEncoder(fmt.Sprintf(`{"entity":"user","keys":{"user_id":%d},"feature_group":"user_profile","values":{"age":%d,"ctr":%d.5}}`,
							i, i%100, i))})
				}
				err = producer.SendMessages(msgs)
				_ = producer.Close()
			}
			if err == nil {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("produce: %v", err)
			}
			time.Sleep(time.Second) // the topics exist once the process created them
		}
	}
	store, err := views.NewRedis(rc, views.RedisPrefix(name+":"))
	if err != nil {
		t.Fatal(err)
	}
	g, _ := reg.FeatureGroup("user_profile")
	l, err := blocks.NewLayout(g.Active())
	if err != nil {
		t.Fatal(err)
	}
	proj, _ := codec.NewProjection(l, []*codec.Layout{l}, nil)
	stored := func(n int) (int, error) { // rows 0..n-1 stored with their values
		keys := make([]views.Key, n)
		for i := range keys {
			keys[i] = views.Key{Entity: "user", Values: []string{strconv.Itoa(i)}}
		}
		bs, err := store.Read(ctx, keys, []uint32{g.ID})
		if err != nil {
			return 0, err
		}
		got := 0
		var r codec.Reader
		for i, b := range bs {
			if b == nil {
				continue
			}
			if err := r.Open(b, proj, math.MinInt64); err != nil {
				return 0, err
			}
			if r.Int64(0) != int64(i%100) || r.Float32(1) != float32(i)+0.5 {
				return 0, fmt.Errorf("user %d: age %d ctr %v", i, r.Int64(0), r.Float32(1))
			}
			got++
		}
		return got, nil
	}
	waitStored := func(n int, limit time.Duration) {
		t.Helper()
		deadline := time.Now().Add(limit)
		for {
			got, err := stored(n)
			if err != nil {
				t.Fatal(err)
			}
			if got == n {
				return
			}
			select {
			case err := <-exited:
				t.Fatalf("ofs process exited (%v) with %d of %d rows stored\n%s", err, got, n, out.String())
			default:
			}
			if time.Now().After(deadline) {
				t.Fatalf("%d of %d rows stored within %v\n%s", got, n, limit, out.String())
			}
			time.Sleep(200 * time.Millisecond)
		}
	}

	send(0, 20000)
	deadline := time.Now().Add(2 * time.Minute)
	for got := 0; got < 100; { // in the middle of the ingest
		if got, err = stored(20000); err != nil {
			t.Fatal(err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("nothing stored within 2 minutes\n%s", out.String())
		}
	}
	broker.Stop()
	time.Sleep(20 * time.Second)
	select {
	case err := <-exited:
		t.Fatalf("ofs process exited during the outage: %v\n%s", err, out.String())
	default:
	}
	broker.Start()
	send(20000, 25000)
	waitStored(25000, 4*time.Minute)
	select {
	case err := <-exited:
		t.Fatalf("ofs process exited: %v\n%s", err, out.String())
	default:
	}
}
