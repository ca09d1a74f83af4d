package jaegerapi

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// These tests run the client against canned answers in the query API's format; the real
// Jaeger is exercised by internal/testenv's TestJaegerRoundTrip.

const traceJSON = `{"data":[{"traceID":"4bf92f3577b34da6a3ce929d0e0e4736","spans":[
 {"traceID":"4bf92f3577b34da6a3ce929d0e0e4736","spanID":"00f067aa0ba902b7","operationName":"append",
  "references":[{"refType":"CHILD_OF","traceID":"4bf92f3577b34da6a3ce929d0e0e4736","spanID":"a000000000000001"},
                {"refType":"FOLLOWS_FROM","traceID":"11111111111111111111111111111111","spanID":"b000000000000002"}],
  "startTime":1700000000010000,"duration":20000,"tags":[{"key":"events","type":"int64","value":2}],
  "logs":[],"processID":"p2","warnings":null},
 {"traceID":"4bf92f3577b34da6a3ce929d0e0e4736","spanID":"a000000000000001","operationName":"POST /v1/orders",
  "references":[],"startTime":1700000000000000,"duration":50000,
  "tags":[{"key":"span.kind","type":"string","value":"server"}],"logs":[],"processID":"p1","warnings":null}],
 "processes":{"p1":{"serviceName":"api","tags":[]},"p2":{"serviceName":"store","tags":[]}},"warnings":null}],
 "total":0,"limit":0,"offset":0,"errors":null}`

func TestTraceDecodesSpansAndResolvesServices(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/traces/4bf92f3577b34da6a3ce929d0e0e4736" {
			http.NotFound(w, r)
			return
		}
		_, _ = w.Write([]byte(traceJSON))
	}))
	defer srv.Close()
	tr, err := New(srv.URL+"/").Trace(context.Background(), "4bf92f3577b34da6a3ce929d0e0e4736")
	if err != nil {
		t.Fatal(err)
	}
	roots := tr.Roots()
	if len(roots) != 1 || roots[0].OperationName != "POST /v1/orders" || roots[0].ServiceName != "api" {
		t.Fatalf("roots = %+v", roots)
	}
	kids := tr.Children(roots[0].SpanID)
	if len(kids) != 1 || kids[0].ServiceName != "store" || kids[0].StringTag("events") != "2" {
		t.Fatalf("children = %+v", kids)
	}
	if l := kids[0].Links(); len(l) != 1 || l[0].SpanID != "b000000000000002" {
		t.Errorf("links = %+v", l)
	}
	if got := kids[0].Start(); !got.Equal(time.UnixMicro(1700000000010000)) || kids[0].Duration() != 20*time.Millisecond {
		t.Errorf("child start %v duration %v", got, kids[0].Duration())
	}
	if s := tr.String(); !strings.Contains(s, "store/append (20ms) child of POST /v1/orders links=1") {
		t.Errorf("String() = %s", s)
	}
}

func TestTracesEncodesTheQuery(t *testing.T) {
	var got string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r.URL.RawQuery
		_, _ = w.Write([]byte(`{"data":[],"errors":null}`))
	}))
	defer srv.Close()
	start := time.UnixMicro(1700000000000000)
	_, err := New(srv.URL).Traces(context.Background(), Query{Service: "shopflow", Operation: "POST /v1/orders",
		Tags: map[string]string{"order.id": "o-1"}, Start: start, Limit: 5, MinDuration: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	want := "limit=5&minDuration=1ms&operation=POST+%2Fv1%2Forders&service=shopflow&start=1700000000000000&tags=%7B%22order.id%22%3A%22o-1%22%7D"
	if got != want {
		t.Errorf("query = %s\nwant    %s", got, want)
	}
	if _, err := New(srv.URL).Traces(context.Background(), Query{}); err == nil {
		t.Error("a query without service was sent")
	}
}

func TestErrorsCarryJaegersMessage(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/api/traces/") {
			w.WriteHeader(http.StatusNotFound)
			_, _ = w.Write([]byte(`{"data":null,"errors":[{"code":404,"msg":"trace not found"}]}`))
			return
		}
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write([]byte(`{"data":null,"errors":[{"code":400,"msg":"parameter 'service' is required"}]}`))
	}))
	defer srv.Close()
	c := New(srv.URL)
	if _, err := c.Trace(context.Background(), "ab"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Trace error = %v, want ErrNotFound", err)
	}
	if _, err := c.Traces(context.Background(), Query{Service: "x"}); err == nil || !strings.Contains(err.Error(), "'service' is required") {
		t.Errorf("Traces error = %v, want Jaeger's message", err)
	}
}

// TestWaitTracePollsUntilThePredicateHolds serves the trace with one span, then with two,
// and checks that WaitTrace waits for the second and backs off between calls.
func TestWaitTracePollsUntilThePredicateHolds(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch calls.Add(1) {
		case 1:
			w.WriteHeader(http.StatusNotFound)
			_, _ = w.Write([]byte(`{"data":null,"errors":[{"code":404,"msg":"trace not found"}]}`))
		case 2, 3:
			_, _ = w.Write([]byte(strings.Replace(traceJSON, `"operationName":"append"`, `"operationName":"late"`, 1)))
		default:
			_, _ = w.Write([]byte(traceJSON))
		}
	}))
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	start := time.Now()
	tr, err := New(srv.URL).WaitTrace(ctx, "4bf92f3577b34da6a3ce929d0e0e4736",
		func(tr Trace) bool { return len(tr.Find("append")) == 1 })
	if err != nil {
		t.Fatal(err)
	}
	if calls.Load() != 4 || len(tr.Spans) != 2 {
		t.Errorf("calls = %d, spans = %d; want 4 calls and the full trace", calls.Load(), len(tr.Spans))
	}
	// Three waits of 100, 200 and 400 ms at least: polite, not a busy loop.
	if waited := time.Since(start); waited < 700*time.Millisecond {
		t.Errorf("WaitTrace returned after %v; it polls without backing off", waited)
	}
}

func TestWaitTraceSaysWhatItLastSaw(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(traceJSON))
	}))
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	tr, err := New(srv.URL).WaitTrace(ctx, "4bf92f3577b34da6a3ce929d0e0e4736", func(Trace) bool { return false })
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "2 spans") {
		t.Fatalf("error = %v, want the deadline and the trace last seen", err)
	}
	if len(tr.Spans) != 2 {
		t.Errorf("returned %d spans, want the last trace seen", len(tr.Spans))
	}
}
