package ingest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/lovoo/goka"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/ofstack/ofs/internal/events"
	"github.com/ofstack/ofs/schema"
	"github.com/ofstack/ofs/topics"
	"github.com/ofstack/ofs/views"
)

// The lane tests drive a partition's batching directly, with several
// messages in flight at once, which goka's tester (one message at a time)
// cannot do.

// emitted is a message a test producer or context was given.
type emitted struct {
	topic, key string
	value      []byte
	headers    goka.Headers
}

// outbox is a goka.Producer that records messages and acknowledges them at
// once, or refuses the first refuse sends to a topic of refuseTopic.
type outbox struct {
	mu          sync.Mutex
	out         []emitted
	refuseTopic string
	refuse      int
	refused     int
}

func (o *outbox) EmitWithHeaders(topic, key string, value []byte, h goka.Headers) *goka.Promise {
	o.mu.Lock()
	defer o.mu.Unlock()
	_, finish := goka.NewPromiseWithFinisher()
	if topic == o.refuseTopic && o.refused < o.refuse {
		o.refused++
		return finish(nil, errors.New("kafka: refused"))
	}
	o.out = append(o.out, emitted{topic, key, value, h})
	return finish(&sarama.ProducerMessage{}, nil)
}

func (o *outbox) Emit(topic, key string, value []byte) *goka.Promise {
	return o.EmitWithHeaders(topic, key, value, nil)
}

func (o *outbox) Close() error { return nil }

func (o *outbox) messages(topic string) []emitted {
	o.mu.Lock()
	defer o.mu.Unlock()
	var out []emitted
	for _, e := range o.out {
		if e.topic == topic {
			out = append(out, e)
		}
	}
	return out
}

// commits records the order and outcome of deferred commits.
type commits struct {
	mu   sync.Mutex
	got  []int
	errs map[int]error
	all  chan struct{}
	want int
}

func newCommits(want int) *commits {
	return &commits{errs: map[int]error{}, all: make(chan struct{}), want: want}
}

func (c *commits) done(i int) func(error) {
	return func(err error) {
		c.mu.Lock()
		defer c.mu.Unlock()
		c.got = append(c.got, i)
		c.errs[i] = err
		if len(c.got) == c.want {
			close(c.all)
		}
	}
}

func (c *commits) snapshot() []int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]int(nil), c.got...)
}

type laneEnv struct {
	p      *Processor
	ln     *lane
	cancel context.CancelFunc
	out    *outbox
	reg    *prometheus.Registry
}

func newLaneEnv(t *testing.T, store views.Store, opts ...Option) *laneEnv {
	t.Helper()
	return newLaneEnvResolver(t, ByConnection(map[string]views.Store{"default": store}), opts...)
}

