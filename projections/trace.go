package projections

import (
	"context"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/shopflow/shopflow/internal/kafka"
	"github.com/shopflow/shopflow/internal/telemetry"
)

const tracerName = "github.com/shopflow/shopflow/projections"

// Tracing. A live worker's bulk request is one span of its own that links the trace of every
// event it indexes (one request serves many orders: no one of them is its parent); each
// event's trace then gets an "index" span, child of the event's trace context, from when the
// worker began the batch until Elasticsearch stored the document, linked to the bulk span.
// So an order's trace ends when its document is searchable. Rebuilds replay old events and
// record no spans.

// startBulk starts the span of a live bulk request of ws into target.
func (p *processor) startBulk(ctx context.Context, ws []write) (context.Context, trace.Span) {
	if !p.live || len(ws) == 0 {
		return ctx, trace.SpanFromContext(ctx)
	}
	var scs []trace.SpanContext
	records := 0
	for _, w := range ws {
		for _, rec := range w.origin {
			scs = append(scs, kafka.SpanContext(rec))
			records++
		}
	}
	return telemetry.Tracer(tracerName).Start(ctx, "projections bulk "+p.m.name(), trace.WithNewRoot(),
		trace.WithSpanKind(trace.SpanKindClient), trace.WithLinks(telemetry.Links(scs...)...),
		trace.WithAttributes(attribute.String("shopflow.projection", p.m.name()), attribute.String("shopflow.index", p.target),
			attribute.Int("shopflow.documents", len(ws)), attribute.Int("shopflow.events", records)))
}

// endBulk ends a bulk span and, once the documents are stored, records the "index" span of
// every event they newly hold, from start (when the batch began) until now.
func (p *processor) endBulk(bulk trace.Span, start time.Time, ws []write, err error) {
	if !p.live || len(ws) == 0 {
		return
	}
	if err != nil {
		bulk.RecordError(err)
		bulk.SetStatus(codes.Error, err.Error())
		bulk.End()
		return
	}
	bulk.End()
	tracer := telemetry.Tracer(tracerName)
	link := trace.Link{SpanContext: bulk.SpanContext()}
	for _, w := range ws {
		for _, rec := range w.origin {
			sc := kafka.SpanContext(rec)
			if !sc.IsValid() {
				continue
			}
			_, span := tracer.Start(trace.ContextWithRemoteSpanContext(context.Background(), sc),
				"projections index "+p.m.name(), trace.WithTimestamp(start), trace.WithLinks(link),
				trace.WithSpanKind(trace.SpanKindConsumer), trace.WithAttributes(
					attribute.String("shopflow.projection", p.m.name()), attribute.String("shopflow.document_id", w.id),
					attribute.Int64("shopflow.document_version", w.version), attribute.String("shopflow.index", p.target)))
			span.End()
		}
	}
}
