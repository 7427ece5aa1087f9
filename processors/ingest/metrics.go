package ingest

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ofstack/ofs/internal/events"
)

// metrics are the processor's Prometheus metrics.
type metrics struct {
	rejected     *prometheus.CounterVec
	written      prometheus.Counter
	retries      prometheus.Counter
	flushSeconds prometheus.Histogram
	eventAge     prometheus.Histogram
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ofs_ingest_rejected_total",
			Help: "Feature events sent to the dead-letter topic, by rejection code.",
		}, []string{"code"}),
		written: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "ofs_ingest_rows_written_total",
			Help: "Blocks that the online stores acknowledged.",
		}),
		retries: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "ofs_ingest_store_retries_total",
			Help: "Store operations retried after a failure that may pass (an unavailable store).",
		}),
		flushSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "ofs_ingest_flush_duration_seconds",
			Help:    "Time to write one batch into its stores, retries included.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
		}),
		eventAge: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "ofs_ingest_event_age_seconds",
			Help: "Time from a feature event's Kafka timestamp to its offset's commit, after its block was stored " +
				"(or it was dead-lettered): how fresh the online store is.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 18), // 1 ms to 131 s
		}),
	}
	for _, c := range []prometheus.Collector{m.rejected, m.written, m.retries, m.flushSeconds, m.eventAge} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("ingest: register metrics: %w", err)
		}
	}
	// Every code is exported from the start, at 0.
	for _, c := range append(events.Codes(), CodeNoStore, CodeStoreRejected) {
		m.rejected.WithLabelValues(string(c))
	}
	return m, nil
}
