package api

import (
	"context"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/shopflow/shopflow/internal/telemetry"
)

const tracerName = "github.com/shopflow/shopflow/api"

// HeaderTraceResponse answers the trace context of a traced request (W3C Trace Context
// Level 2's traceresponse): its second field is the trace id to open in the trace UI.
const HeaderTraceResponse = "traceresponse"

// traced returns the middleware that traces requests: a server span, continuing the
// caller's traceparent, named after the route (known here, since echo routes before its
// middleware runs) with the HTTP semantic conventions' request attributes and the status
// sent, and the traceresponse header naming it. The operational routes are not traced.
// The span context reaches the events a command appends through the request's context
// (see eventstore.Store.Write); with tracing off, the caller's context still does.
//
// It is a few lines on the OpenTelemetry API rather than otelhttp: measured with
// BenchmarkRequestStack, otelhttp's response-writer wrapper, attribute set and metrics
// (recorded even into a no-op meter) cost each request more than the span itself, and the
// request metrics are observe's.
func traced() echo.MiddlewareFunc {
	untraced := map[string]bool{"/healthz": true, "/readyz": true, "/metrics": true}
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			route := c.Path()
			if untraced[route] {
				return next(c)
			}
			req := c.Request()
			parent := telemetry.Propagator.Extract(req.Context(), propagation.HeaderCarrier(req.Header))
			ctx, span := telemetry.Tracer(tracerName).Start(parent, spanName(req.Method, route), serverKind)
			defer span.End()
			c.SetRequest(req.WithContext(ctx))
			if sc := span.SpanContext(); sc.IsValid() && sc.SpanID() != trace.SpanContextFromContext(parent).SpanID() {
				tp, _ := telemetry.Inject(ctx)
				c.Response().Header().Set(HeaderTraceResponse, tp)
			}
			err := next(c)
			if err != nil {
				c.Error(err) // normally observe has answered already; this answers a request it did not see
			}
			status := c.Response().Status
			if span.IsRecording() {
				span.SetAttributes(spanAttributes(req, route, status)...)
			}
			if status >= http.StatusInternalServerError {
				span.SetStatus(codes.Error, http.StatusText(status))
			}
			return nil
		}
	}
}

// spanName is the semantic conventions' server span name: method and route, or the method
// alone for a request no route matched.
func spanName(method, route string) string {
	if route == "" {
		return method
	}
	return method + " " + route
}

var serverKind = trace.WithSpanKind(trace.SpanKindServer)

// spanAttributes are the semantic conventions' required and recommended attributes of an
// HTTP server span that Shopflow knows without parsing anything, and the status sent. They
// are set once, when the response is known, rather than the request's at the start and the
// status at the end: the SDK copies a start option's attributes twice and grows the span's
// set for the status, which BenchmarkRequestStack showed costs every request more than the
// span's other work. Shopflow's samplers (always, parent-based ratio) do not read attributes.
func spanAttributes(req *http.Request, route string, status int) []attribute.KeyValue {
	scheme := "http"
	if req.TLS != nil {
		scheme = "https"
	}
	attrs := make([]attribute.KeyValue, 0, 7)
	attrs = append(attrs, semconv.HTTPRequestMethodKey.String(req.Method), semconv.URLPath(req.URL.Path),
		semconv.URLScheme(scheme), semconv.ServerAddress(req.Host), semconv.HTTPResponseStatusCode(status))
	if route != "" {
		attrs = append(attrs, semconv.HTTPRoute(route))
	}
	if ua := req.UserAgent(); ua != "" {
		attrs = append(attrs, semconv.UserAgentOriginal(ua))
	}
	return attrs
}

// startWait starts the span of a read that waits for a document to reach minVersion; end
// records how many reads it took, how long it waited and whether the version was reached.
func startWait(ctx context.Context, minVersion int64, timeout time.Duration) (context.Context, func(reads int, reached bool)) {
	if minVersion <= 0 {
		return ctx, func(int, bool) {}
	}
	start := time.Now()
	ctx, span := telemetry.Tracer(tracerName).Start(ctx, "await min_version", trace.WithAttributes(
		attribute.Int64("shopflow.min_version", minVersion), attribute.String("shopflow.wait", timeout.String())))
	return ctx, func(reads int, reached bool) {
		span.SetAttributes(attribute.Int("shopflow.reads", reads), attribute.Bool("shopflow.reached", reached),
			attribute.Float64("shopflow.waited_ms", float64(time.Since(start).Microseconds())/1000))
		span.End()
	}
}
