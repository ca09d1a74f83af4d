package api

import (
	"cmp"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/shopflow/shopflow/internal/health"
	"github.com/shopflow/shopflow/internal/telemetry"
)

// MaxBodyBytes bounds request bodies; larger ones get 413.
const MaxBodyBytes = "1M"

// Options configures New.
type Options struct {
	Log      *slog.Logger
	Health   *health.Checker
	Registry *prometheus.Registry // metrics registry served on /metrics
	// Auth verifies the bearer token every route but the public ones requires (see
	// Routes). Nil refuses every such request with 401, unless AuthDisabled.
	Auth Authenticator
	// AuthDisabled serves every route to every caller, as principal AnonymousSubject
	// holding every scope but the customer one. For setups that authenticate in front of
	// Shopflow only; the process logs a warning at start.
	AuthDisabled bool
	// RateLimits bound each principal's requests (the zero value takes the defaults).
	RateLimits RateLimits
	// Timeouts bound how long a connection may take to send a request, and more (the zero
	// value takes the defaults).
	Timeouts Timeouts
}

// Defaults of Timeouts.
const (
	// DefaultReadHeaderTimeout bounds the time a client takes to send a request's headers.
	DefaultReadHeaderTimeout = 5 * time.Second
	// DefaultReadTimeout bounds the time a client takes to send a whole request: a client
	// that trickles its body would otherwise hold a command slot (see WriteOptions) for as
	// long as it likes.
	DefaultReadTimeout = 10 * time.Second
	// DefaultWriteTimeout bounds a request from the end of its headers to the end of its
	// response: the longest handler (a read waiting MaxReadWait for a version, or a command
	// within its deadline) and the time to send the answer fit well within it.
	DefaultWriteTimeout = 30 * time.Second
	// DefaultIdleTimeout bounds how long a kept-alive connection waits for its next request.
	DefaultIdleTimeout = 2 * time.Minute
	// DefaultMaxHeaderBytes bounds the request line and headers: room for a bearer token of
	// several kilobytes and long query strings, not for megabytes of headers.
	DefaultMaxHeaderBytes = 32 << 10
)

// Timeouts are the HTTP server's bounds on each connection (net/http's fields of the
// same names). A zero field takes its default.
type Timeouts struct {
	ReadHeader, Read, Write, Idle time.Duration
	MaxHeaderBytes                int
}

// apply sets t, defaults filled in, on srv.
func (t Timeouts) apply(srv *http.Server) {
	srv.ReadHeaderTimeout = cmp.Or(t.ReadHeader, DefaultReadHeaderTimeout)
	srv.ReadTimeout = cmp.Or(t.Read, DefaultReadTimeout)
	srv.WriteTimeout = cmp.Or(t.Write, DefaultWriteTimeout)
	srv.IdleTimeout = cmp.Or(t.Idle, DefaultIdleTimeout)
	srv.MaxHeaderBytes = cmp.Or(t.MaxHeaderBytes, DefaultMaxHeaderBytes)
}

// New returns an echo instance with Shopflow's middleware (request id, structured request
// logs and request metrics of the status sent, recover, body limit, then authentication,
// per-principal rate limits and authorization by Routes), the problem+json
// error handler and the operational routes: GET /healthz, GET /readyz, GET /metrics,
// GET /openapi.yaml and GET /asyncapi.yaml. Command and query routes are registered on it by the write and read
// APIs. A 5xx is logged with its error (a 503 at level warn, others at error); other
// requests at info, except /healthz and /metrics, which are measured but not logged.
func New(opts Options) *echo.Echo {
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	opts.Timeouts.apply(e.Server)
	e.JSONSerializer = jsonSerializer{}
	e.HTTPErrorHandler = ErrorHandler(opts.Log)
	e.Use(traced())
	e.Use(middleware.RequestID(), observe(opts.Log, opts.Registry))
	e.Use(recoverPanics(opts.Log), middleware.BodyLimit(MaxBodyBytes))
	g := &guard{verifier: opts.Auth, disabled: opts.AuthDisabled, limits: newRateLimiter(opts.RateLimits, opts.Registry)}
	e.Use(g.middleware)
	e.GET("/healthz", func(c echo.Context) error {
		return c.JSON(http.StatusOK, map[string]string{"status": "alive"})
	})
	e.GET("/readyz", readyz(opts.Health))
	e.GET("/metrics", echo.WrapHandler(promhttp.HandlerFor(opts.Registry, promhttp.HandlerOpts{Registry: opts.Registry, EnableOpenMetrics: true})))
	e.GET("/openapi.yaml", serveOpenAPI)
	e.GET("/asyncapi.yaml", serveAsyncAPI)
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

// readyz answers 200 while every check is up, else 503; each exclude query parameter (a
// check's name, or a prefix and '*') leaves the checks it names out (see package health).
func readyz(checker *health.Checker) echo.HandlerFunc {
	return func(c echo.Context) error {
		var unknown []FieldError
		for name := range c.QueryParams() {
			if name != "exclude" {
				unknown = append(unknown, FieldError{Field: "query." + name, Reason: "is not a known parameter"})
			}
		}
		if len(unknown) > 0 {
			slices.SortFunc(unknown, func(a, b FieldError) int { return strings.Compare(a.Field, b.Field) })
			return NewProblem(http.StatusBadRequest, "the readiness probe's parameters are malformed", unknown...)
		}
		rep := checker.Run(c.Request().Context(), c.QueryParams()["exclude"]...)
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
		telemetry.Observe(c.Request().Context(), hist.WithLabelValues(c.Request().Method, c.Path(), status), elapsed.Seconds())
	}
}
