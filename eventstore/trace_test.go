package eventstore_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/shopflow/shopflow/eventstore"
	"github.com/shopflow/shopflow/internal/kafka"
	"github.com/shopflow/shopflow/internal/telemetry"
	"github.com/shopflow/shopflow/internal/telemetry/telemetrytest"
	"github.com/shopflow/shopflow/internal/testenv"
)

// storedContext returns the span context recorded with the events of stream.
func storedContext(t *testing.T, s *eventstore.Store, stream string) []trace.SpanContext {
	t.Helper()
	evs, err := s.Load(context.Background(), stream, 0)
	if err != nil {
		t.Fatal(err)
	}
	var out []trace.SpanContext
	for _, e := range evs {
		out = append(out, telemetry.SpanContextOf(e.Metadata.TraceParent, e.Metadata.TraceState))
	}
	return out
}

// An append inside a request's span is one span, child of the request's, and the events
// record the append span's context: the one the relay publishes them under.
func TestAppendIsOneSpanWhoseContextTheEventsCarry(t *testing.T) {
	rec := telemetrytest.Record(t)
	s, _, _ := newStore(t)
	ctx, req := rec.Start(context.Background(), "POST /v1/orders")
	if _, err := s.Append(ctx, "thing-1", "thing", 0, ev("Opened", 1), ev("Noted", 2)); err != nil {
		t.Fatal(err)
	}
	req.End()
	appends := rec.Named("eventstore append")
	if len(appends) != 1 {
		t.Fatalf("%d append spans, want 1", len(appends))
	}
	a := appends[0]
	if a.Parent.SpanID() != req.SpanContext().SpanID() || a.SpanContext.TraceID() != req.SpanContext().TraceID() {
		t.Errorf("append span's parent = %v, want the request span %v", a.Parent.SpanID(), req.SpanContext().SpanID())
	}
	if got := telemetrytest.Attr(a, "shopflow.stream_ids"); got != `["thing-1"]` {
		t.Errorf("shopflow.stream_ids = %s", got)
	}
	if got := telemetrytest.Attr(a, "shopflow.events"); got != "2" {
		t.Errorf("shopflow.events = %s", got)
	}
	if got := telemetrytest.Attr(a, "shopflow.inbox_entries"); got != "" {
		t.Errorf("a command's append records shopflow.inbox_entries = %s; it marks no message processed", got)
	}
	for i, sc := range storedContext(t, s, "thing-1") {
		if sc.SpanID() != a.SpanContext.SpanID() || sc.TraceID() != a.SpanContext.TraceID() {
			t.Errorf("event %d carries %v, want the append span %v", i+1, sc.SpanID(), a.SpanContext.SpanID())
		}
	}
}

// A write of several messages' decisions (a saga group commit) has no single cause: its span
// is a root that links each message's trace, and every event keeps its own message's
// context, so each order's trace goes on from its own reaction.
func TestGroupWriteLinksEveryCarriedTrace(t *testing.T) {
	rec := telemetrytest.Record(t)
	s, _, _ := newStore(t)
	_, m1 := rec.Start(context.Background(), "react 1")
	_, m2 := rec.Start(context.Background(), "react 2")
	m1.End()
	m2.End()
	withContext := func(n int, sc trace.SpanContext) eventstore.EventData {
		e := ev("StockReserved", n)
		e.Metadata.TraceParent, e.Metadata.TraceState = telemetry.Inject(trace.ContextWithSpanContext(context.Background(), sc))
		return e
	}
	_, err := s.Write(context.Background(), eventstore.Write{Appends: []eventstore.StreamAppend{
		{StreamID: "product-1", StreamType: "product", Events: []eventstore.EventData{withContext(1, m1.SpanContext()), withContext(2, m2.SpanContext())}},
	}, Inbox: &eventstore.InboxEntry{Consumer: "trace-test", MessageID: "m1"},
		Inboxes: []eventstore.InboxEntry{{Consumer: "trace-test", MessageID: "m2"}}})
	if err != nil {
		t.Fatal(err)
	}
	a := rec.Named("eventstore append")[0]
	if got := telemetrytest.Attr(a, "shopflow.inbox_entries"); got != "2" {
		t.Errorf("shopflow.inbox_entries = %q, want the 2 messages the write marks processed", got)
	}
	if a.Parent.IsValid() {
		t.Errorf("group write span has parent %v, want a root", a.Parent.SpanID())
	}
	if !telemetrytest.LinksTo(a, m1.SpanContext()) || !telemetrytest.LinksTo(a, m2.SpanContext()) || len(a.Links) != 2 {
		t.Errorf("group write span links %v, want both reactions", a.Links)
	}
	got := storedContext(t, s, "product-1")
	if got[0].SpanID() != m1.SpanContext().SpanID() || got[1].SpanID() != m2.SpanContext().SpanID() {
		t.Errorf("events carry %v, %v; want their own reactions' spans", got[0].SpanID(), got[1].SpanID())
	}
}

