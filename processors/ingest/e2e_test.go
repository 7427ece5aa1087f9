package ingest_test

import (
	"context"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/gocql/gocql"

	"github.com/ofstack/ofs/codec"
	"github.com/ofstack/ofs/internal/blocks"
	"github.com/ofstack/ofs/internal/events"
	"github.com/ofstack/ofs/internal/testenv"
	"github.com/ofstack/ofs/schema"
	"github.com/ofstack/ofs/topics"
	"github.com/ofstack/ofs/views"
)

// TestJSONEventIsStored: an event produced as raw JSON without a
// content-type header, as kcat produces it, ends up in Redis and reads back
// as its values; and one produced by kcat itself, when it is installed.
func TestJSONEventIsStored(t *testing.T) {
	e := setup(t, 2)
	at := time.Now().Add(-time.Minute).UTC().Truncate(time.Microsecond)
	p := e.producer(t)
	e.send(t, p, []*sarama.ProducerMessage{jsonEvent(e.names, 42, at, 31, 0.125, "DE")})
	e.run(t, e.store)

	eventually(t, time.Minute, "user 42 in Redis", func() bool { return len(readProfiles(t, e.reg, e.store, []int64{42})) == 1 })
	got := readProfiles(t, e.reg, e.store, []int64{42})[42]
	if want := (row{age: 31, ctr: 0.125, country: "DE", time: at.UnixMicro()}); got != want {
		t.Fatalf("stored %+v, want %+v", got, want)
	}

	t.Run("kcat", func(t *testing.T) {
		kcat := testenv.Tool(t, "kcat")
		line := fmt.Sprintf("%s|%s\n", topics.FeatureKey("user", "user_profile", "43"),
			`{"entity":"user","keys":{"user_id":43},"feature_group":"user_profile","values":{"age":44,"ctr":0.5,"country":"FR"}}`)
		cmd := exec.Command(kcat, "-b", strings.Join(e.brokers, ","), "-t", string(e.names.Features), "-P", "-K", "|")
		cmd.Stdin = strings.NewReader(line)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("kcat: %v\n%s", err, out)
		}
		eventually(t, time.Minute, "user 43 in Redis", func() bool { return len(readProfiles(t, e.reg, e.store, []int64{43})) == 1 })
		got := readProfiles(t, e.reg, e.store, []int64{43})[43]
		// No event_time: the Kafka timestamp that kcat set is the event time.
		if got.age != 44 || got.ctr != 0.5 || got.country != "FR" || time.Since(time.UnixMicro(got.time)) > time.Hour {
			t.Fatalf("stored %+v, want age 44, ctr 0.5, FR at about now", got)
		}
	})
}

// TestOlderEventDoesNotOverwrite: per key the latest event time wins, even
// when the older event arrives last.
func TestOlderEventDoesNotOverwrite(t *testing.T) {
	e := setup(t, 1)
	newer := time.Now().Add(-time.Minute).UTC().Truncate(time.Microsecond)
	older := newer.Add(-time.Hour)
	p := e.producer(t)
	e.send(t, p, []*sarama.ProducerMessage{
		jsonEvent(e.names, 7, newer, 2, 0.2, "new"),
		jsonEvent(e.names, 7, older, 1, 0.1, "old"),
		jsonEvent(e.names, 8, older, 1, 0.1, "marker"), // after both, on the one partition
	})
	e.run(t, e.store)
	eventually(t, time.Minute, "the marker in Redis", func() bool { return len(readProfiles(t, e.reg, e.store, []int64{8})) == 1 })
	got := readProfiles(t, e.reg, e.store, []int64{7})[7]
	if want := (row{age: 2, ctr: 0.2, country: "new", time: newer.UnixMicro()}); got != want {
		t.Fatalf("stored %+v, want the newer row %+v", got, want)
	}
}

// malformed is one kind of bad event: how to make the n-th, and what its
// dead letter must say.
type malformed struct {
	code   events.Code
	make   func(n int64) (key string, value []byte)
	reason func(n int64) string
}

