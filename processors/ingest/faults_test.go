package ingest_test

import (
	"bufio"
	"context"
	"fmt"
	"hash/fnv"
	"io"
	"math"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/ofstack/ofs/internal/testenv"
	"github.com/ofstack/ofs/processors/ingest"
	featurev1 "github.com/ofstack/ofs/proto/ofs/feature/v1"
	"github.com/ofstack/ofs/schema"
	"github.com/ofstack/ofs/topics"
	"github.com/ofstack/ofs/views"
	"github.com/ofstack/ofs/views/registrycopy"
)

// TestMain quiets go-redis, which logs every failed dial of the outage test.
func TestMain(m *testing.M) {
	redis.SetLogger(quietRedis{})
	os.Exit(m.Run())
}

type quietRedis struct{}

func (quietRedis) Printf(context.Context, string, ...any) {}

// startRedis runs a redis-server of the test's own on port with its files
// in dir. Every acknowledged write is in its append-only file
// (appendfsync always), so a server killed and started again on the same
// dir holds everything it acknowledged: what a store must do for "nothing
// lost" to be the processor's doing.
func startRedis(t *testing.T, dir string, port int) *exec.Cmd {
	t.Helper()
	bin := testenv.Tool(t, "redis-server")
	cmd := exec.Command(bin, "--bind", "127.0.0.1", "--port", strconv.Itoa(port), "--save", "",
		"--appendonly", "yes", "--appendfsync", "always", "--dir", dir, "--daemonize", "no",
		"--logfile", filepath.Join(dir, "redis.log"))
	if err := cmd.Start(); err != nil {
		t.Fatalf("start redis-server: %v", err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill() // the test's own server; only its end matters
			_ = cmd.Wait()
		}
	})
	client := redis.NewClient(&redis.Options{Addr: fmt.Sprintf("127.0.0.1:%d", port)})
	defer client.Close()
	eventually(t, 30*time.Second, "redis-server to answer", func() bool {
		// Ready once the append-only file is loaded: PING answers LOADING before.
		return client.Ping(context.Background()).Err() == nil
	})
	return cmd
}

func counterValue(reg *prometheus.Registry, name string) float64 {
	mfs, err := reg.Gather()
	if err != nil {
		return 0
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	return 0
}

// lag is the sum of ofs_ingest_lag_messages over the partitions, or -1
// when no partition reports one.
func lag(t *testing.T, reg *prometheus.Registry) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "ofs_ingest_lag_messages" {
			sum := 0.0
			for _, m := range mf.GetMetric() {
				sum += m.GetGauge().GetValue()
			}
			return sum
		}
	}
	return -1
}

func histogramCount(reg *prometheus.Registry, name string) uint64 {
	mfs, err := reg.Gather()
	if err != nil {
		return 0
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf.GetMetric()[0].GetHistogram().GetSampleCount()
		}
	}
	return 0
}

