package topics_test

import (
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/IBM/sarama"

	"github.com/ofstack/ofs/internal/testenv"
	"github.com/ofstack/ofs/topics"
)

// TestKeysLandWhereOtherClientsPutThem produces the same feature keys with
// ofs's producer configuration and with kcat (librdkafka, murmur2_random,
// the partitioner of Java's client and of Spark's Kafka sink), and checks
// that every key lands on the same partition from both.
func TestKeysLandWhereOtherClientsPutThem(t *testing.T) {
	kcat := testenv.Tool(t, "kcat")
	names, brokers := testenv.Topics(t, 12)
	topic := string(names.Features)

	keys := make([]string, 0, 202)
	for i := range 200 {
		keys = append(keys, topics.FeatureKey("user", "user_profile", strconv.Itoa(i)))
	}
	keys = append(keys, topics.FeatureKey("user_item", "affinity", "42", "a/b%c"), topics.FeatureKey("item", "stats", "sku-ü"))

	cfg := topics.SaramaConfig("partitioner-test")
	cfg.Producer.Return.Successes = true
	producer, err := sarama.NewSyncProducer(brokers, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer producer.Close()
	ours := map[string]int32{}
	used := map[int32]bool{}
	for _, k := range keys {
		part, _, err := producer.SendMessage(&sarama.ProducerMessage{Topic: topic, Key: sarama.StringEncoder(k), Value: sarama.StringEncoder("sarama")})
		if err != nil {
			t.Fatal(err)
		}
		ours[k] = part
		used[part] = true
	}
	if len(used) < 10 {
		t.Fatalf("200 keys went to %d of 12 partitions", len(used))
	}

	var in strings.Builder
	for _, k := range keys {
		in.WriteString(k + "\tkcat\n")
	}
	produce := exec.Command(kcat, "-b", strings.Join(brokers, ","), "-t", topic, "-P", "-K", "\t",
		"-X", "partitioner=murmur2_random")
	produce.Stdin = strings.NewReader(in.String())
	if out, err := produce.CombinedOutput(); err != nil {
		t.Fatalf("kcat -P: %v\n%s", err, out)
	}
	out, err := exec.Command(kcat, "-b", strings.Join(brokers, ","), "-t", topic, "-C", "-o", "beginning", "-e", "-q",
		"-f", "%k\t%s\t%p\n").CombinedOutput()
	if err != nil {
		t.Fatalf("kcat -C: %v\n%s", err, out)
	}
	seen := 0
	for line := range strings.SplitSeq(strings.TrimSpace(string(out)), "\n") {
		f := strings.Split(line, "\t")
		if len(f) != 3 || f[1] != "kcat" {
			continue
		}
		seen++
		if f[2] != strconv.Itoa(int(ours[f[0]])) {
			t.Errorf("key %q: kcat put it on partition %s, ofs on %d", f[0], f[2], ours[f[0]])
		}
	}
	if seen != len(keys) {
		t.Fatalf("read back %d of kcat's %d messages:\n%s", seen, len(keys), out)
	}
}
