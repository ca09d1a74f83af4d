package telemetry

import (
	"context"

	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// The W3C trace context travels in event metadata as the two header values of
// https://www.w3.org/TR/trace-context/; these convert between them and a context.

var traceContext = propagation.TraceContext{}

// fields carries the two W3C values for the propagator. It is a struct rather than a
// propagation.MapCarrier: every command's append, every reaction and every relayed event
// converts a trace context, and a map per conversion was most of what that cost
// (BenchmarkTraceContextConversion).
type fields struct{ traceParent, traceState string }

func (f *fields) Get(key string) string {
	switch key {
	case "traceparent":
		return f.traceParent
	case "tracestate":
		return f.traceState
	}
	return ""
}

func (f *fields) Set(key, value string) {
	switch key {
	case "traceparent":
		f.traceParent = value
	case "tracestate":
		f.traceState = value
	}
}

func (f *fields) Keys() []string { return []string{"traceparent", "tracestate"} }

// Inject returns the W3C traceparent and tracestate of the span in ctx, or empty strings
// when ctx holds no valid span context.
func Inject(ctx context.Context) (traceParent, traceState string) {
	var f fields
	traceContext.Inject(ctx, &f)
	return f.traceParent, f.traceState
}

// Extract returns ctx carrying the remote span context of traceParent and traceState, or
// ctx unchanged when traceParent is empty or malformed.
func Extract(ctx context.Context, traceParent, traceState string) context.Context {
	if traceParent == "" {
		return ctx
	}
	return traceContext.Extract(ctx, &fields{traceParent, traceState})
}

// SpanContextOf returns the span context of traceParent and traceState; it is invalid when
// traceParent is empty or malformed.
func SpanContextOf(traceParent, traceState string) trace.SpanContext {
	return trace.SpanContextFromContext(Extract(context.Background(), traceParent, traceState))
}

// TraceID returns the trace id of the sampled span in ctx, or "" when there is none (tracing
// off, or the trace not sampled): what logs and exemplars may point at.
func TraceID(ctx context.Context) string {
	sc := trace.SpanContextFromContext(ctx)
	if !sc.IsValid() || !sc.IsSampled() {
		return ""
	}
	return sc.TraceID().String()
}

// Links returns one link per distinct valid span context among scs, in their order.
func Links(scs ...trace.SpanContext) []trace.Link {
	seen := make(map[trace.SpanID]bool, len(scs))
	var links []trace.Link
	for _, sc := range scs {
		if !sc.IsValid() || seen[sc.SpanID()] {
			continue
		}
		seen[sc.SpanID()] = true
		links = append(links, trace.Link{SpanContext: sc})
	}
	return links
}
