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
// The runs go off, on, on, off (an ABBA order), and each side's figures pool its two runs:
// a machine that gets busier or quieter during the benchmark then weighs on both sides
// alike instead of on whichever ran last.
func benchTracing(ctx context.Context, o options) error {
	o.rate = sagaRate(o)
	var off, on sagaResult
	var offAPI, onAPI appendResult
	for _, tracing := range []bool{false, true, true, false} {
		var s sagaResult
		var a appendResult
		err := withTracing(ctx, tracing, func() (err error) { s, a, err = sagaAndWriteAPI(ctx, o); return err })
		if err != nil {
			return fmt.Errorf("tracing %v: %w", tracing, err)
		}
		if tracing {
			on, onAPI = on.pool(s), pool(onAPI, a)
		} else {
			off, offAPI = off.pool(s), pool(offAPI, a)
		}
		quiesce(ctx, o)
	}
	name := fmt.Sprintf("tracing_saga_%dps", o.rate)
	report(name+"_throughput", on.rate, "orders/s", off.rate)
	report(name+"_settle_p50", percentile(on.lat, 50), "ms", percentile(off.lat, 50))
	report(name+"_settle_p99", percentile(on.lat, 99), "ms", percentile(off.lat, 99))
	name = fmt.Sprintf("tracing_write_api_place_order_c%d", writeAPIWorkers)
	report(name+"_throughput", onAPI.rate, "orders/s", offAPI.rate)
	report(name+"_latency_p50", percentile(onAPI.lat, 50), "ms", percentile(offAPI.lat, 50))
	report(name+"_latency_p99", percentile(onAPI.lat, 99), "ms", percentile(offAPI.lat, 99))
	return nil
}

// sagaResult is one saga benchmark run: settle latencies and the rate settled.
type sagaResult struct {
	lat  []time.Duration
	rate float64
}

// pool adds run r to s: their latencies together, their mean rate.
func (s sagaResult) pool(r sagaResult) sagaResult {
	if s.lat == nil {
		return r
	}
	return sagaResult{append(s.lat, r.lat...), (s.rate + r.rate) / 2}
}

// pool adds run r to a, as sagaResult.pool does.
func pool(a, r appendResult) appendResult {
	if a.lat == nil {
		return r
	}
	a.lat, a.rate = append(a.lat, r.lat...), (a.rate+r.rate)/2
	return a
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
	customer, product := "0193a1c4-6f1e-7b7a-9f55-3c2a1d9e8b71", "0193a1c4-6f1e-7b7a-9f55-3c2a1d9e8b72"
	api, err := runPlaceOrders(ctx, o, httpPlaceOrder(ctx, customer, product))
	return sagaResult{lat, rate}, api, err
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
