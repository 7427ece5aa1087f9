package views

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// A read of the cache tiers is traced when its context carries a span
// that records (a sampled gRPC call of a server with tracing on): a child
// span per tier that the read reaches, from the parent's own provider, so
// no tracer is configured here. Without one, a read pays a context lookup.

const tracerName = "github.com/ofstack/ofs/views"

// noSpan is a span that records nothing, for reads that are not traced.
var noSpan = trace.SpanFromContext(context.Background())

// tierSpan starts the span of one tier ("ofs.l1", "ofs.l2", "ofs.store")
// reading n entries, if ctx's span records.
func tierSpan(ctx context.Context, name string, n int) (context.Context, trace.Span) {
	parent := trace.SpanFromContext(ctx)
	if !parent.IsRecording() {
		return ctx, noSpan
	}
	return parent.TracerProvider().Tracer(tracerName).Start(ctx, name,
		trace.WithAttributes(attribute.Int("ofs.entries", n)))
}

// endTier ends span with the entries the tier answered and err.
func endTier(span trace.Span, answered int, err error) {
	if !span.IsRecording() {
		return
	}
	span.SetAttributes(attribute.Int("ofs.answered", answered))
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
}
