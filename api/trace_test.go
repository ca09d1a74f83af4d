package api_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

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

// The server span records the status sent, after the error handler has answered: a 503
// marks the span as failed, a 401 refused before any handler ran is still traced with its
// route, and the operational routes are not traced at all.
func TestTheServerSpanRecordsTheStatusSent(t *testing.T) {
	rec := telemetrytest.Record(t)
	e := api.New(withAuth(api.Options{Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Health: health.NewChecker(time.Second), Registry: prometheus.NewRegistry()}))
	e.GET("/v1/orders/:id", func(echo.Context) error { return fmt.Errorf("read orders: %w", context.DeadlineExceeded) })
	for _, tc := range []struct {
		token string
		want  int
	}{{staffToken, http.StatusServiceUnavailable}, {"", http.StatusUnauthorized}} {
		req := httptest.NewRequest(http.MethodGet, "/v1/orders/o-1", nil)
		if tc.token != "" {
			req.Header.Set(echo.HeaderAuthorization, "Bearer "+tc.token)
		}
		res := httptest.NewRecorder()
		e.ServeHTTP(res, req)
		if res.Code != tc.want {
			t.Fatalf("status %d, want %d: %s", res.Code, tc.want, res.Body)
		}
	}
	spans := rec.Named("GET /v1/orders/:id")
	if len(spans) != 2 {
		t.Fatalf("%d spans named after the route, want 2: %v", len(spans), rec.Spans())
	}
	for i, want := range []struct {
		status string
		code   codes.Code
	}{{"503", codes.Error}, {"401", codes.Unset}} {
		s := spans[i]
		if got := telemetrytest.Attr(s, "http.response.status_code"); got != want.status || s.Status.Code != want.code {
			t.Errorf("span %d: status_code %s, span status %v; want %s, %v", i, got, s.Status.Code, want.status, want.code)
		}
		if telemetrytest.Attr(s, "http.route") != "/v1/orders/:id" || s.SpanKind != trace.SpanKindServer {
			t.Errorf("span %d: route %q kind %v", i, telemetrytest.Attr(s, "http.route"), s.SpanKind)
		}
	}
	e.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/healthz", nil))
	if n := len(rec.Spans()); n != 2 {
		t.Errorf("%d spans after GET /healthz, want it untraced", n)
	}
}
