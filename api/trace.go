package api

import (
	"context"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/attribute"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/shopflow/shopflow/internal/telemetry"
)

const tracerName = "github.com/shopflow/shopflow/api"

// HeaderTraceResponse answers the trace context of a traced request (W3C Trace Context
// Level 2's traceresponse): its second field is the trace id to open in the trace UI.
const HeaderTraceResponse = "traceresponse"

// traced returns the middlewares that trace requests: otelhttp, the OpenTelemetry project's
// own net/http instrumentation (echo has no maintained one for OpenTelemetry's current
// versions), starts a server span continuing the caller's traceparent; the second names it
// after the route, which only echo knows, and answers the traceresponse header. The
// operational routes are not traced. The span context reaches the events a command
// appends through the request's context (see eventstore.Store.Write).
func traced() []echo.MiddlewareFunc {
	untraced := map[string]bool{"/healthz": true, "/readyz": true, "/metrics": true}
	otel := echo.WrapMiddleware(otelhttp.NewMiddleware("http",
		otelhttp.WithPropagators(telemetry.Propagator),
		otelhttp.WithFilter(func(r *http.Request) bool { return !untraced[r.URL.Path] })))
	name := func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			ctx := c.Request().Context()
			if span := trace.SpanFromContext(ctx); span.IsRecording() {
				span.SetName(c.Request().Method + " " + c.Path())
				span.SetAttributes(semconv.HTTPRoute(c.Path()))
			}
			if sc := trace.SpanContextFromContext(ctx); sc.IsValid() && !untraced[c.Path()] {
				tp, _ := telemetry.Inject(ctx)
				c.Response().Header().Set(HeaderTraceResponse, tp)
			}
			return next(c)
		}
	}
	return []echo.MiddlewareFunc{otel, name}
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