// The relay publishes each event in the trace stored with it: the record's traceparent is a
// "publish" span, child of the append span, not of anything of the relay's own. An upcast
// envelope keeps the stored trace context.
func TestRelayPublishesEachEventAsAChildOfItsAppend(t *testing.T) {
	rec := telemetrytest.Record(t)
	s, pool, _ := newStore(t)
	topic := testenv.Topics(t, 1, "trace")[0]
	ctx, req := rec.Start(context.Background(), "POST /v1/orders")
	if _, err := s.Append(ctx, "thing-1", "thing", 0, ev("Opened", 1)); err != nil {
		t.Fatal(err)
	}
	req.End()
	producer := testenv.Kafka(t, append(eventstore.RelayProducerOpts(), kafka.Tracing(""))...)
	relay, err := eventstore.NewRelay(pool, producer, eventstore.RelayConfig{Topic: topic})
	if err != nil {
		t.Fatal(err)
	}
	rctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = relay.Run(rctx) }()
	t.Cleanup(func() { cancel(); <-done })

	cl := testenv.Kafka(t, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	pctx, pcancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer pcancel()
	var r *kgo.Record
	for r == nil && pctx.Err() == nil {
		cl.PollFetches(pctx).EachRecord(func(x *kgo.Record) { r = x })
	}
	if r == nil {
		t.Fatal("nothing published within 30 s")
	}
	appendSpan := rec.Named("eventstore append")[0]
	header := kafka.SpanContext(r)
	var publish bool
	for range 100 { // the publish span ends on the acknowledgement, maybe after the poll
		if p, ok := rec.Find(func(s2 tracetest.SpanStub) bool { return s2.SpanContext.SpanID() == header.SpanID() }); ok {
			publish = true
			if p.Parent.SpanID() != appendSpan.SpanContext.SpanID() || p.Name != topic+" publish" {
				t.Errorf("record published under %q, child of %v; want a publish span, child of the append %v",
					p.Name, p.Parent.SpanID(), appendSpan.SpanContext.SpanID())
			}
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !publish || header.TraceID() != req.SpanContext().TraceID() {
		t.Fatalf("record's trace context %v is not a publish span of the request's trace %v", header, req.SpanContext().TraceID())
	}
	up := &eventstore.Upcasters{}
	up.Register("Opened", 1, func(json.RawMessage) (json.RawMessage, error) { return json.RawMessage(`{"n":1,"upcast":true}`), nil })
	env, err := eventstore.Decode(r, up)
	if err != nil {
		t.Fatal(err)
	}
	if sc := telemetry.SpanContextOf(env.Metadata.TraceParent, env.Metadata.TraceState); sc.SpanID() != appendSpan.SpanContext.SpanID() || env.SchemaVersion != 2 {
		t.Errorf("upcast envelope v%d carries %v, want the append span %v", env.SchemaVersion, sc.SpanID(), appendSpan.SpanContext.SpanID())
	}
}
