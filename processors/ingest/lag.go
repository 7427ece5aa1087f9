package ingest

import (
	"strconv"
	"sync"
	"time"

	"github.com/IBM/sarama"
	"github.com/prometheus/client_golang/prometheus"
)

// lagCollector reports, at each scrape, how far behind the features topic
// each partition that this processor holds is: the partition's newest offset
// (asked of Kafka at the scrape) less the offset after the last message the
// processor committed. A message counts as behind until its block is in the
// store and its offset committed, so a store outage shows as growing lag
// even while the messages are read. Partitions this processor does not hold
// are reported by the processor that does; sum by partition, or take the
// max, across processors.
type lagCollector struct {
	p    *Processor
	desc *prometheus.Desc

	mu     sync.Mutex
	client sarama.Client // made at the first scrape that needs it
	closed bool
}

func newLagCollector(p *Processor) *lagCollector {
	return &lagCollector{p: p, desc: prometheus.NewDesc("ofs_ingest_lag_messages",
		"Messages of a features topic partition held by this processor that are not stored and committed yet.",
		[]string{"partition"}, nil)}
}

// Describe implements prometheus.Collector.
func (c *lagCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

// Collect implements prometheus.Collector. A partition whose newest offset
// cannot be read within the scrape is left out, and the failure logged.
func (c *lagCollector) Collect(ch chan<- prometheus.Metric) {
	type held struct {
		partition int32
		next      int64
	}
	var parts []held
	c.p.mu.Lock()
	for part, ln := range c.p.lanes {
		if next := ln.next.Load(); next >= 0 && ln.ctx.Err() == nil {
			parts = append(parts, held{part, next})
		}
	}
	c.p.mu.Unlock()
	if len(parts) == 0 {
		return
	}
	client, err := c.kafka()
	if err != nil {
		c.p.log.Warn("ingest lag: no Kafka client", "err", err)
		return
	}
	if client == nil {
		return // the processor stopped
	}
	topic := string(c.p.names.Features)
	for _, h := range parts {
		newest, err := client.GetOffset(topic, h.partition, sarama.OffsetNewest)
		if err != nil {
			c.p.log.Warn("ingest lag: newest offset", "topic", topic, "partition", h.partition, "err", err)
			continue
		}
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(max(newest-h.next, 0)),
			strconv.Itoa(int(h.partition)))
	}
}

// kafka returns the collector's client, made on first use with short
// timeouts so that a scrape never waits long; nil once closed.
func (c *lagCollector) kafka() (sarama.Client, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, nil
	}
	if c.client == nil {
		cfg := *c.p.saramaC
		cfg.ClientID += "-lag"
		cfg.Net.DialTimeout, cfg.Net.ReadTimeout, cfg.Net.WriteTimeout = 3*time.Second, 3*time.Second, 3*time.Second
		cfg.Metadata.Retry.Max = 1
		client, err := sarama.NewClient(c.p.brokers, &cfg)
		if err != nil {
			return nil, err
		}
		c.client = client
	}
	return c.client, nil
}

// close closes the client; later scrapes report nothing.
func (c *lagCollector) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	if c.client != nil {
		if err := c.client.Close(); err != nil {
			c.p.log.Warn("ingest lag: closing the Kafka client", "err", err)
		}
		c.client = nil
	}
}
