package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
)

// Defaults of WriteOptions.
const (
	// DefaultMaxCommandsInFlight bounds the commands one process runs at once. A command
	// holds a pooled Postgres connection for one or two round trips (a few milliseconds);
	// pgxpool's default pool has max(4, NumCPU) connections per service database, 4 on the
	// 2-core machines Shopflow is sized for, so three databases run about 12 commands at
	// a time and the rest wait for a connection. 64 keeps every pool busy with a short
	// queue behind it (about 64/12 × 5 ms ≈ 30 ms of waiting), far below the command
	// deadline, while a burst past it is refused at once instead of queueing until the
	// clients time out.
	DefaultMaxCommandsInFlight = 64
	// DefaultCommandTimeout is each command's deadline: long enough for a command that
	// waits for a lock or a connection under load, short enough that a request never
	// hangs until the client's own timeout (often 10 s or more).
	DefaultCommandTimeout = 5 * time.Second
)

// Retry-After values of 503 answers.
const (
	// RetryAfterBusy is sent when the bound on commands in flight is reached or a command
	// ran out of its deadline: the queue drains in milliseconds.
	RetryAfterBusy = time.Second
	// RetryAfterUnavailable is sent when a dependency is unreachable: a restarting
	// Postgres takes seconds.
	RetryAfterUnavailable = 5 * time.Second
)

// WriteOptions bound the commands the write API runs. The zero value takes the defaults.
type WriteOptions struct {
	// MaxInFlight is how many commands may run at once (DefaultMaxCommandsInFlight when
	// zero). A command past it is answered 503 with Retry-After at once, never queued.
	MaxInFlight int
	// Timeout is each command's deadline (DefaultCommandTimeout when zero). A command
	// that runs out of it is answered 503 with Retry-After; it may still have been
	// applied, as with any lost answer, so clients retry with the same Idempotency-Key.
	Timeout time.Duration
	// Registry, if set, receives the metrics shopflow_commands_in_flight and
	// shopflow_commands_rejected_total{reason="overloaded"|"unavailable"}.
	Registry prometheus.Registerer
}

// withDefaults fills the zero settings and checks the others.
func (o WriteOptions) withDefaults() (WriteOptions, error) {
	var errs []error
	if o.MaxInFlight < 0 {
		errs = append(errs, fmt.Errorf("api: WriteOptions.MaxInFlight is negative (%d)", o.MaxInFlight))
	}
	if o.Timeout < 0 {
		errs = append(errs, fmt.Errorf("api: WriteOptions.Timeout is negative (%s)", o.Timeout))
	}
	if o.MaxInFlight == 0 {
		o.MaxInFlight = DefaultMaxCommandsInFlight
	}
	if o.Timeout == 0 {
		o.Timeout = DefaultCommandTimeout
	}
	return o, errors.Join(errs...)
}

// limiter bounds the commands in flight and gives each one its deadline. It is safe for
// concurrent use.
type limiter struct {
	slots    chan struct{}
	timeout  time.Duration
	inFlight prometheus.Gauge
	rejected *prometheus.CounterVec
}

// newLimiter returns the limiter of opts, its metrics registered on opts.Registry.
func newLimiter(opts WriteOptions) (*limiter, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	l := &limiter{
		slots:   make(chan struct{}, opts.MaxInFlight),
		timeout: opts.Timeout,
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "shopflow_commands_in_flight", Help: "Commands the write API is running.",
		}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "shopflow_commands_rejected_total",
			Help: "Commands answered 503: overloaded (bound on commands in flight reached) or unavailable (a dependency down, or the command's deadline passed).",
		}, []string{"reason"}),
	}
	if opts.Registry != nil {
		for _, c := range []prometheus.Collector{l.inFlight, l.rejected} {
			if err := opts.Registry.Register(c); err != nil {
				return nil, fmt.Errorf("api: write metrics: %w", err)
			}
		}
	}
	return l, nil
}

// middleware runs a command route under the bound and the deadline. It takes a slot
// without waiting, or answers 503 at once.
func (l *limiter) middleware(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		select {
		case l.slots <- struct{}{}:
		default:
			l.rejected.WithLabelValues("overloaded").Inc()
			p := NewProblem(http.StatusServiceUnavailable, "too many commands in flight, retry later")
			p.RetryAfter = RetryAfterBusy
			return p
		}
		l.inFlight.Inc()
		defer func() {
			l.inFlight.Dec()
			<-l.slots
		}()
		ctx, cancel := context.WithTimeout(c.Request().Context(), l.timeout)
		defer cancel()
		c.SetRequest(c.Request().WithContext(ctx))
		err := next(c)
		if err != nil && toProblem(err).Status == http.StatusServiceUnavailable {
			l.rejected.WithLabelValues("unavailable").Inc()
		}
		return err
	}
}
