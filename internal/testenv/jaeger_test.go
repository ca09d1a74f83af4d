package testenv_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/shopflow/shopflow/internal/testenv"
	"github.com/shopflow/shopflow/internal/testenv/jaegerapi"
)

// TestJaegerRoundTrip exports spans with the OpenTelemetry SDK over OTLP/HTTP to the real
// Jaeger and reads them back through its query API: parent and child, a link into another
// trace, attributes, exact start times and durations, and the search by service and tag.
func TestJaegerRoundTrip(t *testing.T) {
	j := testenv.Jaeger(t)
	const service = "shopflow-testenv" // one name for every run: the services list stays short; the tag below isolates
	tp := j.TracerProvider(t, service)
	tracer := tp.Tracer("github.com/shopflow/shopflow/internal/testenv")

	// Explicit timestamps, so the read-back times can be compared exactly.
	t0 := time.Now().Add(-time.Minute).Truncate(time.Microsecond)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	key := testenv.Name("order")

	ctx, root := tracer.Start(context.Background(), "POST /v1/orders", trace.WithTimestamp(at(0)),
		trace.WithSpanKind(trace.SpanKindServer), trace.WithAttributes(attribute.String("shopflow.order_id", key)))
	_, child := tracer.Start(ctx, "append orders", trace.WithTimestamp(at(10)),
		trace.WithAttributes(attribute.Int("shopflow.events", 2)))
	child.End(trace.WithTimestamp(at(30)))
	root.End(trace.WithTimestamp(at(50)))
	// A span of another trace that links to the child, as a batch links what it carried.
	_, batch := tracer.Start(context.Background(), "relay batch", trace.WithNewRoot(), trace.WithTimestamp(at(60)),
		trace.WithLinks(trace.Link{SpanContext: child.SpanContext()}))
	batch.End(trace.WithTimestamp(at(70)))
	if err := tp.ForceFlush(context.Background()); err != nil {
		t.Fatalf("flush spans to %s: %v", j.OTLPEndpoint, err)
	}

	wait, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	traceID := root.SpanContext().TraceID().String()
	tr, err := j.Query.WaitTrace(wait, traceID, func(tr jaegerapi.Trace) bool { return len(tr.Spans) == 2 })
	if err != nil {
		t.Fatal(err)
	}
	t.Run("parent and child", func(t *testing.T) {
		checkParentChild(t, tr, service, root.SpanContext(), child.SpanContext())
	})
	t.Run("times", func(t *testing.T) {
		checkTimes(t, tr, at)
	})
	t.Run("link", func(t *testing.T) {
		bt, err := j.Query.WaitTrace(wait, batch.SpanContext().TraceID().String(), nil)
		if err != nil {
			t.Fatal(err)
		}
		links := bt.Find("relay batch")[0].Links()
		want := jaegerapi.Reference{RefType: jaegerapi.FollowsFrom, TraceID: traceID, SpanID: child.SpanContext().SpanID().String()}
		if len(links) != 1 || links[0] != want {
			t.Errorf("links = %+v, want [%+v]", links, want)
		}
	})
	t.Run("search by tag", func(t *testing.T) {
		checkSearch(t, wait, j.Query, service, key, traceID)
	})
}

func checkParentChild(t *testing.T, tr jaegerapi.Trace, service string, root, child trace.SpanContext) {
	if got := tr.Services(); !slices.Equal(got, []string{service}) {
		t.Errorf("services = %v, want [%s]", got, service)
	}
	roots := tr.Roots()
	if len(roots) != 1 || roots[0].SpanID != root.SpanID().String() || roots[0].OperationName != "POST /v1/orders" {
		t.Fatalf("roots = %+v; %s", roots, tr)
	}
	kids := tr.Children(roots[0].SpanID)
	if len(kids) != 1 || kids[0].SpanID != child.SpanID().String() || kids[0].OperationName != "append orders" {
		t.Fatalf("children of the root = %+v; %s", kids, tr)
	}
	if a := tr.Ancestors(kids[0].SpanID); len(a) != 1 || a[0].SpanID != roots[0].SpanID {
		t.Errorf("ancestors of the child = %+v", a)
	}
	if got := roots[0].StringTag("span.kind"); got != "server" {
		t.Errorf("root span.kind = %q, want server", got)
	}
	if got := kids[0].StringTag("shopflow.events"); got != "2" {
		t.Errorf("child shopflow.events = %q, want 2", got)
	}
	if kids[0].ServiceName != service {
		t.Errorf("child service = %q, want %q", kids[0].ServiceName, service)
	}
}

func checkTimes(t *testing.T, tr jaegerapi.Trace, at func(int) time.Time) {
	root, child := tr.Find("POST /v1/orders")[0], tr.Find("append orders")[0]
	if !root.Start().Equal(at(0)) || root.Duration() != 50*time.Millisecond {
		t.Errorf("root start %v duration %v, want %v and 50ms", root.Start(), root.Duration(), at(0))
	}
	if !child.Start().Equal(at(10)) || !child.End().Equal(at(30)) {
		t.Errorf("child from %v to %v, want %v to %v", child.Start(), child.End(), at(10), at(30))
	}
}

func checkSearch(t *testing.T, ctx context.Context, q *jaegerapi.Client, service, key, traceID string) {
	found, err := q.WaitTraces(ctx, jaegerapi.Query{Service: service, Tags: map[string]string{"shopflow.order_id": key}},
		func(ts []jaegerapi.Trace) bool { return len(ts) > 0 })
	if err != nil {
		t.Fatal(err)
	}
	if len(found) != 1 || found[0].TraceID != traceID {
		t.Errorf("search by order id found %d traces (%v), want only %s", len(found), found, traceID)
	}
	// The filter is applied: another value of the tag finds nothing.
	none, err := q.Traces(ctx, jaegerapi.Query{Service: service, Tags: map[string]string{"shopflow.order_id": key + "x"}})
	if err != nil || len(none) != 0 {
		t.Errorf("search by another order id = %d traces, %v; want none", len(none), err)
	}
}

// TestJaegerMissingTrace checks the not-found path and that WaitTrace gives up when its
// context ends, saying what it last saw.
func TestJaegerMissingTrace(t *testing.T) {
	j := testenv.Jaeger(t)
	missing := strings.Repeat("0", 16) + "1" + strings.Repeat("0", 15)
	if _, err := j.Query.Trace(context.Background(), missing); !errors.Is(err, jaegerapi.ErrNotFound) {
		t.Fatalf("Trace(missing) error = %v, want ErrNotFound", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 700*time.Millisecond)
	defer cancel()
	_, err := j.Query.WaitTrace(ctx, missing, nil)
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "trace not found") {
		t.Fatalf("WaitTrace(missing) error = %v, want the deadline and what was last seen", err)
	}
}
