package console

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/IBM/sarama"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/ofstack/ofs/topics"
)

const (
	rateWindow  = 60 // seconds of per-group counts kept
	deadKept    = 50 // most recent dead letters kept
	deadBacklog = 200
)

// freshness follows the features topic's traffic per feature group (its
// message keys name the group) and the dead-letter topic.
type freshness struct {
	now func() time.Time

	mu     sync.Mutex
	groups map[string]*groupTraffic
	dead   []deadLetter // newest last, at most deadKept
	codes  map[string]int
}

type groupTraffic struct {
	buckets [rateWindow]int   // events per second, by unix second mod rateWindow
	second  [rateWindow]int64 // the second each bucket counts
	total   int
	last    time.Time // Kafka timestamp of the newest event
}

// deadLetter is one message of the dead-letter topic.
type deadLetter struct {
	Offset            int64
	Code, Reason      string
	Key               string
	Value             string // as text when it is UTF-8, else hex
	Binary            bool
	Where, Rejected   string
	Headers           []string
	EventTime, Topic  string
	Partition, Source string
}

func newFreshness(now func() time.Time) *freshness {
	return &freshness{now: now, groups: map[string]*groupTraffic{}, codes: map[string]int{}}
}

// follow consumes, until ctx is done, every partition of the features topic
// from its newest offset and the dead letters from the last deadBacklog.
func (f *freshness) follow(ctx context.Context, c sarama.Consumer, client sarama.Client, names topics.Names) error {
	parts, err := c.Partitions(string(names.Features))
	if err != nil {
		return fmt.Errorf("freshness: %s: %w", names.Features, err)
	}
	msgs := make(chan *sarama.ConsumerMessage, 256)
	errc := make(chan error, len(parts)+1)
	var pcs []sarama.PartitionConsumer
	defer func() {
		for _, pc := range pcs {
			pc.AsyncClose()
		}
	}()
	pipe := func(pc sarama.PartitionConsumer) {
		pcs = append(pcs, pc)
		go func() {
			for m := range pc.Messages() {
				select {
				case msgs <- m:
				case <-ctx.Done():
					return
				}
			}
		}()
		go func() {
			for e := range pc.Errors() {
				errc <- e
			}
		}()
	}
	for _, p := range parts {
		pc, err := c.ConsumePartition(string(names.Features), p, sarama.OffsetNewest)
		if err != nil {
			return fmt.Errorf("freshness: %s/%d: %w", names.Features, p, err)
		}
		pipe(pc)
	}
	dlq := string(names.DeadLetters)
	newest, err := client.GetOffset(dlq, 0, sarama.OffsetNewest)
	if err != nil {
		return fmt.Errorf("freshness: %s: %w", dlq, err)
	}
	oldest, err := client.GetOffset(dlq, 0, sarama.OffsetOldest)
	if err != nil {
		return fmt.Errorf("freshness: %s: %w", dlq, err)
	}
	pc, err := c.ConsumePartition(dlq, 0, max(oldest, newest-deadBacklog))
	if err != nil {
		return fmt.Errorf("freshness: %s: %w", dlq, err)
	}
	pipe(pc)
	for {
		select {
		case <-ctx.Done():
			return nil
		case err := <-errc:
			var ce *sarama.ConsumerError
			if errors.As(err, &ce) && errors.Is(ce.Err, sarama.ErrOffsetOutOfRange) {
				continue
			}
			return fmt.Errorf("freshness: %w", err)
		case m := <-msgs:
			if m.Topic == dlq {
				f.addDead(m)
			} else {
				f.addEvent(m)
			}
		}
	}
}

func (f *freshness) addEvent(m *sarama.ConsumerMessage) {
	parts := strings.SplitN(string(m.Key), "/", 3)
	if len(parts) < 2 {
		return
	}
	sec := f.now().Unix()
	f.mu.Lock()
	defer f.mu.Unlock()
	g := f.groups[parts[1]]
	if g == nil {
		g = &groupTraffic{}
		f.groups[parts[1]] = g
	}
	b := sec % rateWindow
	if g.second[b] != sec {
		g.second[b], g.buckets[b] = sec, 0
	}
	g.buckets[b]++
	g.total++
	if m.Timestamp.After(g.last) {
		g.last = m.Timestamp
	}
}

