package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/shopflow/shopflow/eventstore"
	"github.com/shopflow/shopflow/internal/command"
)

// benchTracing measures what tracing costs: the saga benchmark and the write API's
// place-order benchmark with tracing off (the baseline) and on, every span sampled and
// exported over OTLP to the real Jaeger of the local stack (OTEL_EXPORTER_OTLP_ENDPOINT,
// else SHOPFLOW_JAEGER_OTLP_URL, else http://127.0.0.1:4318), in the same run.
//
// The saga runs go off, on, on, off (an ABBA order), and each side's figures pool its runs:
// a machine that gets busier or quieter during the benchmark then weighs on both sides alike
// instead of on whichever ran last. The write API's figure is a ratio of a few percent, and
// separate runs of a few seconds each differed by more than that from one another on a
// shared two-core machine; so it comes from one run in which tracing is switched on and off
// under a steady load every second (see writeAPIInterleaved).
func benchTracing(ctx context.Context, o options) error {
	o.rate = sagaRate(o)
	var saga [2]pooled // indexed by tracing on (1) or off (0)
	for _, tracing := range []bool{false, true, true, false} {
		var s sagaResult
		err := withTracing(ctx, tracing, func(*sdktrace.TracerProvider) (err error) { s, err = sagaRun(ctx, o); return err })
		if err != nil {
			return fmt.Errorf("tracing %v: %w", tracing, err)
		}
		saga[boolInt(tracing)].add(s.lat, s.rate)
		quiesce(ctx, o)
	}
	var api [2]pooled
	err := withTracing(ctx, true, func(tp *sdktrace.TracerProvider) (err error) {
		api, err = writeAPIInterleaved(ctx, o, tp)
		return err
	})
	if err != nil {
		return fmt.Errorf("write API: %w", err)
	}
	saga[1].report(fmt.Sprintf("tracing_saga_%dps", o.rate), "settle", saga[0])
	api[1].report(fmt.Sprintf("tracing_write_api_place_order_c%d", writeAPIWorkers), "latency", api[0])
	return nil
}

// The windows of writeAPIInterleaved.
const (
	// tracingWindows are counted, tracingWindow long each, in the order on, off, off, on,
	// repeated: 40 windows a side. The rate of one window varies by some 13% here, so an
	// estimate of the ratio needs tens of them to be good to a few percent: runs with both
	// sides off (a local edit) came out at 0.963, 0.979, 0.987 and 0.987.
	tracingWindows = 80
	tracingWindow  = time.Second
	// tracingGap separates two windows and is not counted: tracing is switched, the requests
	// in flight finish, the spans of a window traced are flushed to Jaeger, and Jaeger
	// stores them, before the next window starts.
	tracingGap = 400 * time.Millisecond
)

// writeAPIInterleaved runs the write API's place-order benchmark (writeAPIWorkers loops of
// POST /v1/orders against one server on a fresh database) without pause for
// tracingWindows windows and gaps, switching the global tracer provider between tp and the
// no-op one for each window, and returns each side's figures: the rate and latencies of the
// requests that started and ended within its windows. A slow minute of the machine then
// falls on both sides alike. What may still spill from a traced window into the next is
// work tp's exporter or Jaeger does after the gap (a garbage collection of Jaeger's heap,
// say); the flush in every gap keeps the spans themselves from doing so.
func writeAPIInterleaved(ctx context.Context, o options, tp *sdktrace.TracerProvider) ([2]pooled, error) {
	var sides [2]pooled
	pool, drop, err := freshDatabase(ctx, o, writeAPIWorkers+4)
	if err != nil {
		return sides, err
	}
	defer drop()
	store := eventstore.New(pool)
	defer store.Close()
	place, err := command.NewPlaceOrderHandler(store, command.Config{})
	if err != nil {
		return sides, err
	}
	customer, product := "0193a1c4-6f1e-7b7a-9f55-3c2a1d9e8b71", "0193a1c4-6f1e-7b7a-9f55-3c2a1d9e8b72"
	call, cleanup, err := httpPlaceOrder(ctx, customer, product)(place, store)
	if err != nil {
		return sides, err
	}
	defer cleanup()

	type span struct{ start, end time.Time }
	done := make([][]span, writeAPIWorkers)
	errs := make([]error, writeAPIWorkers)
	var stop atomic.Bool
	var wg sync.WaitGroup
	for w := range writeAPIWorkers {
		wg.Go(func() {
			for !stop.Load() {
				t0 := time.Now()
				if errs[w] = call(); errs[w] != nil {
					stop.Store(true)
					return
				}
				done[w] = append(done[w], span{t0, time.Now()})
			}
		})
	}
	type window struct {
		on         bool
		start, end time.Time
	}
	windows := make([]window, 0, tracingWindows)
	off := noop.NewTracerProvider()
	for i := range tracingWindows {
		if stop.Load() || ctx.Err() != nil {
			break // a request failed: its error is returned below
		}
		on := i%4 == 0 || i%4 == 3
		if on {
			otel.SetTracerProvider(tp)
		} else {
			otel.SetTracerProvider(off)
		}
		sleepCtx(ctx, tracingGap/4) // the requests of the window before finish
		if err := tp.ForceFlush(ctx); err != nil {
			stop.Store(true)
			wg.Wait()
			return sides, fmt.Errorf("flush spans: %w", err)
		}
		sleepCtx(ctx, tracingGap*3/4)
		w := window{on: on, start: time.Now()}
		sleepCtx(ctx, tracingWindow)
		w.end = time.Now()
		windows = append(windows, w)
	}
	otel.SetTracerProvider(off)
	stop.Store(true)
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return sides, err
	}
	if err := ctx.Err(); err != nil {
		return sides, err
	}
	for _, w := range windows {
		var lat []time.Duration
		for _, spans := range done {
			for _, s := range spans {
				if !s.start.Before(w.start) && !s.end.After(w.end) {
					lat = append(lat, s.end.Sub(s.start))
				}
			}
		}
		sides[boolInt(w.on)].add(lat, float64(len(lat))/w.end.Sub(w.start).Seconds())
	}
	return sides, nil
}

