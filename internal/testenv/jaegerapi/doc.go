// Package jaegerapi is a small typed client for the HTTP query API that Jaeger's UI uses
// (GET /api/traces/{traceID}, GET /api/traces?service=…&tags=…, GET /api/services), for
// tests and tools that assert on the traces Shopflow exports.
//
// The JSON shape is Jaeger's UI model: a trace holds spans and a table of processes; each
// span names its process by id, its parent as a CHILD_OF reference and each OpenTelemetry
// span link as a FOLLOWS_FROM reference; times are microseconds. OpenTelemetry attributes
// arrive as tags (span kind as "span.kind", status as "otel.status_code"), resource
// attributes as the process's tags, service.name as the process's serviceName. Decoding
// resolves every span's service name, so a test need not look at processes at all.
//
// Jaeger stores spans a moment after they are exported (the collector batches them), so a
// test reads with WaitTrace or WaitTraces, which poll until a predicate holds or the context
// ends. A Client is safe for concurrent use.
package jaegerapi
