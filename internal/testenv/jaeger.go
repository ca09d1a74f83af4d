package testenv

import (
	"context"
	"net"
	"net/url"
	"os"
	"testing"
	"time"

	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"

	"github.com/shopflow/shopflow/internal/testenv/jaegerapi"
)

// Defaults of the Jaeger that scripts/jaeger.sh runs; scripts/stack.sh exports the variables
// from its SHOPFLOW_JAEGER_*_PORT settings.
const (
	defaultJaegerOTLPURL  = "http://127.0.0.1:4318"
	defaultJaegerQueryURL = "http://127.0.0.1:16686"
)

// JaegerServer is a running Jaeger: where to export spans and where to read them back.
type JaegerServer struct {
	// OTLPEndpoint is the base URL of its OTLP/HTTP receiver, in the form
	// OTEL_EXPORTER_OTLP_ENDPOINT takes (traces go to OTLPEndpoint + "/v1/traces").
	// From SHOPFLOW_JAEGER_OTLP_URL, default http://127.0.0.1:4318.
	OTLPEndpoint string
	// QueryURL is the base URL of its UI and HTTP query API.
	// From SHOPFLOW_JAEGER_QUERY_URL, default http://127.0.0.1:16686.
	QueryURL string
	// Query is a client for that query API.
	Query *jaegerapi.Client
}

// Jaeger returns the configured Jaeger after checking that its query API answers and its
// OTLP/HTTP receiver accepts connections. When it does not, the test is skipped, or failed
// under CI=true (see Required).
func Jaeger(t testing.TB) JaegerServer {
	t.Helper()
	j := JaegerServer{
		OTLPEndpoint: envOr("SHOPFLOW_JAEGER_OTLP_URL", defaultJaegerOTLPURL),
		QueryURL:     envOr("SHOPFLOW_JAEGER_QUERY_URL", defaultJaegerQueryURL),
	}
	j.Query = jaegerapi.New(j.QueryURL)
	if _, err := j.Query.Services(ctx(t)); err != nil {
		unavailable(t, "jaeger", err)
	}
	if err := dialURL(j.OTLPEndpoint); err != nil {
		unavailable(t, "jaeger's OTLP receiver", err)
	}
	return j
}

// TracerProvider returns an OpenTelemetry SDK tracer provider that exports every span to
// this Jaeger over OTLP/HTTP as service service (batched, at most 100 ms late; call its
// ForceFlush before reading a trace back). It is shut down, flushing what is left, when the
// test ends. It is not installed as the global provider.
func (j JaegerServer) TracerProvider(t testing.TB, service string, opts ...sdktrace.TracerProviderOption) *sdktrace.TracerProvider {
	t.Helper()
	exp, err := otlptracehttp.New(ctx(t), otlptracehttp.WithEndpointURL(j.OTLPEndpoint+"/v1/traces"))
	if err != nil {
		t.Fatalf("otlp exporter for %s: %v", j.OTLPEndpoint, err)
	}
	res := resource.NewSchemaless(semconv.ServiceName(service))
	base := []sdktrace.TracerProviderOption{
		sdktrace.WithBatcher(exp, sdktrace.WithBatchTimeout(100*time.Millisecond)),
		sdktrace.WithResource(res),
		sdktrace.WithSampler(sdktrace.AlwaysSample()),
	}
	tp := sdktrace.NewTracerProvider(append(base, opts...)...)
	t.Cleanup(func() {
		c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := tp.Shutdown(c); err != nil {
			t.Logf("shut down tracer provider: %v", err)
		}
	})
	return tp
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

// dialURL opens (and closes) a TCP connection to the host of an http URL.
func dialURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return err
	}
	host := u.Host
	if u.Port() == "" {
		host = net.JoinHostPort(u.Hostname(), "80")
	}
	c, err := net.DialTimeout("tcp", host, 3*time.Second)
	if err != nil {
		return err
	}
	return c.Close()
}
