package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"google.golang.org/protobuf/proto"

	"github.com/ofstack/ofs/internal/testenv"
	featurev1 "github.com/ofstack/ofs/proto/ofs/feature/v1"
	"github.com/ofstack/ofs/topics"
)

// publishEnv starts the registry processor and a server on a fresh prefix
// and applies the example registry; it returns the environment of ofs
// commands for that installation.
func publishEnv(t *testing.T) (env []string, addr, prefix string) {
	t.Helper()
	addr, prefix = testenv.FreeAddr(t, 0), testenv.Name(t)
	env = []string{
		"OFS_KAFKA_BROKERS=" + strings.Join(testenv.Kafka(t), ","),
		"OFS_ETCD_ENDPOINTS=" + strings.Join(testenv.Etcd(t), ","),
		"OFS_PREFIX=" + prefix,
		"OFS_GRPC_ADDR=" + addr,
		"OFS_LOG_LEVEL=warn",
		"OFS_METRICS_ADDR=none",
	}
	return env, addr, prefix
}

func applyExample(t *testing.T, env []string) {
	t.Helper()
	out, err := run(t, env, "apply", "-f", filepath.Join("..", "..", "examples", "registry.yaml"))
	if err != nil {
		t.Fatalf("apply: %v\n%s", err, out)
	}
}

// runSplit runs ofs and returns its stdout and stderr apart, and its exit
// code.
func runSplit(t *testing.T, env []string, stdin string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Env = append(os.Environ(), env...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	cmd.Stdin = strings.NewReader(stdin)
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errorsAs(err, &ee):
		code = ee.ExitCode()
	default:
		t.Fatalf("ofs %v: %v", args, err)
	}
	return o.String(), e.String(), code
}

func embedding(i int) string {
	parts := make([]string, 16)
	for k := range parts {
		parts[k] = fmt.Sprint(float32(i%100)/100 + float32(k))
	}
	return "[" + strings.Join(parts, ",") + "]"
}