func newLaneEnvResolver(t *testing.T, resolve views.StoreResolver, opts ...Option) *laneEnv {
	t.Helper()
	names, _ := topics.For("unit")
	out := &outbox{}
	reg := prometheus.NewRegistry()
	p, err := New(nil, names, schema.NewHolder(registry(t)), resolve,
		append([]Option{WithRegisterer(reg), WithLinger(time.Millisecond), WithBackoff(time.Millisecond, 2*time.Millisecond),
			WithDecoderOptions(events.Clock(func() time.Time { return now }))}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	p.out = out
	p.now = func() time.Time { return now }
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	return &laneEnv{p: p, ln: newLane(ctx, p, 3), cancel: cancel, out: out, reg: reg}
}

func (e *laneEnv) add(offset int64, key string, value []byte, done func(error)) {
	src := source{key: key, value: value, partition: 3, offset: offset, timestamp: now}
	e.ln.add(src, done)
}

func good(id int) (string, []byte) {
	return fmt.Sprintf("user/user_profile/%d", id), userEvent(fmt.Sprint(id), fmt.Sprintf(`{"age":%d}`, id%100))
}

// TestCommitsInOffsetOrder: a dead-lettered message commits only after the
// stored messages before it, and messages are committed only once their
// batch is written.
func TestCommitsInOffsetOrder(t *testing.T) {
	store := newRecorder()
	store.gate, store.entered = make(chan struct{}), make(chan struct{}, 16)
	e := newLaneEnv(t, store, WithBatchSize(1))
	c := newCommits(3)

	k, v := good(1)
	e.add(0, k, v, c.done(0))
	<-store.entered // batch 0 is in the store, which does not answer yet
	e.add(1, "junk", []byte("{"), c.done(1))
	k, v = good(2)
	e.add(2, k, v, c.done(2))

	if got := len(e.out.messages(string(e.p.names.DeadLetters))); got != 1 {
		t.Fatalf("%d dead letters, want the junk one, sent at once", got)
	}
	if got := c.snapshot(); len(got) != 0 {
		t.Fatalf("commits %v before the store acknowledged the first batch", got)
	}
	close(store.gate)
	<-c.all
	if got := c.snapshot(); fmt.Sprint(got) != "[0 1 2]" {
		t.Fatalf("commit order %v, want [0 1 2]", got)
	}
	for i, err := range c.errs {
		if err != nil {
			t.Fatalf("commit %d: %v", i, err)
		}
	}
	if store.len() != 2 {
		t.Fatalf("%d blocks stored, want 2", store.len())
	}
}

// TestRefusedBlockIsDeadLettered: a block the store refuses for good goes to
// the dead letters; the others of its batch are stored, and all commit.
func TestRefusedBlockIsDeadLettered(t *testing.T) {
	store := newRecorder()
	store.refuse[`user("3")`] = true
	e := newLaneEnv(t, store, WithBatchSize(5))
	c := newCommits(5)
	for i := range 5 {
		k, v := good(i + 1)
		e.add(int64(i), k, v, c.done(i))
	}
	<-c.all
	for i, err := range c.errs {
		if err != nil {
			t.Fatalf("commit %d: %v", i, err)
		}
	}
	if store.len() != 4 {
		t.Fatalf("%d blocks stored, want the 4 not refused", store.len())
	}
	dl := e.out.messages(string(e.p.names.DeadLetters))
	if len(dl) != 1 || dl[0].key != "user/user_profile/3" || string(dl[0].headers[topics.HeaderDLQCode]) != string(CodeStoreRejected) ||
		string(dl[0].headers[topics.HeaderDLQOffset]) != "2" || string(dl[0].headers[topics.HeaderDLQPartition]) != "3" {
		t.Fatalf("dead letters %+v, want user 3's event with code store_rejected", dl)
	}
	inv := e.out.messages(string(e.p.names.Invalidations))
	if len(inv) != 1 || inv[0].key != "3" {
		t.Fatalf("invalidations %+v, want one for partition 3", inv)
	}
}

// TestUnavailableStoreIsRetried: writes that fail with ErrUnavailable are
// retried until they succeed, and counted.
func TestUnavailableStoreIsRetried(t *testing.T) {
	store := newRecorder()
	store.fail = 4
	e := newLaneEnv(t, store, WithBatchSize(2))
	c := newCommits(2)
	for i := range 2 {
		k, v := good(i + 1)
		e.add(int64(i), k, v, c.done(i))
	}
	<-c.all
	if store.len() != 2 || c.errs[0] != nil || c.errs[1] != nil {
		t.Fatalf("stored %d, commit errors %v", store.len(), c.errs)
	}
	if got := counter(t, e.reg, "ofs_ingest_store_retries_total", ""); got != 4 {
		t.Fatalf("retries %v, want 4", got)
	}
}

// TestStoppedPartitionAbandonsUnwritten: when a partition stops while its
// store is down, it tries until the drain timeout and then gives up its
// messages uncommitted, every one after the first unwritten included.
func TestStoppedPartitionAbandonsUnwritten(t *testing.T) {
	store := newRecorder()
	store.fail = 1 << 30
	e := newLaneEnv(t, store, WithBatchSize(1), WithDrainTimeout(20*time.Millisecond))
	c := newCommits(3)
	k, v := good(1)
	e.add(0, k, v, c.done(0))
	e.add(1, "junk", []byte("{"), c.done(1))
	k, v = good(2)
	e.add(2, k, v, c.done(2))
	e.cancel()
	<-c.all
	for i := range 3 {
		if !errors.Is(c.errs[i], ErrAbandoned) {
			t.Fatalf("commit %d: %v, want ErrAbandoned", i, c.errs[i])
		}
	}
	// A message that arrives after the stop is not taken.
	var late error
	lateDone := make(chan struct{})
	k, v = good(3)
	e.add(3, k, v, func(err error) { late = err; close(lateDone) })
	<-lateDone
	if !errors.Is(late, ErrAbandoned) {
		t.Fatalf("message after the stop: %v, want ErrAbandoned", late)
	}
}

// TestStoppedPartitionDrains: a partition that stops with a batch waiting
// for its linger writes it before it lets go.
func TestStoppedPartitionDrains(t *testing.T) {
	store := newRecorder()
	e := newLaneEnv(t, store, WithLinger(time.Hour))
	c := newCommits(2)
	for i := range 2 {
		k, v := good(i + 1)
		e.add(int64(i), k, v, c.done(i))
	}
	e.cancel()
	<-c.all
	if store.len() != 2 || c.errs[0] != nil || c.errs[1] != nil {
		t.Fatalf("stored %d, commit errors %v: want the lingering batch written and committed", store.len(), c.errs)
	}
}

// TestStoreThatCannotBeOpenedWaits: a store that cannot be reached to be
// opened (a Scylla cluster down at start) holds the partition, like a failed
// write, instead of dead-lettering its events.
func TestStoreThatCannotBeOpenedWaits(t *testing.T) {
	store := newRecorder()
	var calls int
	e := newLaneEnvResolver(t, func(*schema.Store) (views.Store, error) {
		calls++
		if calls <= 3 {
			return nil, fmt.Errorf("%w: cluster down", views.ErrUnavailable)
		}
		return store, nil
	})
	c := newCommits(1)
	k, v := good(1)
	e.add(0, k, v, c.done(0))
	<-c.all
	if c.errs[0] != nil || store.len() != 1 || calls != 4 {
		t.Fatalf("commit %v, stored %d, resolver called %d times; want stored after 4 tries", c.errs[0], store.len(), calls)
	}
	if n := len(e.out.messages(string(e.p.names.DeadLetters))); n != 0 {
		t.Fatalf("%d dead letters for a store that was only late", n)
	}
}

// TestResolverRefusalDeadLetters: a store the resolver refuses for good (no
// such connection) dead-letters its events with no_store.
func TestResolverRefusalDeadLetters(t *testing.T) {
	e := newLaneEnvResolver(t, ByConnection(map[string]views.Store{}))
	c := newCommits(1)
	k, v := good(1)
	e.add(0, k, v, c.done(0))
	<-c.all
	dl := e.out.messages(string(e.p.names.DeadLetters))
	if c.errs[0] != nil || len(dl) != 1 || dl[0].key != k {
		t.Fatalf("commit %v, dead letters %+v: want the event dead-lettered and committed", c.errs[0], dl)
	}
}

// TestRefusedDeadLetterHoldsTheCommit: a dead letter that Kafka refuses is
// sent again until it is taken; neither its message nor any later one
// commits before that, and nothing is skipped.
func TestRefusedDeadLetterHoldsTheCommit(t *testing.T) {
	store := newRecorder()
	e := newLaneEnv(t, store, WithBatchSize(1))
	e.out.refuseTopic, e.out.refuse = string(e.p.names.DeadLetters), 5
	c := newCommits(3)
	k, v := good(1)
	e.add(0, k, v, c.done(0))
	e.add(1, "junk", []byte("{"), c.done(1))
	k, v = good(2)
	e.add(2, k, v, c.done(2))
	<-c.all
	if got := c.snapshot(); fmt.Sprint(got) != "[0 1 2]" {
		t.Fatalf("commit order %v, want [0 1 2]", got)
	}
	for i, err := range c.errs {
		if err != nil {
			t.Fatalf("commit %d: %v", i, err)
		}
	}
	if dl := e.out.messages(string(e.p.names.DeadLetters)); len(dl) != 1 || dl[0].key != "junk" {
		t.Fatalf("dead letters %+v, want the junk one once it was taken", dl)
	}
	if e.out.refused != 5 {
		t.Fatalf("%d sends refused, want 5 (then one taken)", e.out.refused)
	}
	if store.len() != 2 {
		t.Fatalf("%d blocks stored, want 2", store.len())
	}
}

// TestRefusedDeadLetterOfAStoppedPartition: when the partition stops while
// Kafka still refuses the dead letter, the message and every later one are
// given up uncommitted, for the next owner to process again.
func TestRefusedDeadLetterOfAStoppedPartition(t *testing.T) {
	store := newRecorder()
	e := newLaneEnv(t, store, WithBatchSize(1), WithDrainTimeout(20*time.Millisecond))
	e.out.refuseTopic, e.out.refuse = string(e.p.names.DeadLetters), 1<<30
	c := newCommits(2)
	e.add(0, "junk", []byte("{"), c.done(0))
	k, v := good(2)
	e.add(1, k, v, c.done(1))
	time.Sleep(20 * time.Millisecond)
	e.cancel()
	<-c.all
	for i := range 2 {
		if !errors.Is(c.errs[i], ErrAbandoned) {
			t.Fatalf("commit %d: %v, want ErrAbandoned", i, c.errs[i])
		}
	}
}
