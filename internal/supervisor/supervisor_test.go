package supervisor_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/shopflow/shopflow/internal/supervisor"
)

func start(t *testing.T, s *supervisor.Supervisor) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); s.Run(ctx) }()
	stop = func() { cancel(); <-done }
	t.Cleanup(stop)
	return stop
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 5 s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// A worker that fails — error, nil return or panic — is started again, and counted.
func TestFailedWorkersAreRestarted(t *testing.T) {
	reg := prometheus.NewRegistry()
	s := supervisor.New(supervisor.Config{MinBackoff: time.Millisecond, MaxBackoff: 4 * time.Millisecond, Registry: reg})
	failures := map[string]func(){
		"errors":  func() {},
		"returns": func() {},
		"panics":  func() { panic("boom") },
	}
	runs := map[string]*atomic.Int32{}
	for name, fail := range failures {
		n := &atomic.Int32{}
		runs[name] = n
		s.Add(name, func(ctx context.Context) error {
			if n.Add(1) <= 3 {
				fail()
				if name == "errors" {
					return errors.New("broken")
				}
				return nil
			}
			<-ctx.Done()
			return ctx.Err()
		}, nil)
	}
	start(t, s)
	eventually(t, "every worker ready after three failures", func() bool { return s.Ready() == nil })
	for name, n := range runs {
		if got := n.Load(); got != 4 {
			t.Errorf("%s: %d runs, want 4", name, got)
		}
	}
	if got := testutil.CollectAndCount(reg, "shopflow_worker_restarts_total"); got != 3 {
		t.Errorf("%d restart series, want 3", got)
	}
	want := "\n# HELP shopflow_worker_restarts_total Restarts of a worker after it failed.\n# TYPE shopflow_worker_restarts_total counter\n" +
		"shopflow_worker_restarts_total{worker=\"errors\"} 3\nshopflow_worker_restarts_total{worker=\"panics\"} 3\nshopflow_worker_restarts_total{worker=\"returns\"} 3\n"
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "shopflow_worker_restarts_total"); err != nil {
		t.Error(err)
	}
}

// Readiness follows the workers: not before they run, not while a probe fails, not while a
// worker waits to be restarted, and not after Run returned.
func TestReadinessFollowsWorkersAndProbes(t *testing.T) {
	reg := prometheus.NewRegistry()
	s := supervisor.New(supervisor.Config{MinBackoff: 200 * time.Millisecond, Registry: reg})
	var probe atomic.Pointer[error]
	crash := make(chan struct{})
	s.Add("steady", func(ctx context.Context) error { <-ctx.Done(); return nil }, nil)
	s.Add("flaky", func(ctx context.Context) error {
		select {
		case <-ctx.Done():
			return nil
		case <-crash:
			return errors.New("lost its connection")
		}
	}, func() error {
		if p := probe.Load(); p != nil {
			return *p
		}
		return nil
	})
	if s.Ready() == nil {
		t.Fatal("ready before Run")
	}
	stop := start(t, s)
	readyGauge := func() float64 {
		return testutil.ToFloat64(gaugeOf(t, reg, "flaky"))
	}
	eventually(t, "ready once running", func() bool { return s.Ready() == nil })
	if readyGauge() != 1 {
		t.Error("shopflow_worker_ready{worker=flaky} is not 1 while ready")
	}
	notYet := errors.New("waiting for partitions")
	probe.Store(&notYet)
	if err := s.Checks()["flaky"](context.Background()); !errors.Is(err, notYet) {
		t.Fatalf("flaky check = %v, want the probe's error", err)
	}
	if err := s.Checks()["steady"](context.Background()); err != nil {
		t.Fatalf("steady check = %v", err)
	}
	if readyGauge() != 0 {
		t.Error("shopflow_worker_ready{worker=flaky} is not 0 while its probe fails")
	}
	probe.Store(nil)
	crash <- struct{}{}
	eventually(t, "not ready while waiting for the restart", func() bool {
		err := s.Ready()
		return err != nil && strings.Contains(err.Error(), "lost its connection")
	})
	eventually(t, "ready again after the restart", func() bool { return s.Ready() == nil })
	stop()
	if err := s.Ready(); err == nil {
		t.Fatal("ready after Run returned")
	}
}

// gaugeOf returns the shopflow_worker_ready series of a worker as a collector.
func gaugeOf(t *testing.T, reg *prometheus.Registry, worker string) prometheus.Collector {
	t.Helper()
	g := prometheus.NewGauge(prometheus.GaugeOpts{Name: "x"})
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "shopflow_worker_ready" {
			continue
		}
		for _, m := range mf.GetMetric() {
			if m.GetLabel()[0].GetValue() == worker {
				g.Set(m.GetGauge().GetValue())
				return g
			}
		}
	}
	t.Fatalf("no shopflow_worker_ready series for %s", worker)
	return nil
}
