package testenv_test

import (
	"testing"
	"time"

	"github.com/ofstack/ofs/internal/testenv"
	"github.com/ofstack/ofs/topics"
)

func TestPrivateKafkaStopsAndStarts(t *testing.T) {
	b := testenv.PrivateKafka(t)
	names, _ := topics.For(testenv.Name(t))
	b.Ensure(names, 2)
	t0 := time.Now()
	b.Stop()
	b.Start()
	t.Logf("restart took %v", time.Since(t0))
	b.Ensure(names, 2) // the topics survived
}
