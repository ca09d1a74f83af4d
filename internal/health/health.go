// Package health runs readiness checks of a process's dependencies.
//
// Liveness (the process answers) and readiness (its dependencies answer) are separate: an
// orchestrator restarts a process that is not alive, but only stops routing to one that is
// not ready. Checks run concurrently, each bounded by the checker's timeout.
//
// A probe may exclude checks from readiness (Run's exclude, /readyz?exclude=name), as
// Kubernetes' own API server allows: a process that serves writes and also hosts the read
// models should keep receiving writes while Elasticsearch is down, for every replica shares
// that outage, and a probe that failed on it would take all of them out of service at once.
// An excluded check still runs and is reported, marked excluded. A pattern that names no
// check of this process is ignored and listed in the report (as Kubernetes does too): one
// probe then fits processes that host different parts, and a typo excludes nothing.
package health

import (
	"context"
	"slices"
	"strings"
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
	// Excluded is set when the probe left this check out of Ready.
	Excluded bool `json:"excluded,omitempty"`
}

// Report is the outcome of all checks; Ready is true only when every check not excluded is up.
type Report struct {
	Ready  bool              `json:"ready"`
	Checks map[string]Result `json:"checks"`
	// UnmatchedExclude lists the exclude patterns that named no check.
	UnmatchedExclude []string `json:"unmatched_exclude,omitempty"`
}

// Run executes every check concurrently and waits for all of them. The checks an exclude
// pattern matches (a check's name, or a prefix followed by '*': "projection_*") run too but
// do not count towards Ready.
func (c *Checker) Run(ctx context.Context, exclude ...string) Report {
	rep := Report{Ready: true, Checks: make(map[string]Result, len(c.names))}
	for _, p := range exclude {
		if !slices.ContainsFunc(c.names, func(name string) bool { return match(p, name) }) {
			rep.UnmatchedExclude = append(rep.UnmatchedExclude, p)
		}
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, name := range c.names {
		wg.Go(func() {
			res := c.run(ctx, c.checks[name])
			res.Excluded = slices.ContainsFunc(exclude, func(p string) bool { return match(p, name) })
			mu.Lock()
			defer mu.Unlock()
			rep.Checks[name] = res
			rep.Ready = rep.Ready && (res.Status == "up" || res.Excluded)
		})
	}
	wg.Wait()
	return rep
}

func match(pattern, name string) bool {
	if prefix, ok := strings.CutSuffix(pattern, "*"); ok {
		return strings.HasPrefix(name, prefix)
	}
	return pattern == name
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
