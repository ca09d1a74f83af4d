// Package telemetry sets up OpenTelemetry tracing for a Shopflow process and carries trace
// context where Shopflow stores it: in event metadata (traceparent, tracestate) and from there
// in Kafka record headers.
//
// Setup configures the global tracer provider from the standard OTEL_* environment variables
// (OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, OTEL_EXPORTER_OTLP_PROTOCOL,
// OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES, OTEL_TRACES_SAMPLER and _ARG, OTEL_BSP_*,
// OTEL_SDK_DISABLED, OTEL_TRACES_EXPORTER). Tracing is off when no endpoint is set and no
// exporter is named: the global provider then stays the no-op one, which records nothing but
// still passes a caller's trace context on, so a traceparent sent by a client still reaches the
// events and records it caused.
//
// Every Shopflow package asks the global provider for its tracer when it starts a span
// (Tracer), so a provider set after start-up (a benchmark switching tracing on and off) is
// used from then on.
package telemetry
