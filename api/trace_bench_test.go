package api_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/shopflow/shopflow/api"
	"github.com/shopflow/shopflow/internal/health"
)

// discard is a span exporter that drops every span: the benchmark measures what the server
// span costs the request, not what exporting it costs.
type discard struct{}

func (discard) ExportSpans(context.Context, []sdktrace.ReadOnlySpan) error { return nil }
func (discard) Shutdown(context.Context) error                             { return nil }

// BenchmarkRequestStack measures a request through api.New's middleware to a handler that
// does nothing, with tracing off and with every span sampled: what the server span costs.
func BenchmarkRequestStack(b *testing.B) {
	for _, tracing := range []bool{false, true} {
		name := map[bool]string{false: "untraced", true: "traced"}[tracing]
		b.Run(name, func(b *testing.B) {
			if tracing {
				tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(discard{}), sdktrace.WithSampler(sdktrace.AlwaysSample()))
				otel.SetTracerProvider(tp)
				b.Cleanup(func() { _ = tp.Shutdown(context.Background()); otel.SetTracerProvider(noop.NewTracerProvider()) })
			}
			e := api.New(api.Options{Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Health: health.NewChecker(time.Second),
				Registry: prometheus.NewRegistry(), AuthDisabled: true, RateLimits: api.RateLimits{PerSecond: 1e9, Burst: 1e9}})
			e.POST("/v1/orders", func(c echo.Context) error { return c.JSON(http.StatusAccepted, map[string]string{"id": "x"}) })
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				req := httptest.NewRequest(http.MethodPost, "/v1/orders", strings.NewReader(`{}`))
				req.Header.Set("Content-Type", "application/json")
				rec := httptest.NewRecorder()
				e.ServeHTTP(rec, req)
				if rec.Code != http.StatusAccepted {
					b.Fatalf("status %d: %s", rec.Code, rec.Body)
				}
			}
		})
	}
}
