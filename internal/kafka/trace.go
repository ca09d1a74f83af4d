package kafka

import (
	"context"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/plugin/kotel"
	"go.opentelemetry.io/otel/trace"

	"github.com/shopflow/shopflow/internal/telemetry"
)

// Tracing returns the option that traces a client's records with franz-go's kotel plugin
// (the maintained OpenTelemetry instrumentation of franz-go itself, chosen over hand-written
// hooks): a "publish" span per produced record, child of the record's Context, whose trace
// context replaces the record's traceparent header; and a "receive" span per fetched record,
// child of the trace context in its headers, that becomes the record's Context. group names
// the consumer group on the consumer spans ("" for a producer).
//
// The tracer provider is the global one when the client is built. Shopflow gives it to the
// producers whose records belong to a live trace (the relays', the reactors' dead-letter
// producers); its consumers read the trace context from the headers themselves (see
// SpanContext) instead of recording a receive span per record.
func Tracing(group string) kgo.Opt {
	opts := []kotel.TracerOpt{kotel.TracerPropagator(telemetry.Propagator)}
	if group != "" {
		opts = append(opts, kotel.ConsumerGroup(group))
	}
	k := kotel.NewKotel(kotel.WithTracer(kotel.NewTracer(opts...)))
	return kgo.WithHooks(k.Hooks()...)
}

// SpanContext returns the span context a consumed record belongs to: its Context's (the
// "receive" span of a tracing consumer), else the trace context in its headers; invalid
// when it carries none.
func SpanContext(rec *kgo.Record) trace.SpanContext {
	if rec.Context != nil {
		if sc := trace.SpanContextFromContext(rec.Context); sc.IsValid() {
			return sc
		}
	}
	ctx := telemetry.Propagator.Extract(context.Background(), kotel.NewRecordCarrier(rec))
	return trace.SpanContextFromContext(ctx)
}