func badKinds(at string) []malformed {
	uk := func(n int64) string { return topics.FeatureKey("user", "user_profile", strconv.FormatInt(n, 10)) }
	ev := func(n int64, values string) []byte {
		return fmt.Appendf(nil, `{"entity":"user","keys":{"user_id":%d},"feature_group":"user_profile","event_time":%q,"values":%s}`, n, at, values)
	}
	return []malformed{
		{events.CodeBadJSON, func(n int64) (string, []byte) {
			return "bad", fmt.Appendf(nil, `{"entity":"user","keys":{"user_id":%d`, n)
		},
			func(int64) string { return "the JSON ends early" }},
		{events.CodeBadProtobuf, func(n int64) (string, []byte) {
			return "bad", append([]byte{0x0a, 0x04, 'u', 's', 'e', 'r', 0x12, 0x7f}, strconv.FormatInt(n, 10)...)
		}, func(int64) string { return "FeatureEvent" }},
		{events.CodeUnknownEntity, func(n int64) (string, []byte) {
			return "bad", fmt.Appendf(nil, `{"entity":"customer","keys":{"id":%d},"feature_group":"user_profile"}`, n)
		}, func(int64) string { return `entity "customer" is not in the registry` }},
		{events.CodeUnknownGroup, func(n int64) (string, []byte) {
			return "bad", fmt.Appendf(nil, `{"entity":"user","keys":{"user_id":%d},"feature_group":"user_profiles"}`, n)
		}, func(int64) string { return `feature group "user_profiles" is not in the registry` }},
		{events.CodeUnknownFeature, func(n int64) (string, []byte) { return uk(n), ev(n, `{"agee":3}`) },
			func(int64) string { return `no feature "agee"` }},
		{events.CodeWrongType, func(n int64) (string, []byte) { return uk(n), ev(n, `{"age":"thirty"}`) },
			func(int64) string { return `feature "age" is int8; got a string` }},
		{events.CodeOutOfRange, func(n int64) (string, []byte) { return uk(n), ev(n, fmt.Sprintf(`{"age":%d}`, 200+n%50)) },
			func(n int64) string { return fmt.Sprintf(`%d is out of the range of int8`, 200+n%50) }},
		{events.CodeWrongLength, func(n int64) (string, []byte) { return uk(n), ev(n, `{"emb":[1,2,3]}`) },
			func(int64) string { return `feature "emb" is fp32[2]; got a vector of 3` }},
		{events.CodeMissingKey, func(n int64) (string, []byte) {
			return "bad", fmt.Appendf(nil, `{"entity":"user","keys":{},"feature_group":"user_profile","values":{"ctr":%d}}`, n)
		}, func(int64) string { return `key "user_id" of entity "user" has no value` }},
		{events.CodeBadEventTime, func(n int64) (string, []byte) {
			return uk(n), fmt.Appendf(nil, `{"entity":"user","keys":{"user_id":%d},"feature_group":"user_profile","event_time":"2100-01-01T00:00:00Z"}`, n)
		}, func(int64) string { return "ahead of the ingest clock" }},
	}
}

// TestMalformedEventsGoToDeadLetters: 1,000 malformed events of 10 kinds
// interleaved with 1,000 good ones: every bad one is on the dead-letter
// topic with its original bytes and a reason that names the problem, and
// every good one is stored.
func TestMalformedEventsGoToDeadLetters(t *testing.T) {
	e := setup(t, 3)
	at := time.Now().Add(-time.Minute).UTC().Truncate(time.Microsecond)
	kinds := badKinds(at.Format(time.RFC3339Nano))
	type expect struct {
		kind malformed
		n    int64
	}
	bad := map[string]expect{} // by value
	msgs := make([]*sarama.ProducerMessage, 0, 2000)
	good := make([]int64, 0, 1000)
	for i := range int64(1000) {
		good = append(good, i)
		msgs = append(msgs, jsonEvent(e.names, i, at, int(i%100), float32(i)/8, "c"+strconv.FormatInt(i%10, 10)))
		n := 1_000_000 + i
		k := kinds[i%10]
		key, value := k.make(n)
		bad[string(value)] = expect{k, n}
		msgs = append(msgs, &sarama.ProducerMessage{Topic: string(e.names.Features), Key: sarama.StringEncoder(key), Value: sarama.ByteEncoder(value)})
	}
	if len(bad) != 1000 {
		t.Fatalf("%d distinct bad events, want 1000", len(bad))
	}
	e.send(t, e.producer(t), msgs)
	reg, _ := e.run(t, e.store)

	// Every dead letter, read from the topic.
	consumer, err := sarama.NewConsumer(e.brokers, topics.SaramaConfig("dlq-reader"))
	if err != nil {
		t.Fatal(err)
	}
	defer consumer.Close()
	pc, err := consumer.ConsumePartition(string(e.names.DeadLetters), 0, sarama.OffsetOldest)
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	seen := map[string]bool{}
	timeout := time.After(3 * time.Minute)
	for len(seen) < 1000 {
		select {
		case m := <-pc.Messages():
			want, ok := bad[string(m.Value)]
			if !ok {
				t.Fatalf("unexpected dead letter %q", m.Value)
			}
			if seen[string(m.Value)] {
				t.Fatalf("dead letter %q twice", m.Value)
			}
			seen[string(m.Value)] = true
			h := map[string]string{}
			for _, rh := range m.Headers {
				h[string(rh.Key)] = string(rh.Value)
			}
			if h[topics.HeaderDLQCode] != string(want.kind.code) || !strings.Contains(h[topics.HeaderDLQReason], want.kind.reason(want.n)) {
				t.Fatalf("dead letter of %q: code %q reason %q; want %s saying %q", m.Value, h[topics.HeaderDLQCode],
					h[topics.HeaderDLQReason], want.kind.code, want.kind.reason(want.n))
			}
			if h[topics.HeaderDLQTopic] != string(e.names.Features) || h[topics.HeaderDLQOffset] == "" || h[topics.HeaderDLQPartition] == "" {
				t.Fatalf("dead letter of %q lacks its source: %v", m.Value, h)
			}
		case <-timeout:
			t.Fatalf("only %d of 1000 dead letters after 3 minutes", len(seen))
		}
	}

	eventually(t, 2*time.Minute, "1000 rows written", func() bool { return written(reg) >= 1000 })
	rows := readProfiles(t, e.reg, e.store, good)
	if len(rows) != 1000 {
		t.Fatalf("%d good rows stored, want 1000", len(rows))
	}
	for _, i := range good {
		want := row{age: i % 100, ctr: float32(i) / 8, country: "c" + strconv.FormatInt(i%10, 10), time: at.UnixMicro()}
		if rows[i] != want {
			t.Fatalf("user %d: %+v, want %+v", i, rows[i], want)
		}
	}
	// No bad event left a row.
	if got := readProfiles(t, e.reg, e.store, []int64{1_000_004, 1_000_005, 1_000_006}); len(got) != 0 {
		t.Fatalf("rows of bad events stored: %v", got)
	}
}

