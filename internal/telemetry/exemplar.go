package telemetry

import (
	"context"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace"
)

// ExemplarInterval is how often an observer records an exemplar for values of one order of
// magnitude in base two (a latency bucket, for Shopflow's doubling buckets). A histogram
// keeps only the newest exemplar of each bucket and Prometheus scrapes every few seconds,
// so more would be overwritten unseen; and each one costs the request that records it more
// than its span's attributes (client_golang builds a protobuf exemplar per call).
const ExemplarInterval = time.Second

// Observe records v on o, with the trace id of ctx's sampled span as its exemplar when o's
// values of v's magnitude have had none for ExemplarInterval, so that a latency bucket on a
// dashboard links to a trace that fell in it; otherwise it is a plain Observe. A slow
// outlier is of a magnitude of its own, so it gets its exemplar however busy the common
// case is. Exemplars are served only in the OpenMetrics format (promhttp's
// EnableOpenMetrics, which Prometheus negotiates).
//
// o must be comparable (client_golang's histograms and summaries are pointers): it keys the
// record of when its exemplars were taken, which lives as long as the process.
func Observe(ctx context.Context, o prometheus.Observer, v float64) {
	observe(ctx, o, v, time.Now())
}

func observe(ctx context.Context, o prometheus.Observer, v float64, now time.Time) {
	if eo, ok := o.(prometheus.ExemplarObserver); ok {
		if sc := trace.SpanContextFromContext(ctx); sc.IsValid() && sc.IsSampled() && exemplarDue(o, v, now) {
			eo.ObserveWithExemplar(v, prometheus.Labels{"trace_id": sc.TraceID().String()})
			return
		}
	}
	o.Observe(v)
}

// exemplarTimes holds, per observer, when each base-two magnitude of its values last got an
// exemplar (Unix nanoseconds).
var exemplarTimes sync.Map // prometheus.Observer → *[exemplarBins]atomic.Int64

// exemplarBins covers magnitudes 2^-32 to 2^31; values outside share the end bins.
const exemplarBins = 64

// exemplarDue reports whether v may carry an exemplar on o at now, and if so takes the slot.
func exemplarDue(o prometheus.Observer, v float64, now time.Time) bool {
	times, ok := exemplarTimes.Load(o)
	if !ok {
		times, _ = exemplarTimes.LoadOrStore(o, new([exemplarBins]atomic.Int64))
	}
	bin := 0
	if v > 0 && !math.IsInf(v, 0) {
		_, exp := math.Frexp(v)
		bin = min(max(exp+exemplarBins/2, 0), exemplarBins-1)
	}
	last := &times.(*[exemplarBins]atomic.Int64)[bin]
	t, at := now.UnixNano(), last.Load()
	return (at == 0 || t-at >= int64(ExemplarInterval)) && last.CompareAndSwap(at, t)
}
