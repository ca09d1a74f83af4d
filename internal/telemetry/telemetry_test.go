package telemetry_test

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/trace"

	"github.com/shopflow/shopflow/internal/telemetry"
)

func TestEnabledFollowsTheStandardVariables(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		want bool
	}{
		{"nothing set", nil, false},
		{"endpoint", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}, true},
		{"traces endpoint", map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://127.0.0.1:4318/v1/traces"}, true},
		{"sdk disabled", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://x", "OTEL_SDK_DISABLED": "true"}, false},
		{"exporter none", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://x", "OTEL_TRACES_EXPORTER": "none"}, false},
		{"console exporter", map[string]string{"OTEL_TRACES_EXPORTER": "console"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := telemetry.Enabled(func(k string) string { return tt.env[k] }); got != tt.want {
				t.Errorf("Enabled = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestTraceContextRoundTripsThroughMetadataFields(t *testing.T) {
	const tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	ctx := telemetry.Extract(context.Background(), tp, "vendor=x")
	if got, state := telemetry.Inject(ctx); got != tp || state != "vendor=x" {
		t.Errorf("Inject(Extract) = %q, %q", got, state)
	}
	if got := telemetry.TraceID(ctx); got != "4bf92f3577b34da6a3ce929d0e0e4736" {
		t.Errorf("TraceID = %q", got)
	}
	for _, bad := range []string{"", "garbage", "00-00000000000000000000000000000000-00f067aa0ba902b7-01"} {
		if sc := telemetry.SpanContextOf(bad, ""); sc.IsValid() {
			t.Errorf("SpanContextOf(%q) is valid", bad)
		}
	}
	if got, _ := telemetry.Inject(context.Background()); got != "" {
		t.Errorf("Inject without a span = %q", got)
	}
}

func TestLogsCarryTheTraceAndSpanIDs(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(telemetry.LogHandler(slog.NewJSONHandler(&buf, nil))).With("component", "test")
	sc := telemetry.SpanContextOf("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "")
	log.InfoContext(trace.ContextWithSpanContext(context.Background(), sc), "traced")
	log.Info("untraced")
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if !strings.Contains(lines[0], `"trace_id":"4bf92f3577b34da6a3ce929d0e0e4736","span_id":"00f067aa0ba902b7"`) {
		t.Errorf("traced record: %s", lines[0])
	}
	if strings.Contains(lines[1], "trace_id") {
		t.Errorf("untraced record: %s", lines[1])
	}
}

// BenchmarkTraceContextConversion measures what an append and a relayed event pay to turn a
// trace context into the metadata fields and back.
func BenchmarkTraceContextConversion(b *testing.B) {
	const tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	ctx := telemetry.Extract(context.Background(), tp, "")
	b.ReportAllocs()
	for b.Loop() {
		if got, _ := telemetry.Inject(ctx); got != tp {
			b.Fatal(got)
		}
		if !telemetry.SpanContextOf(tp, "").IsValid() {
			b.Fatal("invalid")
		}
	}
}