// sagaResult is one saga benchmark run: settle latencies and the rate settled.
type sagaResult struct {
	lat  []time.Duration
	rate float64
}

// pooled is several runs of one benchmark: their latencies together and their mean rate.
type pooled struct {
	lat  []time.Duration
	rate float64 // the sum of the runs' rates
	runs int
}

func (p *pooled) add(lat []time.Duration, rate float64) {
	p.lat, p.rate, p.runs = append(p.lat, lat...), p.rate+rate, p.runs+1
}

func (p *pooled) meanRate() float64 { return p.rate / float64(max(p.runs, 1)) }

// report prints p's throughput and latency percentiles against baseline's.
func (p *pooled) report(name, latency string, baseline pooled) {
	report(name+"_throughput", p.meanRate(), "orders/s", baseline.meanRate())
	report(name+"_"+latency+"_p50", percentile(p.lat, 50), "ms", percentile(baseline.lat, 50))
	report(name+"_"+latency+"_p99", percentile(p.lat, 99), "ms", percentile(baseline.lat, 99))
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// sagaRun runs the saga benchmark on a fresh rig.
func sagaRun(ctx context.Context, o options) (sagaResult, error) {
	rig, err := newSagaRig(ctx, o)
	if err != nil {
		return sagaResult{}, err
	}
	defer rig.close()
	lat, rate, err := rig.run(ctx, o)
	return sagaResult{lat, rate}, err
}

// withTracing runs fn with the global tracer provider exporting every span to Jaeger (on),
// or the no-op one (off); every client fn builds picks it up (see internal/telemetry). fn
// gets the exporting provider (nil when off), flushed and shut down when fn returns.
func withTracing(ctx context.Context, on bool, fn func(*sdktrace.TracerProvider) error) error {
	if !on {
		otel.SetTracerProvider(noop.NewTracerProvider())
		return fn(nil)
	}
	endpoint := cmp.Or(os.Getenv("OTEL_EXPORTER_OTLP_ENDPOINT"), os.Getenv("SHOPFLOW_JAEGER_OTLP_URL"), "http://127.0.0.1:4318")
	exp, err := otlptracehttp.New(ctx, otlptracehttp.WithEndpointURL(endpoint+"/v1/traces"))
	if err != nil {
		return err
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithSampler(sdktrace.AlwaysSample()),
		sdktrace.WithResource(resource.NewSchemaless(semconv.ServiceName("shopflow-bench"))))
	otel.SetTracerProvider(tp)
	defer otel.SetTracerProvider(noop.NewTracerProvider())
	err = fn(tp)
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if serr := tp.Shutdown(sctx); serr != nil && err == nil {
		err = fmt.Errorf("flush spans to %s: %w", endpoint, serr)
	}
	return err
}
