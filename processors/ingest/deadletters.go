package ingest

import (
	"strconv"
	"time"

	"github.com/lovoo/goka"

	"github.com/ofstack/ofs/internal/events"
	"github.com/ofstack/ofs/schema"
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
	h[topics.HeaderDLQReason] = []byte(schema.Clip(rej.Reason, maxReasonBytes))
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

// deadLetter sends a rejected message to the dead letters (from the
// callback, or from the flusher for a block a store refused). The lane's
// committer waits for the send, and sends it again while it fails: the
// message's offset is committed only once its dead letter is acknowledged.
func (p *Processor) deadLetter(src source, rej *events.Error) send {
	p.count(src, rej)
	h := p.dlqHeaders(src, rej)
	again := func() *goka.Promise {
		return p.out.EmitWithHeaders(string(p.names.DeadLetters), src.key, src.value, h)
	}
	return send{what: "dead letter", pr: again(), again: again}
}

func (p *Processor) count(src source, rej *events.Error) {
	p.metrics.rejected.WithLabelValues(string(rej.Code)).Inc()
	p.log.Debug("event rejected", "partition", src.partition, "offset", src.offset, "code", rej.Code, "reason", rej.Reason)
}

// maxReasonBytes bounds the reason header: a dead letter is the event plus
// a little, and must fit the dead-letter topic.
const maxReasonBytes = 4 << 10
