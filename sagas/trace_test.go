package sagas_test

import (
	"bytes"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/shopflow/shopflow/domain/inventory"
	"github.com/shopflow/shopflow/domain/order"
	"github.com/shopflow/shopflow/domain/payment"
	"github.com/shopflow/shopflow/eventstore"
	"github.com/shopflow/shopflow/internal/command"
	"github.com/shopflow/shopflow/internal/kafka"
	"github.com/shopflow/shopflow/internal/telemetry"
	"github.com/shopflow/shopflow/internal/telemetry/telemetrytest"
	"github.com/shopflow/shopflow/internal/testenv"
	"github.com/shopflow/shopflow/sagas"
)

// inTrace returns the ended spans of trace id, in the order they ended.
func inTrace(rec *telemetrytest.Recorder, id trace.TraceID) tracetest.SpanStubs {
	var out tracetest.SpanStubs
	for _, s := range rec.Spans() {
		if s.SpanContext.TraceID() == id {
			out = append(out, s)
		}
	}
	return out
}

// byID finds the span id among spans.
func byID(spans tracetest.SpanStubs, id trace.SpanID) (tracetest.SpanStub, bool) {
	i := slices.IndexFunc(spans, func(s tracetest.SpanStub) bool { return s.SpanContext.SpanID() == id })
	if i < 0 {
		return tracetest.SpanStub{}, false
	}
	return spans[i], true
}

// chain returns the names of s and its ancestors within spans, nearest first.
func chain(spans tracetest.SpanStubs, s tracetest.SpanStub) []string {
	names := []string{s.Name}
	for s.Parent.IsValid() {
		p, ok := byID(spans, s.Parent.SpanID())
		if !ok {
			break
		}
		names, s = append(names, p.Name), p
	}
	return names
}

// waitSpan waits until the trace holds a span called name and returns it.
func waitSpan(t *testing.T, rec *telemetrytest.Recorder, id trace.TraceID, name string) tracetest.SpanStub {
	t.Helper()
	var found tracetest.SpanStub
	eventually(t, 30*time.Second, "span "+name, func() bool {
		i := slices.IndexFunc(inTrace(rec, id), func(s tracetest.SpanStub) bool { return s.Name == name })
		if i >= 0 {
			found = inTrace(rec, id)[i]
		}
		return i >= 0
	})
	return found
}

// One order's saga is one trace: the client's span, the order's append, each context's
// reaction (child of the publish of the record it consumed, itself under the append that
// wrote it), down to the OrderConfirmed event, which carries the trace on.
func TestAnOrdersSagaIsOneTrace(t *testing.T) {
	rec := telemetrytest.Record(t)
	w := newWorld(t, worldOpts{})
	w.start()
	p, c := w.newProduct(100, 10), w.newCustomer(1_000)
	cctx, client := rec.Start(ctx(t), "client")
	res, err := w.place.Handle(cctx, command.PlaceOrder{CustomerID: c, Lines: []order.Line{{ProductID: p, Quantity: 1}}}, command.Options{})
	client.End()
	if err != nil {
		t.Fatal(err)
	}
	w.waitStatus(res.ID, order.StatusConfirmed)
	id := client.SpanContext().TraceID()
	want := map[string][]string{ // each reaction: its span and what led to it, nearest first
		"inventory react " + order.TypeOrderPlaced:           {"publish", "eventstore append", "client"},
		"payments react " + inventory.TypeOrderStockReserved: {"publish", "eventstore append", "inventory react " + order.TypeOrderPlaced},
		"orders react " + payment.TypePaymentCaptured:        {"publish", "eventstore append", "payments react " + inventory.TypeOrderStockReserved},
	}
	for name, ancestors := range want {
		s := waitSpan(t, rec, id, name)
		got := chain(inTrace(rec, id), s)
		if len(got) < len(ancestors)+1 {
			t.Errorf("%s: ancestors %v, want %v", name, got[1:], ancestors)
			continue
		}
		for i, a := range ancestors {
			if !containsWord(got[i+1], a) {
				t.Errorf("%s: ancestors %v, want %v", name, got[1:], ancestors)
				break
			}
		}
	}
	evs, err := w.dbs[sagas.Orders].store.Load(ctx(t), "order-"+res.ID, 0)
	if err != nil {
		t.Fatal(err)
	}
	last := evs[len(evs)-1]
	if sc := telemetry.SpanContextOf(last.Metadata.TraceParent, last.Metadata.TraceState); last.Type != order.TypeOrderConfirmed || sc.TraceID() != id {
		t.Errorf("last event %s carries trace %v, want %s in %v", last.Type, sc.TraceID(), order.TypeOrderConfirmed, id)
	}
}

