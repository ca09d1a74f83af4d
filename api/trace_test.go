package api_test

import (
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/shopflow/shopflow/api"
	"github.com/shopflow/shopflow/internal/command"
	"github.com/shopflow/shopflow/internal/health"
	"github.com/shopflow/shopflow/internal/telemetry"
	"github.com/shopflow/shopflow/internal/telemetry/telemetrytest"
)

// A command continues the caller's trace: the server span (named after the route) is a
// child of the traceparent sent, the append a child of the server span, the stored events
// carry the append's context, and traceresponse names the trace to open. The request log
// carries the trace and span ids, the latency histogram an exemplar with the trace id.
func TestACommandContinuesTheCallersTrace(t *testing.T) {
	rec := telemetrytest.Record(t)
	w := newWriteAPI(t)
	logs := &syncBuffer{}
	reg := prometheus.NewRegistry()
	w.e = api.New(withAuth(api.Options{Log: slog.New(telemetry.LogHandler(slog.NewJSONHandler(logs, nil))),
		Health: health.NewChecker(time.Second), Registry: reg}))
	h := api.WriteHandlers{Inventory: &api.InventoryCommands{Keys: command.NewIdempotencyKeys(w.inventory.store),
		RegisterProduct: must(command.NewRegisterProductHandler(w.inventory.store, command.Config{}))(t)}}
	if err := api.RegisterWriteRoutes(w.e, h); err != nil {
		t.Fatal(err)
	}
	const caller = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	res := w.post("/v1/products", strings.Replace(widgetJSON, `"W-1"`, `"W-trace"`, 1), "traceparent", caller)
	id := wantResult(t, res, http.StatusCreated).ID

	server := rec.Named("POST /v1/products")
	if len(server) != 1 || server[0].Parent.SpanID().String() != "00f067aa0ba902b7" || server[0].SpanContext.TraceID().String() != "4bf92f3577b34da6a3ce929d0e0e4736" {
		t.Fatalf("server spans %v, want one child of the caller's span", server)
	}
	appended := rec.Named("eventstore append")
	if len(appended) != 1 || appended[0].Parent.SpanID() != server[0].SpanContext.SpanID() {
		t.Fatalf("append spans %v, want one child of the server span", appended)
	}
	if got := res.Header().Get(api.HeaderTraceResponse); telemetry.SpanContextOf(got, "").TraceID() != server[0].SpanContext.TraceID() {
		t.Errorf("traceresponse %q, want the request's trace", got)
	}
	for _, e := range w.inventory.events(t, "product-"+id) {
		if sc := telemetry.SpanContextOf(e.Metadata.TraceParent, ""); sc.SpanID() != appended[0].SpanContext.SpanID() {
			t.Errorf("event %s carries %q, want the append span %v", e.Type, e.Metadata.TraceParent, appended[0].SpanContext.SpanID())
		}
	}
	if log := logs.String(); !strings.Contains(log, `"trace_id":"4bf92f3577b34da6a3ce929d0e0e4736"`) || !strings.Contains(log, `"span_id":"`+server[0].SpanContext.SpanID().String()) {
		t.Errorf("request log without the trace and span ids:\n%s", log)
	}
	if ex := exemplar(t, reg, "shopflow_http_request_duration_seconds"); ex != "4bf92f3577b34da6a3ce929d0e0e4736" {
		t.Errorf("latency exemplar trace_id = %q, want the request's", ex)
	}
}

// exemplar returns the trace_id of the first exemplar of histogram name.
func exemplar(t *testing.T, reg *prometheus.Registry, name string) string {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, b := range m.GetHistogram().GetBucket() {
				if ex := b.GetExemplar(); ex != nil {
					return label(ex.GetLabel(), "trace_id")
				}
			}
		}
	}
	return ""
}

func label(ls []*dto.LabelPair, name string) string {
	for _, l := range ls {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

// With tracing off (no provider set) a caller's trace context still reaches the events the
// command appended, so a traced client's downstream systems can follow it.
func TestWithTracingOffTheCallersTraceContextStillReachesTheEvents(t *testing.T) {
	w := newWriteAPI(t)
	const caller = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	id := wantResult(t, w.post("/v1/products", strings.Replace(widgetJSON, `"W-1"`, `"W-untraced"`, 1), "traceparent", caller), http.StatusCreated).ID
	for _, e := range w.inventory.events(t, "product-"+id) {
		if e.Metadata.TraceParent != caller {
			t.Errorf("event %s carries %q, want the caller's %q", e.Type, e.Metadata.TraceParent, caller)
		}
	}
}