// TestScyllaStore: a feature group whose store is a Scylla (here Cassandra)
// store is written there, the entity's table created by the processor, while
// the groups of a Redis store go to Redis.
func TestScyllaStore(t *testing.T) {
	hosts := testenv.Cassandra(t)
	e := setup(t, 1,
		schema.ApplyStore{ID: "wide", Kind: schema.Scylla, Connection: "cassandra"},
		schema.ApplyFeatureGroup{Name: "user_cql", Entity: "user", ID: 3, Store: "wide",
			Features: []schema.Feature{{Name: "score", Type: schema.FP64}, {Name: "label", Type: schema.String}}})
	ks := testenv.Name(t)
	scylla, err := views.OpenScylla(hosts, views.ScyllaKeyspace(ks), views.ScyllaTimeout(30*time.Second),
		views.ScyllaAuth(testenv.CassandraUser, testenv.CassandraPassword))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		scylla.Close()
		cluster := gocql.NewCluster(hosts...)
		cluster.Timeout = 30 * time.Second
		cluster.Authenticator = gocql.PasswordAuthenticator{Username: testenv.CassandraUser, Password: testenv.CassandraPassword}
		if host, port, ok := strings.Cut(hosts[0], ":"); ok {
			cluster.Hosts = []string{host}
			cluster.Port, _ = strconv.Atoi(port)
		}
		s, err := cluster.CreateSession()
		if err != nil {
			t.Errorf("drop keyspace: %v", err)
			return
		}
		defer s.Close()
		if err := s.Query(`DROP KEYSPACE IF EXISTS "` + ks + `"`).Exec(); err != nil {
			t.Errorf("drop keyspace %s: %v", ks, err)
		}
	})
	at := time.Now().Add(-time.Minute).UTC().Truncate(time.Microsecond)
	e.send(t, e.producer(t), []*sarama.ProducerMessage{
		{Topic: string(e.names.Features), Key: sarama.StringEncoder(topics.FeatureKey("user", "user_cql", "9")),
			Value: sarama.StringEncoder(fmt.Sprintf(`{"entity":"user","keys":{"user_id":9},"feature_group":"user_cql","event_time":%q,"values":{"score":2.5,"label":"gold"}}`,
				at.Format(time.RFC3339Nano)))},
		jsonEvent(e.names, 9, at, 9, 0.9, "SE"),
	})
	e.runStores(t, map[string]views.Store{"default": e.store, "cassandra": scylla})

	eventually(t, 2*time.Minute, "user 9 in Redis", func() bool { return len(readProfiles(t, e.reg, e.store, []int64{9})) == 1 })
	g, _ := e.reg.FeatureGroup("user_cql")
	var got []byte
	eventually(t, 2*time.Minute, "user 9 in Cassandra", func() bool {
		bs, err := scylla.Read(context.Background(), []views.Key{{Entity: "user", Values: []string{"9"}}}, []uint32{g.ID})
		if err != nil {
			return false // the table may not exist yet
		}
		got = bs[0]
		return got != nil
	})
	l, err := blocks.NewLayout(g.Active())
	if err != nil {
		t.Fatal(err)
	}
	p, _ := codec.NewProjection(l, []*codec.Layout{l}, nil)
	var r codec.Reader
	if err := r.Open(got, p, at.UnixMicro()); err != nil {
		t.Fatal(err)
	}
	if r.Float64(0) != 2.5 || r.String(1) != "gold" || r.Header().EventTime != at.UnixMicro() {
		t.Fatalf("Cassandra holds %v %q at %d", r.Float64(0), r.String(1), r.Header().EventTime)
	}
	// The Redis store got nothing of user_cql.
	if bs, err := e.store.Read(context.Background(), []views.Key{{Entity: "user", Values: []string{"9"}}}, []uint32{g.ID}); err != nil || bs[0] != nil {
		t.Fatalf("Redis read of user_cql: %v %v, want nothing", bs, err)
	}
}
