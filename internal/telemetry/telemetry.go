package telemetry

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"go.opentelemetry.io/contrib/exporters/autoexport"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
)

// DefaultServiceName is the service.name of a process whose environment names none.
const DefaultServiceName = "shopflow"

// Propagator is the W3C trace context and baggage propagator Shopflow uses everywhere.
var Propagator propagation.TextMapPropagator = propagation.NewCompositeTextMapPropagator(
	propagation.TraceContext{}, propagation.Baggage{})

// Enabled reports whether the environment asks for traces to be exported: an OTLP endpoint
// or an exporter is named and the SDK is not disabled.
func Enabled(getenv func(string) string) bool {
	if strings.EqualFold(getenv("OTEL_SDK_DISABLED"), "true") {
		return false
	}
	if e := getenv("OTEL_TRACES_EXPORTER"); e != "" {
		return e != "none"
	}
	return getenv("OTEL_EXPORTER_OTLP_ENDPOINT") != "" || getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") != ""
}

// Setup installs the propagator and, when Enabled, a tracer provider exporting in batches
// as the OTEL_* variables say. The returned shutdown flushes the spans still buffered and
// stops the exporter; call it once, last, with a deadline. With tracing off, shutdown does
// nothing and enabled is false.
func Setup(ctx context.Context) (shutdown func(context.Context) error, enabled bool, err error) {
	otel.SetTextMapPropagator(Propagator)
	if !Enabled(os.Getenv) {
		return func(context.Context) error { return nil }, false, nil
	}
	tp, err := NewProvider(ctx)
	if err != nil {
		return nil, false, err
	}
	otel.SetTracerProvider(tp)
	return tp.Shutdown, true, nil
}

// NewProvider returns a tracer provider with the exporter, sampler and resource the OTEL_*
// variables name (service.name defaults to DefaultServiceName). The caller owns it: Shutdown
// flushes and stops it.
func NewProvider(ctx context.Context, opts ...sdktrace.TracerProviderOption) (*sdktrace.TracerProvider, error) {
	exp, err := autoexport.NewSpanExporter(ctx)
	if err != nil {
		return nil, fmt.Errorf("telemetry: span exporter: %w", err)
	}
	res, err := processResource(ctx)
	if err != nil {
		_ = exp.Shutdown(ctx)
		return nil, err
	}
	// The sampler and the batch processor's limits come from OTEL_TRACES_SAMPLER(_ARG) and
	// OTEL_BSP_*, which the SDK reads itself.
	all := append([]sdktrace.TracerProviderOption{sdktrace.WithBatcher(exp), sdktrace.WithResource(res)}, opts...)
	return sdktrace.NewTracerProvider(all...), nil
}

// processResource describes this process: service.name (OTEL_SERVICE_NAME, else
// DefaultServiceName), OTEL_RESOURCE_ATTRIBUTES, the SDK, host and process.
func processResource(ctx context.Context) (*resource.Resource, error) {
	res, err := resource.New(ctx,
		resource.WithAttributes(semconv.ServiceName(DefaultServiceName)),
		resource.WithFromEnv(), resource.WithTelemetrySDK(), resource.WithHost(),
		resource.WithProcessPID(), resource.WithProcessRuntimeVersion())
	if err != nil && !errors.Is(err, resource.ErrPartialResource) {
		return nil, fmt.Errorf("telemetry: resource: %w", err)
	}
	return res, nil
}

// Tracer returns the named tracer of the current global provider.
func Tracer(name string) trace.Tracer { return otel.GetTracerProvider().Tracer(name) }
