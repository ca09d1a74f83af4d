// Package health runs readiness checks of a process's dependencies.
//
// Liveness (the process answers) and readiness (its dependencies answer) are separate: an
// orchestrator restarts a process that is not alive, but only stops routing to one that is
// not ready. Checks run concurrently, each bounded by the checker's timeout.
package health

import (
	"context"
	"sync"
	"time"
)

// CheckFunc reports whether one dependency is usable. It must honour ctx.
type CheckFunc func(ctx context.Context) error

// Checker holds named checks. Add checks before calling Run; Run is safe for concurrent use.
type Checker struct {
	timeout time.Duration
	names   []string
	checks  map[string]CheckFunc
}

// NewChecker returns a checker whose checks each get at most timeout (2 s if zero).
func NewChecker(timeout time.Duration) *Checker {
	if timeout <= 0 {
		timeout = 2 * time.Second
	}
	return &Checker{timeout: timeout, checks: map[string]CheckFunc{}}
}

// Add registers a named check. Adding a name twice replaces the earlier check.
func (c *Checker) Add(name string, fn CheckFunc) {
	if _, ok := c.checks[name]; !ok {
		c.names = append(c.names, name)
	}
	c.checks[name] = fn
}

// Result is the outcome of one check.
type Result struct {
	Status    string  `json:"status"` // "up" or "down"
	Error     string  `json:"error,omitempty"`
	LatencyMS float64 `json:"latency_ms"`
}

// Report is the outcome of all checks; Ready is true only when every check is up.
type Report struct {
	Ready  bool              `json:"ready"`
	Checks map[string]Result `json:"checks"`
}

// Run executes every check concurrently and waits for all of them.
func (c *Checker) Run(ctx context.Context) Report {
	rep := Report{Ready: true, Checks: make(map[string]Result, len(c.names))}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, name := range c.names {
		wg.Go(func() {
			res := c.run(ctx, c.checks[name])
			mu.Lock()
			defer mu.Unlock()
			rep.Checks[name] = res
			rep.Ready = rep.Ready && res.Status == "up"
		})
	}
	wg.Wait()
	return rep
}

func (c *Checker) run(ctx context.Context, fn CheckFunc) Result {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	start := time.Now()
	err := fn(ctx)
	res := Result{Status: "up", LatencyMS: float64(time.Since(start).Microseconds()) / 1000}
	if err != nil {
		res.Status, res.Error = "down", err.Error()
	}
	return res
}