// TestRedisOutage: Redis is killed during ingest and started again 10 s
// later; the processor waits and retries, and every event is stored with
// its values. The lag metric shows the events not stored during the outage.
func TestRedisOutage(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a redis-server: not run with -short")
	}
	e := setup(t, 2)
	dir, port := t.TempDir(), testenv.FreePort(t)
	srv := startRedis(t, dir, port)
	client := redis.NewClient(&redis.Options{Addr: fmt.Sprintf("127.0.0.1:%d", port), MaxRetries: -1,
		DialTimeout: time.Second, ReadTimeout: 2 * time.Second, WriteTimeout: 2 * time.Second})
	t.Cleanup(func() { _ = client.Close() })
	store, err := views.NewRedis(client, views.RedisPrefix(e.prefix))
	if err != nil {
		t.Fatal(err)
	}
	reg, _ := e.run(t, store, ingest.WithBackoff(20*time.Millisecond, 500*time.Millisecond))
	p := e.producer(t)
	at := time.Now().Add(-time.Minute).UTC().Truncate(time.Microsecond)
	batch := func(from, to int64) []*sarama.ProducerMessage {
		var msgs []*sarama.ProducerMessage
		for i := from; i < to; i++ {
			msgs = append(msgs, jsonEvent(e.names, i, at, int(i%100), float32(i)/4, "o"+strconv.FormatInt(i%7, 10)))
		}
		return msgs
	}

	e.send(t, p, batch(0, 5000))
	eventually(t, 2*time.Minute, "the first 5000 rows written", func() bool { return written(reg) >= 5000 })

	if err := srv.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = srv.Wait() // killed: the exit status says so
	down := time.Now()
	e.send(t, p, batch(5000, 10000))
	eventually(t, 10*time.Second, "the processor to retry against the stopped Redis", func() bool {
		return counterValue(reg, "ofs_ingest_store_retries_total") > 0
	})
	if got := written(reg); got >= 10000 {
		t.Fatalf("%v rows acknowledged while Redis was down", got)
	}
	// Read but not stored counts as behind: the lag is the whole second half.
	eventually(t, 10*time.Second, "a lag of the 5000 events not stored", func() bool { return lag(t, reg) == 5000 })
	time.Sleep(time.Until(down.Add(10 * time.Second))) // the outage lasts 10 s
	startRedis(t, dir, port)

	eventually(t, 2*time.Minute, "all 10000 rows written", func() bool { return written(reg) >= 10000 })
	eventually(t, 10*time.Second, "no lag", func() bool { return lag(t, reg) == 0 })
	if n := histogramCount(reg, "ofs_ingest_event_age_seconds"); n != 10000 {
		t.Errorf("ofs_ingest_event_age_seconds counts %d events, want 10000", n)
	}
	ids := make([]int64, 10000)
	for i := range ids {
		ids[i] = int64(i)
	}
	rows := readProfiles(t, e.reg, store, ids)
	if len(rows) != 10000 {
		t.Fatalf("%d of 10000 rows in Redis after the outage", len(rows))
	}
	for _, i := range ids {
		want := row{age: i % 100, ctr: float32(i) / 4, country: "o" + strconv.FormatInt(i%7, 10), time: at.UnixMicro()}
		if rows[i] != want {
			t.Fatalf("user %d: %+v, want %+v", i, rows[i], want)
		}
	}
	verifyStore(t, e, store)
}

// The helper process: the ingest processor in a process of its own, so that
// a test can SIGKILL it. It runs when the test binary is started with
// OFS_INGEST_HELPER=1 and the test selected; it prints "written <n>" as
// rows are acknowledged, and runs until it is killed or gets SIGTERM.
func TestHelperProcess(*testing.T) {
	if os.Getenv("OFS_INGEST_HELPER") != "1" {
		return // a helper, not a test: run only by the tests that start it
	}
	if err := runHelper(); err != nil {
		fmt.Fprintln(os.Stderr, "helper:", err)
		os.Exit(1)
	}
	os.Exit(0)
}

func runHelper() error {
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	go func() {
		ch := make(chan os.Signal, 1)
		signal.Notify(ch, syscall.SIGTERM, os.Interrupt)
		<-ch
		stop()
	}()
	names, err := topics.For(os.Getenv("HELPER_PREFIX"))
	if err != nil {
		return err
	}
	cli, err := clientv3.New(clientv3.Config{Endpoints: strings.Split(os.Getenv("HELPER_ETCD"), ","), DialTimeout: 5 * time.Second})
	if err != nil {
		return err
	}
	defer cli.Close()
	holder := schema.NewHolder(nil)
	w := registrycopy.NewWatcher(cli, registrycopy.Root(names.Prefix), holder, quiet)
	go func() { _ = w.Run(ctx) }()
	<-w.Ready()
	client := redis.NewClient(&redis.Options{Addr: os.Getenv("HELPER_REDIS")})
	defer client.Close()
	store, err := views.NewRedis(client, views.RedisPrefix(os.Getenv("HELPER_REDIS_PREFIX")))
	if err != nil {
		return err
	}
	reg := prometheus.NewRegistry()
	p, err := ingest.New(strings.Split(os.Getenv("HELPER_BROKERS"), ","), names, holder,
		ingest.ByConnection(map[string]views.Store{"default": store}), ingest.WithRegisterer(reg), ingest.WithLogger(quiet))
	if err != nil {
		return err
	}
	go func() {
		for ctx.Err() == nil {
			fmt.Printf("written %d\n", int64(written(reg)))
			time.Sleep(20 * time.Millisecond)
		}
	}()
	return p.Run(ctx)
}

// helper starts the helper process for env e.
func (e *env) helper(t *testing.T) (*exec.Cmd, io.Reader) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), "OFS_INGEST_HELPER=1",
		"HELPER_PREFIX="+e.names.Prefix,
		"HELPER_ETCD="+strings.Join(e.etcd.Endpoints(), ","),
		"HELPER_REDIS="+e.redis.Options().Addr,
		"HELPER_REDIS_PREFIX="+e.prefix,
		"HELPER_BROKERS="+strings.Join(e.brokers, ","))
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill() // the helper is the test's own
			_ = cmd.Wait()
		}
	})
	return cmd, out
}