func TestPublishJSONLinesAndCSV(t *testing.T) {
	env, addr, prefix := publishEnv(t)
	start(t, env, "process", "registry")
	start(t, env, "serve")
	waitServing(t, addr)
	applyExample(t, env)
	dir := t.TempDir()
	when := time.Now().Add(-time.Minute).UTC().Format(time.RFC3339)

	// 1,000 good lines, 3 bad ones at known lines, and a blank line.
	var js strings.Builder
	bad := map[int]string{
		11:   "unknown_feature",
		502:  "bad_json",
		1004: "wrong_type",
	}
	line, good := 0, 0
	for good < 1000 {
		line++
		switch bad[line] {
		case "unknown_feature":
			fmt.Fprintf(&js, `{"entity":"user","keys":{"user_id":1},"feature_group":"user_profile","values":{"nope":1}}`+"\n")
		case "bad_json":
			js.WriteString(`{"entity":"user","keys":{"user_id":1},` + "\n")
		case "wrong_type":
			fmt.Fprintf(&js, `{"entity":"user","keys":{"user_id":1},"feature_group":"user_profile","values":{"age":"old"}}`+"\n")
		default:
			if line == 700 {
				js.WriteString("   \n")
				continue
			}
			good++
			fmt.Fprintf(&js, `{"entity":"user","keys":{"user_id":%d},"feature_group":"user_profile","event_time":%q,`+
				`"values":{"age":%d,"country":"DE","is_premium":%t,"lifetime_value":%d.5,"embedding":%s}}`+"\n",
				good, when, 20+good%50, good%2 == 0, good, embedding(good))
		}
	}
	line++
	fmt.Fprintf(&js, `{"entity":"user","keys":{"user_id":1},"feature_group":"user_profile","values":{"age":"old"}}`+"\n")
	if line != 1004 {
		t.Fatalf("the wrong_type line is %d, want 1004", line)
	}
	jsonFile := filepath.Join(dir, "events.jsonl")
	if err := os.WriteFile(jsonFile, []byte(js.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	stdout, stderr, code := runSplit(t, env, "", "publish", jsonFile)
	if code != 1 || !strings.Contains(stdout, "sent=1000 failed=3") {
		t.Fatalf("publish json: exit %d, stdout %q, stderr:\n%s\nwant exit 1 and sent=1000 failed=3", code, stdout, stderr)
	}
	for l, codeName := range bad {
		if !regexp.MustCompile(fmt.Sprintf(`(?m)^line %d: %s: `, l, codeName)).MatchString(stderr) {
			t.Errorf("stderr does not report line %d as %s:\n%s", l, codeName, stderr)
		}
	}
	if n := strings.Count(stderr, "\nline ") + boolInt(strings.HasPrefix(stderr, "line ")); n != 3 {
		t.Errorf("stderr reports %d lines, want 3:\n%s", n, stderr)
	}

	// CSV: 40 rows of user_activity and 10 of user_item_affinity.
	csv1 := "user_id,clicks_1h,views_1h,ctr_1h,event_time\n"
	for i := 1; i <= 40; i++ {
		ctr := ""
		if i%4 != 0 {
			ctr = fmt.Sprint(float32(i) / 100)
		}
		csv1 += fmt.Sprintf("%d,%d,%d,%s,%d\n", i, i, 10*i, ctr, time.Now().Add(-time.Hour).Unix())
	}
	csv1 += "41,-3,1,0.5,\n" // clicks_1h is a uint32
	csvFile := filepath.Join(dir, "activity.csv")
	if err := os.WriteFile(csvFile, []byte(csv1), 0o600); err != nil {
		t.Fatal(err)
	}
	stdout, stderr, code = runSplit(t, env, "", "publish", "--format", "csv", "--entity", "user", "--group", "user_activity", "-q", csvFile)
	if code != 1 || !strings.Contains(stdout, "sent=40 failed=1") ||
		!strings.Contains(stderr, `line 42: column 2 (clicks_1h): "-3" is not an unsigned integer`) {
		t.Fatalf("publish csv: exit %d, stdout %q, stderr:\n%s", code, stdout, stderr)
	}
	csv2 := "sku,user_id,score\n"
	for i := 1; i <= 10; i++ {
		csv2 += fmt.Sprintf("\"sku/%d,x\",%d,%v\n", i, i, float32(i)/10)
	}
	stdout, stderr, code = runSplit(t, env, csv2, "publish", "--format", "csv", "--entity", "user_item", "--group", "user_item_affinity", "-")
	if code != 0 || !strings.Contains(stdout, "sent=10 failed=0") {
		t.Fatalf("publish csv from stdin: exit %d, stdout %q, stderr:\n%s", code, stdout, stderr)
	}

	// --no-validate sends a bad line too, with the key it would have.
	raw := `{"entity":"user","keys":{"user_id":5000},"feature_group":"user_profile","values":{"nope":1}}` + "\n"
	stdout, stderr, code = runSplit(t, env, raw, "publish", "--no-validate", "-")
	if code != 0 || !strings.Contains(stdout, "sent=1 failed=0") {
		t.Fatalf("publish --no-validate: exit %d, stdout %q, stderr:\n%s", code, stdout, stderr)
	}

	// Every message on the topic: right key, right header, right count.
	msgs := consumeFeatures(t, testenv.Kafka(t), prefix, 1000+40+10+1)
	counts := map[string]int{}
	for _, m := range msgs {
		ct := header(m, topics.HeaderContentType)
		var wantKey string
		switch ct {
		case topics.ContentTypeJSON:
			var ev struct {
				Entity string           `json:"entity"`
				Group  string           `json:"feature_group"`
				Keys   map[string]int64 `json:"keys"`
			}
			if err := json.Unmarshal(m.Value, &ev); err != nil {
				t.Fatalf("message %s: %v", m.Value, err)
			}
			wantKey = topics.FeatureKey(ev.Entity, ev.Group, fmt.Sprint(ev.Keys["user_id"]))
			counts[ev.Group]++
		case topics.ContentTypeProtobuf:
			var ev featurev1.FeatureEvent
			if err := proto.Unmarshal(m.Value, &ev); err != nil {
				t.Fatalf("message at %d/%d: %v", m.Partition, m.Offset, err)
			}
			vals := []string{fmt.Sprint(ev.GetKeys()["user_id"].GetInt64Value())}
			if sku := ev.GetKeys()["sku"]; sku != nil {
				vals = append(vals, sku.GetStringValue())
			}
			wantKey = topics.FeatureKey(ev.GetEntity(), ev.GetFeatureGroup(), vals...)
			counts[ev.GetFeatureGroup()]++
			if ev.GetFeatureGroup() == "user_activity" {
				if ev.GetEventTime() == nil || len(ev.GetValues()) != 2+boolInt(ev.GetKeys()["user_id"].GetInt64Value()%4 != 0) {
					t.Errorf("user_activity event %v: want an event time and ctr_1h only where the cell was set", &ev)
				}
			}
		default:
			t.Fatalf("message at %d/%d has content type %q", m.Partition, m.Offset, ct)
		}
		if string(m.Key) != wantKey {
			t.Errorf("message at %d/%d has key %q, want %q", m.Partition, m.Offset, m.Key, wantKey)
		}
	}
	if want := map[string]int{"user_profile": 1001, "user_activity": 40, "user_item_affinity": 10}; fmt.Sprint(counts) != fmt.Sprint(want) {
		t.Fatalf("messages per group %v, want %v", counts, want)
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func header(m *sarama.ConsumerMessage, name string) string {
	for _, h := range m.Headers {
		if strings.EqualFold(string(h.Key), name) {
			return string(h.Value)
		}
	}
	return ""
}

// consumeFeatures reads every message of the features topic of prefix and
// checks that there are exactly want of them.
func consumeFeatures(t *testing.T, brokers []string, prefix string, want int) []*sarama.ConsumerMessage {
	t.Helper()
	names, err := topics.For(prefix)
	if err != nil {
		t.Fatal(err)
	}
	topic := string(names.Features)
	client, err := sarama.NewClient(brokers, topics.SaramaConfig("publish-test"))
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	parts, err := client.Partitions(topic)
	if err != nil {
		t.Fatal(err)
	}
	consumer, err := sarama.NewConsumerFromClient(client)
	if err != nil {
		t.Fatal(err)
	}
	defer consumer.Close()
	var out []*sarama.ConsumerMessage
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for _, p := range parts {
		end, err := client.GetOffset(topic, p, sarama.OffsetNewest)
		if err != nil {
			t.Fatal(err)
		}
		if end == 0 {
			continue
		}
		pc, err := consumer.ConsumePartition(topic, p, sarama.OffsetOldest)
		if err != nil {
			t.Fatal(err)
		}
		for done := false; !done; {
			select {
			case m := <-pc.Messages():
				out = append(out, m)
				done = m.Offset >= end-1
			case <-ctx.Done():
				t.Fatalf("partition %d: not at offset %d within 2 minutes", p, end)
			}
		}
		if err := pc.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if len(out) != want {
		t.Fatalf("%d messages on %s, want %d", len(out), topic, want)
	}
	return out
}
