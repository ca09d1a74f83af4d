// Package telemetrytest records the spans of a test in memory, with the OpenTelemetry SDK's
// own in-memory exporter, and answers questions about their relations.
package telemetrytest

import (
	"context"
	"testing"

	"go.opentelemetry.io/otel"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
)

// Recorder holds the spans ended since Record.
type Recorder struct {
	exp *tracetest.InMemoryExporter
	tp  *sdktrace.TracerProvider
}

// Record makes a provider that samples every span and exports it synchronously to memory the
// global one until the test ends. Tests using it must not run in parallel with other tests
// of their package that trace.
func Record(t testing.TB) *Recorder {
	t.Helper()
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp), sdktrace.WithSampler(sdktrace.AlwaysSample()))
	prev := otel.GetTracerProvider()
	otel.SetTracerProvider(tp)
	t.Cleanup(func() {
		otel.SetTracerProvider(prev)
		_ = tp.Shutdown(context.Background())
	})
	return &Recorder{exp: exp, tp: tp}
}

// Start starts a span of the test's own, as a client would.
func (r *Recorder) Start(ctx context.Context, name string) (context.Context, trace.Span) {
	return r.tp.Tracer("test").Start(ctx, name)
}

// Spans returns the spans ended so far.
func (r *Recorder) Spans() tracetest.SpanStubs { return r.exp.GetSpans() }

// Named returns the ended spans called name, in the order they ended.
func (r *Recorder) Named(name string) tracetest.SpanStubs {
	var out tracetest.SpanStubs
	for _, s := range r.exp.GetSpans() {
		if s.Name == name {
			out = append(out, s)
		}
	}
	return out
}

// Find returns the first ended span that pred accepts.
func (r *Recorder) Find(pred func(tracetest.SpanStub) bool) (tracetest.SpanStub, bool) {
	for _, s := range r.exp.GetSpans() {
		if pred(s) {
			return s, true
		}
	}
	return tracetest.SpanStub{}, false
}

// Attr returns the string form of span attribute key, or "".
func Attr(s tracetest.SpanStub, key string) string {
	for _, kv := range s.Attributes {
		if string(kv.Key) == key {
			return kv.Value.Emit()
		}
	}
	return ""
}

// LinksTo reports whether s links to the span sc.
func LinksTo(s tracetest.SpanStub, sc trace.SpanContext) bool {
	for _, l := range s.Links {
		if l.SpanContext.SpanID() == sc.SpanID() && l.SpanContext.TraceID() == sc.TraceID() {
			return true
		}
	}
	return false
}
