package api

import (
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

// New returns an echo instance with Shopflow's middleware (request id, structured request
// logs and request metrics of the status sent, recover, body limit), the problem+json
// error handler and the operational routes: GET /healthz, GET /readyz, GET /metrics and
// GET /openapi.yaml. Command and query routes are registered on it by the write and read
// APIs. A 5xx is logged with its error (a 503 at level warn, others at error); other
// requests at info, except /healthz and /metrics, which are measured but not logged.
func New(opts Options) *echo.Echo {
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	// A request must arrive within ReadTimeout, headers within ReadHeaderTimeout: a client
	// that trickles its body would otherwise hold a command slot (see WriteOptions) for as
	// long as it likes. Handlers may run longer (reads that wait for a version).
	e.Server.ReadHeaderTimeout, e.Server.ReadTimeout, e.Server.IdleTimeout = 5*time.Second, 10*time.Second, 2*time.Minute
	e.JSONSerializer = jsonSerializer{}
	e.HTTPErrorHandler = ErrorHandler(opts.Log)
	e.Use(middleware.RequestID(), observe(opts.Log, opts.Registry))
	e.Use(recoverPanics(opts.Log), middleware.BodyLimit(MaxBodyBytes))
	e.GET("/healthz", func(c echo.Context) error {
		return c.JSON(http.StatusOK, map[string]string{"status": "alive"})
	})
	e.GET("/readyz", readyz(opts.Health))
	e.GET("/metrics", echo.WrapHandler(promhttp.HandlerFor(opts.Registry, promhttp.HandlerOpts{Registry: opts.Registry})))
	e.GET("/openapi.yaml", serveOpenAPI)
	return e
}

// recoverPanics turns a handler's panic into an error for observe to answer and log, after
// logging the panic's stack.
func recoverPanics(log *slog.Logger) echo.MiddlewareFunc {
	return middleware.RecoverWithConfig(middleware.RecoverConfig{
		DisableErrorHandler: true,
		LogErrorFunc: func(c echo.Context, err error, stack []byte) error {
			log.ErrorContext(c.Request().Context(), "handler panicked", "err", err, "stack", string(stack))
			return err
		},
	})
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

// observe logs and measures every request after its error, if any, has been answered by
// the error handler, so that both record the status actually sent; the log of a 5xx
// carries its error. It handles the error itself and returns nil, so it must run outside
// every middleware that returns errors (Recover included).
func observe(log *slog.Logger, reg prometheus.Registerer) echo.MiddlewareFunc {
	measure := requestMetrics(reg)
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			start := time.Now()
			err := next(c)
			if err != nil {
				c.Error(err)
			}
			elapsed := time.Since(start)
			measure(c, elapsed)
			if p := c.Path(); p != "/metrics" && p != "/healthz" {
				logRequest(log, c, elapsed, err)
			}
			return nil
		}
	}
}

// logRequest logs a request that was answered; err is the handler's error, logged for 5xx
// only (the others are the client's to fix). A 503 (overload, a dependency down) is a
// warning, other 5xx errors.
func logRequest(log *slog.Logger, c echo.Context, latency time.Duration, err error) {
	req, status := c.Request(), c.Response().Status
	attrs := []slog.Attr{
		slog.String("method", req.Method), slog.String("uri", req.RequestURI), slog.Int("status", status),
		slog.Duration("latency", latency), slog.String("request_id", c.Response().Header().Get(echo.HeaderXRequestID)),
	}
	level := slog.LevelInfo
	if status >= http.StatusInternalServerError {
		level = slog.LevelError
		if status == http.StatusServiceUnavailable {
			level = slog.LevelWarn
		}
		if err != nil {
			attrs = append(attrs, slog.String("err", err.Error()))
		}
	}
	log.LogAttrs(req.Context(), level, "request", attrs...)
}

// requestMetrics returns the function that observes a request's latency by method, route
// and the status sent.
func requestMetrics(reg prometheus.Registerer) func(echo.Context, time.Duration) {
	hist := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "shopflow_http_request_duration_seconds",
		Help:    "HTTP request latency by method, route and status.",
		Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
	}, []string{"method", "route", "status"})
	reg.MustRegister(hist)
	return func(c echo.Context, elapsed time.Duration) {
		status := strconv.Itoa(c.Response().Status)
		hist.WithLabelValues(c.Request().Method, c.Path(), status).Observe(elapsed.Seconds())
	}
}
