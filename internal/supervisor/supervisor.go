// Package supervisor runs the long-lived workers of a process (outbox relays, saga
// reactors, projection workers, pruning) under one owner.
//
// A worker is a Run function that works until its context ends. One that returns before
// that — with an error, with nil, or by panicking — has failed: the supervisor logs it,
// counts it, and starts it again after an exponential backoff (reset once a run lasted
// longer than the longest backoff). Nothing that fails is only logged.
//
// Each worker may also have a probe that tells whether it is doing its job while it runs
// (a relay backing off from an unreachable database, a consumer still waiting for its
// partitions). A worker is ready while it runs and its probe answers nil; the process is
// ready only while every worker is. Readiness is served per worker (Checks, for /readyz)
// and as the metric shopflow_worker_ready{worker}.
package supervisor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Defaults of Config.
const (
	DefaultMinBackoff = 100 * time.Millisecond
	DefaultMaxBackoff = 10 * time.Second
)

// Config configures a Supervisor. Zero values take the defaults given per field.
type Config struct {
	// MinBackoff is the wait before the first restart of a failed worker; each further
	// failure doubles it up to MaxBackoff. Defaults 100 ms and 10 s.
	MinBackoff, MaxBackoff time.Duration
	// Log receives a line per failure and restart. Default slog.Default().
	Log *slog.Logger
	// Registry receives the metrics shopflow_worker_ready{worker} and
	// shopflow_worker_restarts_total{worker}. Default: not registered.
	Registry prometheus.Registerer
}

// Supervisor runs workers and reports their state. Add every worker before Run; the
// reporting methods are safe for concurrent use with Run.
type Supervisor struct {
	cfg      Config
	workers  []*worker
	restarts *prometheus.CounterVec
}

// New returns a supervisor with no workers.
func New(cfg Config) *Supervisor {
	cfg.MinBackoff = cmpOr(cfg.MinBackoff, DefaultMinBackoff)
	cfg.MaxBackoff = max(cmpOr(cfg.MaxBackoff, DefaultMaxBackoff), cfg.MinBackoff)
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	s := &Supervisor{cfg: cfg,
		restarts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "shopflow_worker_restarts_total", Help: "Restarts of a worker after it failed.",
		}, []string{"worker"}),
	}
	if cfg.Registry != nil {
		cfg.Registry.MustRegister(s.restarts, readyCollector{s})
	}
	return s
}

func cmpOr[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

// Add registers a worker under a unique name. run works until its context ends; probe,
// if not nil, reports while run runs whether the worker does its job (nil) or not (why).
// Add panics on a duplicate name or after Run started: both are wiring bugs.
func (s *Supervisor) Add(name string, run func(context.Context) error, probe func() error) {
	for _, w := range s.workers {
		if w.name == name {
			panic("supervisor: worker " + name + " added twice")
		}
	}
	s.workers = append(s.workers, &worker{name: name, run: run, probe: probe, state: errStarting,
		restarts: s.restarts.WithLabelValues(name)})
}

// Run runs every worker, restarting those that fail, until ctx ends; then it waits for
// all of them to return.
func (s *Supervisor) Run(ctx context.Context) {
	var wg sync.WaitGroup
	for _, w := range s.workers {
		wg.Go(func() { s.keep(ctx, w) })
	}
	wg.Wait()
}

// keep runs w again and again until ctx ends.
func (s *Supervisor) keep(ctx context.Context, w *worker) {
	backoff := s.cfg.MinBackoff
	log := s.cfg.Log.With("worker", w.name)
	for ctx.Err() == nil {
		w.setState(nil)
		started := time.Now()
		err := runSafely(ctx, w.run)
		if ctx.Err() != nil {
			break
		}
		if err == nil {
			err = errors.New("returned before it was asked to stop")
		}
		if time.Since(started) > s.cfg.MaxBackoff {
			backoff = s.cfg.MinBackoff
		}
		w.setState(fmt.Errorf("failed, restarting in %v: %w", backoff, err))
		w.restarts.Inc()
		log.Error("worker failed; restarting", "err", err, "backoff", backoff)
		sleep(ctx, backoff)
		backoff = min(2*backoff, s.cfg.MaxBackoff)
	}
	w.setState(errStopped)
}

// runSafely runs fn, turning a panic into an error (with the stack, for the log).
func runSafely(ctx context.Context, fn func(context.Context) error) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("panic: %v\n%s", p, debug.Stack())
		}
	}()
	return fn(ctx)
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

var (
	errStarting = errors.New("not started")
	errStopped  = errors.New("stopped")
)

// worker is one supervised Run function and what is known of it.
type worker struct {
	name     string
	run      func(context.Context) error
	probe    func() error
	restarts prometheus.Counter

	mu    sync.Mutex
	state error // nil while running; else why not
}

func (w *worker) setState(err error) {
	w.mu.Lock()
	w.state = err
	w.mu.Unlock()
}

// health reports nil while the worker runs and its probe passes.
func (w *worker) health() error {
	w.mu.Lock()
	err := w.state
	w.mu.Unlock()
	if err == nil && w.probe != nil {
		err = w.probe()
	}
	return err
}

// readyDesc describes shopflow_worker_ready, computed from the workers' health when scraped.
var readyDesc = prometheus.NewDesc("shopflow_worker_ready",
	"1 while the worker runs and its probe passes, else 0.", []string{"worker"}, nil)

type readyCollector struct{ s *Supervisor }

func (readyCollector) Describe(ch chan<- *prometheus.Desc) { ch <- readyDesc }

func (c readyCollector) Collect(ch chan<- prometheus.Metric) {
	for _, w := range c.s.workers {
		v := 0.0
		if w.health() == nil {
			v = 1
		}
		ch <- prometheus.MustNewConstMetric(readyDesc, prometheus.GaugeValue, v, w.name)
	}
}

// Checks returns a readiness check per worker, by name: nil while the worker runs and its
// probe passes.
func (s *Supervisor) Checks() map[string]func(context.Context) error {
	checks := make(map[string]func(context.Context) error, len(s.workers))
	for _, w := range s.workers {
		checks[w.name] = func(context.Context) error { return w.health() }
	}
	return checks
}

// Ready returns nil when every worker runs and passes its probe, else the reasons, joined.
func (s *Supervisor) Ready() error {
	var errs []error
	for _, w := range s.workers {
		if err := w.health(); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", w.name, err))
		}
	}
	return errors.Join(errs...)
}
