package views

import (
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// Tier label values of the cache metrics.
const (
	tierL1    = "l1"
	tierL2    = "l2"
	tierStore = "store"
)

// cacheMetrics are the Prometheus metrics of a Cache and its Tiered
// readers. The hot path adds its counts once per Read, not once per key.
type cacheMetrics struct {
	hits          *prometheus.CounterVec // tier, kind
	misses        *prometheus.CounterVec // tier
	evictions     *prometheus.CounterVec // tier
	evictedBytes  *prometheus.CounterVec // tier
	fillDrops     *prometheus.CounterVec // tier, reason
	errors        *prometheus.CounterVec // tier
	bytes         *prometheus.GaugeVec   // tier
	entries       prometheus.Gauge
	diskUsage     prometheus.Gauge
	diskFailed    prometheus.Gauge
	promotions    prometheus.Counter
	storeReads    prometheus.Counter
	flightWaits   prometheus.Counter
	invalidations prometheus.Counter

	// Children resolved once.
	l1Hit, l1Absent, l1Miss  prometheus.Counter
	l2Hit, l2Absent, l2Miss  prometheus.Counter
	l1Evictions, l2Evictions prometheus.Counter
	l1EvictedBytes           prometheus.Counter
	l2EvictedBytes           prometheus.Counter
	l1Raced, l1TooLarge      prometheus.Counter
	l2Raced, l2QueueFull     prometheus.Counter
	l2Failed                 prometheus.Counter
	l2Errors, storeErrors    prometheus.Counter
	l1Bytes, l2Bytes         prometheus.Gauge
}

func newCacheMetrics(reg prometheus.Registerer) (*cacheMetrics, error) {
	const ns, sub = "ofs", "cache"
	counters := func(name, help string, labels ...string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: name, Help: help}, labels)
	}
	counter := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: name, Help: help})
	}
	gauge := func(name, help string) prometheus.Gauge {
		return prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub, Name: name, Help: help})
	}
	m := &cacheMetrics{
		hits: counters("hits_total",
			"Lookups of one (entity key, feature group) answered by a tier: kind block, or absent for a cached miss.", "tier", "kind"),
		misses: counters("misses_total",
			"Lookups of one (entity key, feature group) that a tier could not answer (absent or expired).", "tier"),
		evictions: counters("evictions_total",
			"Evictions for space: entity keys for the l1, generations for the l2.", "tier"),
		evictedBytes: counters("evicted_bytes_total", "Bytes evicted for space.", "tier"),
		fillDrops: counters("fill_drops_total",
			"Blocks not put in a tier: raced (an invalidation came during the fill), too_large, queue_full (l2 writer busy), failed (l2 down).",
			"tier", "reason"),
		errors: counters("errors_total",
			"Errors by tier: l2 Pebble errors (each served as a miss), store read errors and corrupt blocks from the store.", "tier"),
		bytes: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub, Name: "bytes",
			Help: "Bytes held: l1 blocks and bookkeeping; l2 keys and values of the live generations."}, []string{"tier"}),
		entries:       gauge("l1_entries", "Entity keys held in the l1."),
		diskUsage:     gauge("l2_disk_bytes", "Disk space of the l2's Pebble database, as Pebble reports it."),
		diskFailed:    gauge("l2_failed", "1 when the l2 failed for good (Pebble reported a fatal error) and serves only misses."),
		promotions:    counter("l2_promotions_total", "L2 hits in an old generation written again into the current one."),
		storeReads:    counter("store_reads_total", "Store reads (one batch each) made for cache misses."),
		flightWaits:   counter("flight_waits_total", "Misses served by another reader's fetch of the same (entity key, feature group)."),
		invalidations: counter("invalidations_total", "(entity key, feature group) pairs invalidated."),
	}
	m.l1Hit, m.l1Absent, m.l1Miss = m.hits.WithLabelValues(tierL1, "block"), m.hits.WithLabelValues(tierL1, "absent"), m.misses.WithLabelValues(tierL1)
	m.l2Hit, m.l2Absent, m.l2Miss = m.hits.WithLabelValues(tierL2, "block"), m.hits.WithLabelValues(tierL2, "absent"), m.misses.WithLabelValues(tierL2)
	m.l1Evictions, m.l2Evictions = m.evictions.WithLabelValues(tierL1), m.evictions.WithLabelValues(tierL2)
	m.l1EvictedBytes, m.l2EvictedBytes = m.evictedBytes.WithLabelValues(tierL1), m.evictedBytes.WithLabelValues(tierL2)
	m.l1Raced, m.l1TooLarge = m.fillDrops.WithLabelValues(tierL1, "raced"), m.fillDrops.WithLabelValues(tierL1, "too_large")
	m.l2Raced, m.l2QueueFull = m.fillDrops.WithLabelValues(tierL2, "raced"), m.fillDrops.WithLabelValues(tierL2, "queue_full")
	m.l2Failed = m.fillDrops.WithLabelValues(tierL2, "failed")
	m.l2Errors, m.storeErrors = m.errors.WithLabelValues(tierL2), m.errors.WithLabelValues(tierStore)
	m.l1Bytes, m.l2Bytes = m.bytes.WithLabelValues(tierL1), m.bytes.WithLabelValues(tierL2)
	if reg == nil {
		return m, nil
	}
	var errs []error
	for _, c := range []prometheus.Collector{m.hits, m.misses, m.evictions, m.evictedBytes, m.fillDrops, m.errors,
		m.bytes, m.entries, m.diskUsage, m.diskFailed, m.promotions, m.storeReads, m.flightWaits, m.invalidations} {
		errs = append(errs, reg.Register(c))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("%w: cache metrics: %w", ErrInvalidOption, err)
	}
	return m, nil
}