// killEvents is the number of events of TestKillAndRestart.
const killEvents = 200_000

// killEvent is event i of TestKillAndRestart: JSON for even i, protobuf for odd.
func killEvent(names topics.Names, i int64, at time.Time) *sarama.ProducerMessage {
	age, ctr, country := int(i%100), float32(i)/16, "k"+strconv.FormatInt(i%50, 10)
	if i%2 == 0 {
		return jsonEvent(names, i, at, age, ctr, country)
	}
	b, err := proto.Marshal(&featurev1.FeatureEvent{Entity: "user", FeatureGroup: "user_profile",
		Keys:      map[string]*featurev1.Value{"user_id": {Kind: &featurev1.Value_Int64Value{Int64Value: i}}},
		EventTime: timestamppb.New(at),
		Values: map[string]*featurev1.Value{
			"age":     {Kind: &featurev1.Value_Int64Value{Int64Value: int64(age)}},
			"ctr":     {Kind: &featurev1.Value_FloatValue{FloatValue: ctr}},
			"country": {Kind: &featurev1.Value_StringValue{StringValue: country}},
		}})
	if err != nil {
		panic(err)
	}
	return &sarama.ProducerMessage{Topic: string(names.Features), Key: sarama.StringEncoder(topics.FeatureKey("user", "user_profile", strconv.FormatInt(i, 10))),
		Value: sarama.ByteEncoder(b), Headers: []sarama.RecordHeader{{Key: []byte(topics.HeaderContentType), Value: []byte(topics.ContentTypeProtobuf)}}}
}

// checksum folds rows, in id order, into one number.
func checksum(rows map[int64]row) uint64 {
	ids := make([]int64, 0, len(rows))
	for id := range rows {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	h := fnv.New64a()
	for _, id := range ids {
		r := rows[id]
		fmt.Fprintf(h, "%d|%d|%08x|%s|%d\n", id, r.age, math.Float32bits(r.ctr), r.country, r.time)
	}
	return h.Sum64()
}

// TestKillAndRestart: the processor, a process of its own, is killed with
// SIGKILL in the middle of 200,000 events and started again: every event is
// in the store, with its values (count and checksum match the topic's).
func TestKillAndRestart(t *testing.T) {
	e := setup(t, 4)
	at := time.Now().Add(-time.Minute).UTC().Truncate(time.Microsecond)
	want := make(map[int64]row, killEvents)
	msgs := make([]*sarama.ProducerMessage, 0, killEvents)
	for i := range int64(killEvents) {
		msgs = append(msgs, killEvent(e.names, i, at))
		want[i] = row{age: i % 100, ctr: float32(i) / 16, country: "k" + strconv.FormatInt(i%50, 10), time: at.UnixMicro()}
	}
	e.send(t, e.producer(t), msgs)

	first, out := e.helper(t)
	lines := bufio.NewScanner(out)
	var atKill int64
	for lines.Scan() {
		n, err := strconv.ParseInt(strings.TrimPrefix(lines.Text(), "written "), 10, 64)
		if err == nil && n >= 20_000 {
			atKill = n
			break
		}
	}
	if err := first.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = first.Wait() // killed: the exit status says so
	if atKill == 0 || atKill >= killEvents {
		t.Fatalf("the helper reported %d rows written before the kill; the kill must land in the middle", atKill)
	}
	t.Logf("killed after %d rows were acknowledged", atKill)

	second, out2 := e.helper(t)
	go func() { _, _ = io.Copy(io.Discard, out2) }()
	ids := make([]int64, killEvents)
	for i := range ids {
		ids[i] = int64(i)
	}
	var rows map[int64]row
	eventually(t, 5*time.Minute, "all 200000 rows in Redis after the restart", func() bool {
		rows = readProfiles(t, e.reg, e.store, ids)
		return len(rows) == killEvents
	})
	if got, w := checksum(rows), checksum(want); got != w {
		for i, r := range want {
			if rows[i] != r {
				t.Errorf("user %d: %+v, want %+v", i, rows[i], r)
				break
			}
		}
		t.Fatalf("checksum %x, want %x", got, w)
	}
	verifyStore(t, e, e.store)
	if err := second.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := second.Wait(); err != nil {
		t.Fatalf("the restarted helper did not stop cleanly on SIGTERM: %v", err)
	}
}
