package sagas

import (
	"context"
	"strconv"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/shopflow/shopflow/eventstore"
	"github.com/shopflow/shopflow/internal/kafka"
	"github.com/shopflow/shopflow/internal/telemetry"
)

const tracerName = "github.com/shopflow/shopflow/sagas"

// Tracing. A reaction continues the trace of the event it reacts to: its span is a child of
// the trace context in the record's headers (the relay's "publish" span), and the events it
// appends carry the reaction's context on (message.meta), so the next context's reaction
// lands in the same trace. A group commit's write links every reaction it holds (see
// eventstore.Store.Write). The consumer records no "receive" span per record (kotel's
// consumer hooks would): every event reaches two reactors, most records are ignored, and
// those spans were a third of an order's trace and of the tracing cost under load, while
// the gap between a publish and its reaction already shows the time in Kafka.

// recordContext returns ctx carrying the span context of rec (see kafka.SpanContext).
func recordContext(ctx context.Context, rec *kgo.Record) context.Context {
	return trace.ContextWithSpanContext(ctx, kafka.SpanContext(rec))
}

// startReaction starts the span of one attempt at reacting to rec, child of rec's trace.
// A record of an event type the reactor does not react to gets none (a no-op span): every
// event reaches the two other contexts' reactors, and most of them ignore it.
func (r *Reactor) startReaction(ctx context.Context, rec *kgo.Record) (context.Context, trace.Span) {
	name := r.context + " react"
	if t := header(rec, eventstore.HeaderEventType); t != "" {
		if _, reacts := r.reactions[t]; !reacts {
			return recordContext(ctx, rec), trace.SpanFromContext(context.Background())
		}
		name += " " + t
	}
	return telemetry.Tracer(tracerName).Start(recordContext(ctx, rec), name,
		trace.WithSpanKind(trace.SpanKindConsumer), trace.WithAttributes(
			attribute.String("shopflow.context", r.context),
			semconv.MessagingSystemKafka, semconv.MessagingDestinationName(rec.Topic),
			semconv.MessagingConsumerGroupName(r.group),
			semconv.MessagingDestinationPartitionID(strconv.Itoa(int(rec.Partition))),
			semconv.MessagingKafkaOffset(int(rec.Offset)),
			attribute.String("shopflow.stream_id", string(rec.Key)),
			attribute.String("shopflow.event_id", header(rec, eventstore.HeaderEventID)),
		))
}

// traceMessage sets the trace context of the events m's reaction appends to ctx's span.
func traceMessage(ctx context.Context, m *message) {
	if tp, ts := telemetry.Inject(ctx); tp != "" {
		m.meta.TraceParent, m.meta.TraceState = tp, ts
	}
}

// endReaction records the outcome or the error of a reaction on its span and ends it.
func endReaction(span trace.Span, outcome string, err error) {
	switch {
	case err != nil:
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
		span.SetAttributes(attribute.Bool("shopflow.permanent", IsPermanent(err)))
	default:
		span.SetAttributes(attribute.String("shopflow.outcome", outcome))
	}
	span.End()
}

// header returns the value of rec's header key, or "".
func header(rec *kgo.Record, key string) string {
	for _, h := range rec.Headers {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}
