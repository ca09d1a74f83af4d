package api

import (
	"context"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/shopflow/shopflow/internal/health"
)

// MaxBodyBytes bounds request bodies; larger ones get 413.
const MaxBodyBytes = "1M"

// Options configures New.
type Options struct {
	Log      *slog.Logger
	Health   *health.Checker
	Registry *prometheus.Registry // metrics registry served on /metrics
}

// New returns an echo instance with Shopflow's middleware (recover, request id, body limit,
// structured request logs, request metrics), the problem+json error handler and the
// operational routes: GET /healthz, GET /readyz, GET /metrics and GET /openapi.yaml. Command and query routes
// are registered on it by the write and read APIs.
func New(opts Options) *echo.Echo {
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.JSONSerializer = jsonSerializer{}
	e.HTTPErrorHandler = ErrorHandler(opts.Log)
	e.Use(middleware.Recover(), middleware.RequestID(), middleware.BodyLimit(MaxBodyBytes))
	e.Use(requestLogger(opts.Log), requestMetrics(opts.Registry))
	e.GET("/healthz", func(c echo.Context) error {
		return c.JSON(http.StatusOK, map[string]string{"status": "alive"})
	})
	e.GET("/readyz", readyz(opts.Health))
	e.GET("/metrics", echo.WrapHandler(promhttp.HandlerFor(opts.Registry, promhttp.HandlerOpts{Registry: opts.Registry})))
	e.GET("/openapi.yaml", serveOpenAPI)
	return e
}

func readyz(checker *health.Checker) echo.HandlerFunc {
	return func(c echo.Context) error {
		rep := checker.Run(c.Request().Context())
		status := http.StatusOK
		if !rep.Ready {
			status = http.StatusServiceUnavailable
		}
		return c.JSON(status, rep)
	}
}

func requestLogger(log *slog.Logger) echo.MiddlewareFunc {
	return middleware.RequestLoggerWithConfig(middleware.RequestLoggerConfig{
		LogStatus: true, LogURI: true, LogMethod: true, LogLatency: true, LogRequestID: true,
		Skipper: func(c echo.Context) bool { return c.Path() == "/metrics" || c.Path() == "/healthz" },
		LogValuesFunc: func(c echo.Context, v middleware.RequestLoggerValues) error {
			log.LogAttrs(context.Background(), slog.LevelInfo, "request",
				slog.String("method", v.Method), slog.String("uri", v.URI), slog.Int("status", v.Status),
				slog.Duration("latency", v.Latency), slog.String("request_id", v.RequestID))
			return nil
		},
	})
}

func requestMetrics(reg prometheus.Registerer) echo.MiddlewareFunc {
	hist := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "shopflow_http_request_duration_seconds",
		Help:    "HTTP request latency by method, route and status.",
		Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
	}, []string{"method", "route", "status"})
	reg.MustRegister(hist)
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			start := time.Now()
			err := next(c)
			status := c.Response().Status
			if err != nil {
				status = toProblem(err).Status
			}
			hist.WithLabelValues(c.Request().Method, c.Path(), strconv.Itoa(status)).Observe(time.Since(start).Seconds())
			return err
		}
	}
}
