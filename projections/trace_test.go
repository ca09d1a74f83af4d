package projections_test

import (
	"context"
	"testing"

	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/shopflow/shopflow/eventstore"
	"github.com/shopflow/shopflow/internal/telemetry"
	"github.com/shopflow/shopflow/internal/telemetry/telemetrytest"
	"github.com/shopflow/shopflow/projections"
	"github.com/shopflow/shopflow/projections/projectionstest"
)

// A live worker's bulk request links the trace of every event it indexed, and each event's
// trace ends with an index span, child of the event's trace context: an order's trace shows
// when its document was stored.
func TestTheProjectorIndexesEachEventInItsTrace(t *testing.T) {
	rec := telemetrytest.Record(t)
	shop := projectionstest.NewShop(7)
	shop.Random(2, 2, 3)
	env := projectionstest.New(t, 1)
	var orders []eventstore.Envelope
	var causes []trace.SpanContext
	for _, e := range shop.Events {
		if e.StreamType != "order" {
			continue
		}
		_, span := rec.Start(context.Background(), "append "+e.StreamID)
		span.End()
		e.Metadata.TraceParent, e.Metadata.TraceState = telemetry.Inject(trace.ContextWithSpanContext(context.Background(), span.SpanContext()))
		orders, causes = append(orders, e), append(causes, span.SpanContext())
	}
	env.StartWorker(t, projections.Orders)
	env.Produce(t, orders...)
	env.WaitCaughtUp(t, projections.Orders)
	for i, cause := range causes {
		index, ok := rec.Find(func(s tracetest.SpanStub) bool {
			return s.Name == "projections index orders" && s.Parent.SpanID() == cause.SpanID() && s.SpanContext.TraceID() == cause.TraceID()
		})
		if !ok {
			t.Errorf("event %d (%s): no index span in its trace", i, orders[i].StreamID)
			continue
		}
		bulk, ok := rec.Find(func(s tracetest.SpanStub) bool {
			return s.Name == "projections bulk orders" && telemetrytest.LinksTo(s, cause)
		})
		if !ok || !telemetrytest.LinksTo(index, bulk.SpanContext) || bulk.Parent.IsValid() {
			t.Errorf("event %d: bulk span %v (parent %v) does not link it, or its index span does not link the bulk", i, bulk.Name, bulk.Parent)
		}
	}
}
