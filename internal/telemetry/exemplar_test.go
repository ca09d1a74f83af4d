package telemetry

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace"
)

// sampled returns a context whose span is sampled, in the trace whose id ends in b.
func sampled(b byte) context.Context {
	return trace.ContextWithSpanContext(context.Background(), trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: trace.TraceID{15: b}, SpanID: trace.SpanID{7: 1}, TraceFlags: trace.FlagsSampled}))
}

// bucketExemplars returns the trace id of each bucket's exemplar of the one histogram in
// reg, by upper bound ("" for none).
func bucketExemplars(t *testing.T, reg *prometheus.Registry) map[float64]string {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil || len(mfs) != 1 {
		t.Fatalf("gather: %v (%d families)", err, len(mfs))
	}
	out := map[float64]string{}
	for _, b := range mfs[0].GetMetric()[0].GetHistogram().GetBucket() {
		out[b.GetUpperBound()] = ""
		for _, l := range b.GetExemplar().GetLabel() {
			if l.GetName() == "trace_id" {
				out[b.GetUpperBound()] = l.GetValue()
			}
		}
	}
	return out
}

func TestExemplarsAreTakenOncePerIntervalForEachMagnitude(t *testing.T) {
	reg := prometheus.NewRegistry()
	h := prometheus.NewHistogram(prometheus.HistogramOpts{Name: "latency_seconds", Buckets: []float64{0.01, 1}})
	reg.MustRegister(h)
	traceOf := func(b byte) string { return trace.TraceID{15: b}.String() }
	t0 := time.Unix(1_700_000_000, 0)

	observe(sampled(1), h, 0.005, t0)
	observe(sampled(2), h, 0.006, t0.Add(10*time.Millisecond)) // same magnitude, too soon: no exemplar
	observe(sampled(3), h, 0.5, t0.Add(20*time.Millisecond))   // an outlier: its own exemplar at once
	observe(context.Background(), h, 0.007, t0.Add(30*time.Millisecond))
	got := bucketExemplars(t, reg)
	if got[0.01] != traceOf(1) || got[1] != traceOf(3) {
		t.Fatalf("exemplars after the first burst = %v, want bucket 0.01 → trace 1, bucket 1 → trace 3", got)
	}

	observe(sampled(4), h, 0.004, t0.Add(ExemplarInterval))
	if got := bucketExemplars(t, reg); got[0.01] != traceOf(4) {
		t.Fatalf("exemplar of bucket 0.01 one interval later = %q, want trace 4's", got[0.01])
	}
	if n := bucketCount(t, reg); n != 5 {
		t.Errorf("the histogram counted %d observations, want all 5", n)
	}
}

func bucketCount(t *testing.T, reg *prometheus.Registry) uint64 {
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	return mfs[0].GetMetric()[0].GetHistogram().GetSampleCount()
}

// BenchmarkObserve measures a traced request's latency observation.
func BenchmarkObserve(b *testing.B) {
	h := prometheus.NewHistogram(prometheus.HistogramOpts{Name: "latency_seconds", Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14)})
	ctx := sampled(1)
	b.ReportAllocs()
	for b.Loop() {
		Observe(ctx, h, 0.003)
	}
}
