package eventstore

import (
	"context"
	"errors"
	"slices"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/shopflow/shopflow/internal/telemetry"
)

const tracerName = "github.com/shopflow/shopflow/eventstore"

// Span attributes of an append, shared by the relay's publish spans.
var (
	attrStreams    = attribute.Key("shopflow.stream_ids")
	attrEventTypes = attribute.Key("shopflow.event_types")
	attrEvents     = attribute.Key("shopflow.events")
	attrInbox      = attribute.Key("shopflow.inbox_entries")
)

// startWrite starts the span of a write: the append of its events. Its parent is the span in
// ctx (a command handler's); without one, the one trace context all the write's events carry
// (a reaction that wrote alone); otherwise it is a root. Every other trace context the
// events carry becomes a link, so a group commit of many messages' reactions shows in each
// of their traces without pretending to be a child of one.
//
// Events that carry no trace context, or the parent's, get the write span's, so that the
// relay publishes them as its children; events of a group commit keep their own message's.
// The returned Write holds those stamped copies; w itself is not changed.
func (s *Store) startWrite(ctx context.Context, w Write) (context.Context, trace.Span, Write) {
	carried := carriedContexts(w)
	parent := trace.SpanContextFromContext(ctx)
	if !parent.IsValid() && len(carried) == 1 {
		ctx = trace.ContextWithRemoteSpanContext(ctx, carried[0])
		parent = carried[0]
	}
	var links []trace.Link
	for _, sc := range carried {
		if !sameSpan(sc, parent) {
			links = append(links, trace.Link{SpanContext: sc})
		}
	}
	opts := []trace.SpanStartOption{clientKind}
	if len(links) > 0 {
		opts = append(opts, trace.WithLinks(links...))
	}
	if !parent.IsValid() {
		opts = append(opts, trace.WithNewRoot())
	}
	ctx, span := telemetry.Tracer(tracerName).Start(ctx, "eventstore append", opts...)
	if span.IsRecording() {
		span.SetAttributes(writeAttributes(w, s.database)...)
	}
	return ctx, span, stamp(ctx, w, parent)
}

var clientKind = trace.WithSpanKind(trace.SpanKindClient)

// carriedContexts returns the distinct valid trace contexts the events of w carry.
func carriedContexts(w Write) []trace.SpanContext {
	var out []trace.SpanContext
	last := ""
	for _, a := range w.Appends {
		for _, e := range a.Events {
			tp := e.Metadata.TraceParent
			if tp == "" || tp == last {
				continue
			}
			last = tp
			sc := telemetry.SpanContextOf(tp, e.Metadata.TraceState)
			if sc.IsValid() && !slices.ContainsFunc(out, sc.Equal) {
				out = append(out, sc)
			}
		}
	}
	return out
}

// stamp returns w with the trace context of ctx in the metadata of every event that carries
// none or parent's; the appends and events it changes are copies.
func stamp(ctx context.Context, w Write, parent trace.SpanContext) Write {
	tp, ts := telemetry.Inject(ctx)
	if tp == "" {
		return w
	}
	restamp := func(e EventData) bool {
		return e.Metadata.TraceParent == "" || (parent.IsValid() &&
			sameSpan(telemetry.SpanContextOf(e.Metadata.TraceParent, e.Metadata.TraceState), parent))
	}
	appends, cloned := w.Appends, false
	for i, a := range w.Appends {
		if !slices.ContainsFunc(a.Events, restamp) {
			continue
		}
		if !cloned {
			appends, cloned = slices.Clone(w.Appends), true
		}
		events := slices.Clone(a.Events)
		for j := range events {
			if restamp(events[j]) {
				events[j].Metadata.TraceParent, events[j].Metadata.TraceState = tp, ts
			}
		}
		appends[i].Events = events
	}
	w.Appends = appends
	return w
}

// sameSpan reports whether a and b name the same span (Equal also compares whether each
// came from another process).
func sameSpan(a, b trace.SpanContext) bool {
	return a.TraceID() == b.TraceID() && a.SpanID() == b.SpanID()
}

// writeAttributes describes w on its span: the database, streams, event types and counts.
func writeAttributes(w Write, database string) []attribute.KeyValue {
	streams := make([]string, 0, len(w.Appends))
	var types []string
	n := 0
	for _, a := range w.Appends {
		streams = append(streams, a.StreamID)
		for _, e := range a.Events {
			if !slices.Contains(types, e.Type) {
				types = append(types, e.Type)
			}
		}
		n += len(a.Events)
	}
	attrs := []attribute.KeyValue{
		semconv.DBSystemNamePostgreSQL, semconv.DBNamespace(database),
		attrStreams.StringSlice(streams), attrEventTypes.StringSlice(types), attrEvents.Int(n), {},
	}
	// A reaction's write records the messages it marks processed; a command's has none, and
	// every attribute is paid for in the span, its export and the trace backend.
	if inbox := len(w.Inboxes); inbox > 0 || w.Inbox != nil {
		if w.Inbox != nil {
			inbox++
		}
		attrs[len(attrs)-1] = attrInbox.Int(inbox)
		return attrs
	}
	return attrs[:len(attrs)-1]
}

// endSpan records err on span, unless it is an answer rather than a failure (a version
// conflict or an already-processed message is how optimistic writers learn to retry), and
// ends it.
func endSpan(span trace.Span, err error) {
	if err != nil {
		span.RecordError(err)
		if !isExpected(err) {
			span.SetStatus(codes.Error, err.Error())
		}
	}
	span.End()
}

func isExpected(err error) bool {
	for _, target := range []error{ErrVersionConflict, ErrAlreadyProcessed, ErrIdempotencyKeyExists, ErrValueTaken} {
		if errors.Is(err, target) {
			return true
		}
	}
	return false
}
