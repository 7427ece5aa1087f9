package testenv

import (
	"strings"
	"sync"
	"testing"

	"github.com/ofstack/ofs/topics"
)

// usedKafka maps a test to the dev brokers it asked Kafka for.
var usedKafka sync.Map // testing.TB -> []string

// deleteTopics deletes the topics on the dev Kafka whose names start with
// name and a separator ('.' for streams, '-' for goka's group tables), if the
// test used the dev Kafka and passed. A failed test keeps them for kcat. A
// failure to delete is logged, not the test's failure.
func deleteTopics(tb testing.TB, name string) {
	v, ok := usedKafka.Load(tb)
	if !ok || tb.Failed() {
		return
	}
	admin, err := topics.NewAdmin(v.([]string), topics.Security{})
	if err != nil {
		tb.Logf("testenv: topics of %s left on the dev Kafka: %v", name, err)
		return
	}
	defer admin.Close()
	all, err := admin.ListTopics()
	if err != nil {
		tb.Logf("testenv: topics of %s left on the dev Kafka: %v", name, err)
		return
	}
	for topic := range all {
		if rest, ok := strings.CutPrefix(topic, name); ok && (strings.HasPrefix(rest, ".") || strings.HasPrefix(rest, "-")) {
			if err := admin.DeleteTopic(topic); err != nil {
				tb.Logf("testenv: delete topic %s: %v", topic, err)
			}
		}
	}
}