func (f *freshness) addDead(m *sarama.ConsumerMessage) {
	d := deadLetter{Offset: m.Offset, Key: string(m.Key)}
	for _, h := range m.Headers {
		k, v := string(h.Key), string(h.Value)
		switch k {
		case topics.HeaderDLQCode:
			d.Code = v
		case topics.HeaderDLQReason:
			d.Reason = v
		case topics.HeaderDLQTime:
			d.Rejected = v
		case topics.HeaderDLQTimestamp:
			d.EventTime = v
		case topics.HeaderDLQTopic:
			d.Topic = v
		case topics.HeaderDLQPartition:
			d.Partition = v
		case topics.HeaderDLQOffset:
			d.Source = v
		default:
			d.Headers = append(d.Headers, k+"="+v)
		}
	}
	if utf8.Valid(m.Value) {
		d.Value = string(m.Value)
	} else {
		d.Value, d.Binary = fmt.Sprintf("% x", m.Value), true
	}
	if d.Code == "" {
		d.Code = "(none)"
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.codes[d.Code]++
	f.dead = append(f.dead, d)
	if len(f.dead) > deadKept {
		f.dead = slices.Delete(f.dead, 0, len(f.dead)-deadKept)
	}
}

// groupRate is one row of the Freshness page's table.
type groupRate struct {
	Group      string
	PerSecond  float64 // over the last minute
	Total      int     // since the console started
	LastEvent  time.Time
	LastAgeSec float64
}

// snapshot returns the per-group rates, the dead letters newest first and
// the count by code of those read.
func (f *freshness) snapshot() ([]groupRate, []deadLetter, []codeCount) {
	now := f.now()
	sec := now.Unix()
	f.mu.Lock()
	defer f.mu.Unlock()
	rates := make([]groupRate, 0, len(f.groups))
	for name, g := range f.groups {
		n := 0
		for b := range g.buckets {
			if sec-g.second[b] < rateWindow {
				n += g.buckets[b]
			}
		}
		rates = append(rates, groupRate{Group: name, PerSecond: float64(n) / rateWindow, Total: g.total,
			LastEvent: g.last, LastAgeSec: now.Sub(g.last).Seconds()})
	}
	slices.SortFunc(rates, func(a, b groupRate) int { return strings.Compare(a.Group, b.Group) })
	dead := slices.Clone(f.dead)
	slices.Reverse(dead)
	codes := make([]codeCount, 0, len(f.codes))
	for c, n := range f.codes {
		codes = append(codes, codeCount{Code: c, Read: n})
	}
	slices.SortFunc(codes, func(a, b codeCount) int { return strings.Compare(a.Code, b.Code) })
	return rates, dead, codes
}

type codeCount struct {
	Code    string
	Read    int     // among the dead letters the console read
	Counted float64 // ofs_ingest_rejected_total, where the metrics are at hand
}

// ingestMetrics is what the Freshness page shows of the ingest processor's
// own metrics.
type ingestMetrics struct {
	Found       bool
	Lag         []partitionLag
	LagTotal    float64
	AgeCount    uint64
	AgeMean     float64 // seconds, event time at Kafka to commit
	AgeP99      float64 // upper bound of the bucket holding the 99th percentile
	RowsWritten float64
	Rejected    map[string]float64
}

type partitionLag struct {
	Partition string
	Messages  float64
}

// gatherIngest reads the ingest metrics from the registries.
func gatherIngest(gs []prometheus.Gatherer) (ingestMetrics, error) {
	m := ingestMetrics{Rejected: map[string]float64{}}
	var errs []error
	for _, g := range gs {
		mfs, err := g.Gather()
		if err != nil {
			errs = append(errs, err)
		}
		for _, mf := range mfs {
			switch mf.GetName() {
			case "ofs_ingest_lag_messages":
				m.Found = true
				for _, x := range mf.GetMetric() {
					v := x.GetGauge().GetValue()
					m.Lag = append(m.Lag, partitionLag{Partition: label(x, "partition"), Messages: v})
					m.LagTotal += v
				}
			case "ofs_ingest_event_age_seconds":
				m.Found = true
				for _, x := range mf.GetMetric() {
					h := x.GetHistogram()
					m.AgeCount += h.GetSampleCount()
					if h.GetSampleCount() > 0 {
						m.AgeMean = h.GetSampleSum() / float64(h.GetSampleCount())
						m.AgeP99 = quantileBound(h, 0.99)
					}
				}
			case "ofs_ingest_rows_written_total":
				m.Found = true
				for _, x := range mf.GetMetric() {
					m.RowsWritten += x.GetCounter().GetValue()
				}
			case "ofs_ingest_rejected_total":
				for _, x := range mf.GetMetric() {
					m.Rejected[label(x, "code")] += x.GetCounter().GetValue()
				}
			}
		}
	}
	slices.SortFunc(m.Lag, func(a, b partitionLag) int { return strings.Compare(a.Partition, b.Partition) })
	return m, errors.Join(errs...)
}

func label(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

// quantileBound returns the upper bound of the histogram bucket that holds
// quantile q.
func quantileBound(h *dto.Histogram, q float64) float64 {
	want := uint64(q * float64(h.GetSampleCount()))
	for _, b := range h.GetBucket() {
		if b.GetCumulativeCount() >= want {
			return b.GetUpperBound()
		}
	}
	return 0
}
