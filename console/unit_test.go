package console

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/shopflow/shopflow/eventstore"
)

func TestTraceIDOfTraceparent(t *testing.T) {
	for tp, want := range map[string]string{
		"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01": "4bf92f3577b34da6a3ce929d0e0e4736",
		"00-00000000000000000000000000000000-00f067aa0ba902b7-01": "", // invalid: all zero
		"00-4bf92f35-00f067aa0ba902b7-01":                         "",
		"":                                                        "",
	} {
		if got := traceID(tp); got != want {
			t.Errorf("traceID(%q) = %q, want %q", tp, got, want)
		}
	}
}

// The trace link exists only with both a trace UI and a trace id.
func TestTraceURLNeedsUIAndTrace(t *testing.T) {
	on := &Service{cfg: Config{TraceUIURL: "http://127.0.0.1:16686"}}
	if got := on.traceURL("4bf92f3577b34da6a3ce929d0e0e4736"); got != "http://127.0.0.1:16686/trace/4bf92f3577b34da6a3ce929d0e0e4736" {
		t.Errorf("link %q", got)
	}
	if got := on.traceURL(""); got != "" {
		t.Errorf("link without a trace: %q", got)
	}
	if got := (&Service{}).traceURL("4bf92f3577b34da6a3ce929d0e0e4736"); got != "" {
		t.Errorf("link without a UI: %q", got)
	}
}

// A journey's explanation names the reason in words and the event that decided it.
func TestExplainRejection(t *testing.T) {
	events := []Event{{EventType: "OrderPlaced"}, {EventType: "PaymentDeclined", Context: "payments", StreamID: "account-1"}}
	got := explain("rejected", "insufficient_funds", events)
	if !strings.Contains(got, "balance was too low") || !strings.Contains(got, "PaymentDeclined in payments, account-1") {
		t.Errorf("explanation %q", got)
	}
	if got := explain("rejected", "something_new", nil); !strings.Contains(got, "something_new") {
		t.Errorf("unknown reason: %q", got)
	}
}

// A journey's hops are measured between consecutive events, and the status follows the
// order's own stream.
func TestFillJourney(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	events := []Event{
		{StreamType: "order", EventType: "OrderPlaced", RecordedAt: t0},
		{StreamType: "order_reservation", EventType: "OrderStockReservationFailed", RecordedAt: t0.Add(12 * time.Millisecond)},
		{StreamType: "order", EventType: "OrderRejected", RecordedAt: t0.Add(20 * time.Millisecond), Payload: []byte(`{"reason":"insufficient_stock"}`)},
	}
	var j Journey
	(&Service{}).fillJourney(&j, events)
	if j.Status != "rejected" || j.Reason != "insufficient_stock" || j.Steps[2].SincePlacedMS != 20 || j.Steps[2].SincePreviousMS != 8 {
		t.Fatalf("journey %+v", j)
	}
}

// Forms posted from another site are refused (CSRF); the console's own, or a tool that
// sends neither header, pass.
func TestSameOrigin(t *testing.T) {
	e := echo.New()
	for _, c := range []struct {
		site, origin string
		ok           bool
	}{{"", "", true}, {"same-origin", "http://127.0.0.1:8080", true}, {"cross-site", "", false}, {"", "http://evil.example", false}} {
		req := httptest.NewRequest(http.MethodPost, "http://127.0.0.1:8080/console/read-models/orders/rebuild", nil)
		if c.site != "" {
			req.Header.Set("Sec-Fetch-Site", c.site)
		}
		if c.origin != "" {
			req.Header.Set("Origin", c.origin)
		}
		if err := sameOrigin(e.NewContext(req, httptest.NewRecorder())); (err == nil) != c.ok {
			t.Errorf("site %q origin %q: %v", c.site, c.origin, err)
		}
	}
}

func TestSparkScalesToItsMaximum(t *testing.T) {
	svg := string(spark([]float64{0, 5, 10}))
	if !strings.Contains(svg, `points="0.0,38.0 120.0,20.0 240.0,2.0 "`) {
		t.Errorf("spark %s", svg)
	}
}

// The stream browser shows an event stored at an old schema version as stored and as every
// reader sees it, upcast; an event of the current version has no upcast copy.
func TestEventOfShowsTheUpcastPayload(t *testing.T) {
	old := eventstore.RecordedEvent{Type: "OrderConfirmed", SchemaVersion: 1,
		Payload: []byte(`{"order_id":"o1","lines":[],"total_cents":300,"currency":"EUR"}`)}
	e := eventOf("orders", old)
	if e.SchemaVersion != 1 || e.CurrentSchemaVersion != 2 || e.UpcastError != "" ||
		!strings.Contains(string(e.Upcast), `"total":{"amount_cents":300,"currency":"EUR"}`) {
		t.Errorf("v1 event: %+v (upcast %s)", e, e.Upcast)
	}
	current := eventstore.RecordedEvent{Type: "OrderConfirmed", SchemaVersion: 2, Payload: []byte(`{"order_id":"o1"}`)}
	if e := eventOf("orders", current); e.CurrentSchemaVersion != 0 || e.Upcast != nil {
		t.Errorf("v2 event: %+v", e)
	}
	broken := eventstore.RecordedEvent{Type: "OrderConfirmed", SchemaVersion: 1, Payload: []byte(`{"order_id":"o1"}`)}
	if e := eventOf("orders", broken); e.UpcastError == "" {
		t.Errorf("v1 event without total_cents: %+v", e)
	}
}
