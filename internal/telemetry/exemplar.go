package telemetry

import (
	"context"

	"github.com/prometheus/client_golang/prometheus"
)

// Observe records v on o with the trace id of ctx's sampled span as its exemplar, so that a
// latency bucket on a dashboard links to a trace that fell in it; without one it is a plain
// Observe. Exemplars are served only in the OpenMetrics format (promhttp's
// EnableOpenMetrics, which Prometheus negotiates).
func Observe(ctx context.Context, o prometheus.Observer, v float64) {
	if id := TraceID(ctx); id != "" {
		if eo, ok := o.(prometheus.ExemplarObserver); ok {
			eo.ObserveWithExemplar(v, prometheus.Labels{"trace_id": id})
			return
		}
	}
	o.Observe(v)
}
