package main

import (
	"cmp"
	"context"
	"fmt"
	"os"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace/noop"
)

// benchTracing measures what tracing costs: the saga benchmark and the write API's
// place-order benchmark with tracing off (the baseline) and then on, every span sampled and
// exported over OTLP to the real Jaeger of the local stack (OTEL_EXPORTER_OTLP_ENDPOINT,
// else SHOPFLOW_JAEGER_OTLP_URL, else http://127.0.0.1:4318), in the same run.
//
// The runs go off, on, on, off (an ABBA order), and each side's figures pool its runs: a
// machine that gets busier or quieter during the benchmark then weighs on both sides alike
// instead of on whichever ran last. The write API's runs are short, so its figure is the
// more sensitive to a burst of other work: it gets four more runs, on, off, off, on.
func benchTracing(ctx context.Context, o options) error {
	o.rate = sagaRate(o)
	var saga, api [2]pooled // indexed by tracing on (1) or off (0)
	for _, tracing := range []bool{false, true, true, false} {
		var s sagaResult
		var a appendResult
		err := withTracing(ctx, tracing, func() (err error) { s, a, err = sagaAndWriteAPI(ctx, o); return err })
		if err != nil {
			return fmt.Errorf("tracing %v: %w", tracing, err)
		}
		saga[boolInt(tracing)].add(s.lat, s.rate)
		api[boolInt(tracing)].add(a.lat, a.rate)
		quiesce(ctx, o)
	}
	for _, tracing := range []bool{true, false, false, true} {
		var a appendResult
		err := withTracing(ctx, tracing, func() (err error) { a, err = writeAPI(ctx, o); return err })
		if err != nil {
			return fmt.Errorf("tracing %v: %w", tracing, err)
		}
		api[boolInt(tracing)].add(a.lat, a.rate)
		quiesce(ctx, o)
	}
	saga[1].report(fmt.Sprintf("tracing_saga_%dps", o.rate), "settle", saga[0])
	api[1].report(fmt.Sprintf("tracing_write_api_place_order_c%d", writeAPIWorkers), "latency", api[0])
	return nil
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

// sagaAndWriteAPI runs the saga benchmark, then the write API's over HTTP.
func sagaAndWriteAPI(ctx context.Context, o options) (sagaResult, appendResult, error) {
	rig, err := newSagaRig(ctx, o)
	if err != nil {
		return sagaResult{}, appendResult{}, err
	}
	lat, rate, err := rig.run(ctx, o)
	rig.close()
	if err != nil {
		return sagaResult{}, appendResult{}, err
	}
	api, err := writeAPI(ctx, o)
	return sagaResult{lat, rate}, api, err
}

// writeAPI runs the write API's place-order benchmark over HTTP.
func writeAPI(ctx context.Context, o options) (appendResult, error) {
	customer, product := "0193a1c4-6f1e-7b7a-9f55-3c2a1d9e8b71", "0193a1c4-6f1e-7b7a-9f55-3c2a1d9e8b72"
	return runPlaceOrders(ctx, o, httpPlaceOrder(ctx, customer, product))
}

// withTracing runs fn with the global tracer provider exporting every span to Jaeger (on),
// or the no-op one (off); every client fn builds picks it up (see internal/telemetry).
func withTracing(ctx context.Context, on bool, fn func() error) error {
	if !on {
		otel.SetTracerProvider(noop.NewTracerProvider())
		return fn()
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
	err = fn()
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if serr := tp.Shutdown(sctx); serr != nil && err == nil {
		err = fmt.Errorf("flush spans to %s: %w", endpoint, serr)
	}
	return err
}