// containsWord reports whether name is want or ends with " "+want ("orders.events publish").
func containsWord(name, want string) bool {
	return name == want || len(name) > len(want) && name[len(name)-len(want)-1:] == " "+want
}

// The reactions of several orders written in one group commit: the write links each of them,
// and each order's trace goes on from its own reaction.
func TestAGroupCommitLinksEveryOrdersTrace(t *testing.T) {
	rec := telemetrytest.Record(t)
	w := newWorld(t, worldOpts{partitions: 1})
	w.start(sagas.Orders, sagas.Payments) // inventory later: both orders wait in one partition
	p, c := w.newProduct(100, 10), w.newCustomer(1_000)
	var clients []trace.Span
	for range 2 {
		cctx, client := rec.Start(ctx(t), "client")
		if _, err := w.place.Handle(cctx, command.PlaceOrder{CustomerID: c, Lines: []order.Line{{ProductID: p, Quantity: 1}}}, command.Options{}); err != nil {
			t.Fatal(err)
		}
		client.End()
		clients = append(clients, client)
	}
	time.Sleep(500 * time.Millisecond) // let the relay publish both before the reactor polls
	w.start(sagas.Inventory)
	var reactions []tracetest.SpanStub
	for _, cl := range clients {
		reactions = append(reactions, waitSpan(t, rec, cl.SpanContext().TraceID(), "inventory react "+order.TypeOrderPlaced))
	}
	group, ok := rec.Find(func(s tracetest.SpanStub) bool {
		return s.Name == "eventstore append" && telemetrytest.LinksTo(s, reactions[0].SpanContext) && telemetrytest.LinksTo(s, reactions[1].SpanContext)
	})
	if !ok {
		t.Fatal("no append span links both orders' reactions: were they not group-committed?")
	}
	if group.Parent.IsValid() {
		t.Errorf("the group commit's span has parent %v, want a root that links", group.Parent.SpanID())
	}
	for _, r := range reactions {
		waitSpan(t, rec, r.SpanContext.TraceID(), "payments react "+inventory.TypeOrderStockReserved)
	}
}

// A record dead-lettered and redriven stays in its trace: the dead letter is published under
// the failed reaction, and the redriven record's reaction is in the same trace again.
func TestARedrivenDeadLetterStaysInItsTrace(t *testing.T) {
	rec := telemetrytest.Record(t)
	w := newWorld(t, worldOpts{partitions: 1})
	logs := &lockedBuffer{}
	w.cfg.Log = slog.New(telemetry.LogHandler(slog.NewJSONHandler(logs, nil)))
	w.start()
	producer := testenv.Kafka(t, append(eventstore.ProducerOpts(), kafka.Tracing(""))...)
	pctx, client := rec.Start(ctx(t), "client")
	bad := badPayload(t, w.topic(sagas.Orders))
	if err := producer.ProduceSync(pctx, bad).FirstErr(); err != nil {
		t.Fatal(err)
	}
	client.End()
	id := client.SpanContext().TraceID()
	letter := w.waitLetters(w.cfg.Inventory.DeadLetterTopic, 1)[0]
	if sc := kafka.SpanContext(&kgo.Record{Headers: letter.Headers}); sc.TraceID() != id {
		t.Errorf("dead letter carries trace %v, want %v", sc.TraceID(), id)
	}
	if err := sagas.Redrive(ctx(t), w.cfg.Brokers, []sagas.DeadLetter{letter}); err != nil {
		t.Fatal(err)
	}
	w.waitLetters(w.cfg.Inventory.DeadLetterTopic, 2)
	// The on-call engineer finds the trace from the log line.
	if l := logs.String(); !strings.Contains(l, `"msg":"message dead-lettered"`) || !strings.Contains(l, `"trace_id":"`+id.String()+`"`) {
		t.Errorf("the dead-letter log does not name the record's trace %v:\n%s", id, l)
	}
	eventually(t, 30*time.Second, "two failed reactions in the trace", func() bool {
		n := 0
		for _, s := range inTrace(rec, id) {
			if s.Name == "inventory react "+order.TypeOrderPlaced && telemetrytest.Attr(s, "shopflow.permanent") == "true" {
				n++
			}
		}
		return n == 2
	})
}

// lockedBuffer is a bytes.Buffer safe for the reactors' concurrent logging.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
