package ingest

import (
	"strconv"
	"time"

	"github.com/lovoo/goka"

	"github.com/ofstack/ofs/internal/events"
	"github.com/ofstack/ofs/topics"
)

// A dead letter is the rejected message itself (key and value unchanged)
// with headers that say why and where it came from, then the original
// headers; see topics.HeaderDLQReason and docs/kafka.md.

func (p *Processor) dlqHeaders(src source, rej *events.Error) goka.Headers {
	h := make(goka.Headers, len(src.headers)+7)
	for k, v := range src.headers {
		h[k] = v
	}
	h[topics.HeaderDLQReason] = []byte(rej.Reason)
	h[topics.HeaderDLQCode] = []byte(rej.Code)
	h[topics.HeaderDLQTopic] = []byte(p.names.Features)
	h[topics.HeaderDLQPartition] = []byte(strconv.Itoa(int(src.partition)))
	h[topics.HeaderDLQOffset] = []byte(strconv.FormatInt(src.offset, 10))
	if !src.timestamp.IsZero() {
		h[topics.HeaderDLQTimestamp] = []byte(src.timestamp.UTC().Format(time.RFC3339Nano))
	}
	h[topics.HeaderDLQTime] = []byte(p.now().UTC().Format(time.RFC3339Nano))
	return h
}

// deadLetter sends a message rejected by the callback; goka commits it only
// once the emit is acknowledged (and its deferred commit released).
func (p *Processor) deadLetter(ctx goka.Context, src source, rej *events.Error) {
	p.count(src, rej)
	ctx.Emit(p.names.DeadLetters, src.key, src.value, goka.WithCtxEmitHeaders(p.dlqHeaders(src, rej)))
}

// lateDeadLetter sends a message whose block a store refused, from the
// flusher; the committer waits for the promise.
func (p *Processor) lateDeadLetter(src source, rej *events.Error) *goka.Promise {
	p.count(src, rej)
	return p.out.EmitWithHeaders(string(p.names.DeadLetters), src.key, src.value, p.dlqHeaders(src, rej))
}

func (p *Processor) count(src source, rej *events.Error) {
	p.metrics.rejected.WithLabelValues(string(rej.Code)).Inc()
	p.log.Debug("event rejected", "partition", src.partition, "offset", src.offset, "code", rej.Code, "reason", rej.Reason)
}
