package eventstore

import "github.com/prometheus/client_golang/prometheus"

// RelayMetrics are a relay's Prometheus figures. Create them once per registry and share
// them between the relays of one process: each relay labels them with its name.
type RelayMetrics struct {
	Published   prometheus.Counter
	Position    prometheus.Gauge
	LagSeconds  prometheus.Gauge
	Active      prometheus.Gauge
	CommitToAck prometheus.Observer
	// Fetches and PendingChecks count the reader's queries: a batch read, and the check
	// for committed events not yet final that precedes every wait. An idle relay makes
	// one of each per IdlePoll.
	Fetches, PendingChecks prometheus.Counter
}

// NewRelayMetrics registers relay metrics labelled relay=name on reg (nil: not registered).
func NewRelayMetrics(reg prometheus.Registerer) *RelayMetrics {
	return newRelayMetricVecs(reg).For("default")
}

// RelayMetricVecs holds the labelled metric families; For picks one relay's series.
type RelayMetricVecs struct {
	position, lag, active *prometheus.GaugeVec
	publishedC, queries   *prometheus.CounterVec
	commitToAck           *prometheus.HistogramVec
}

// NewRelayMetricVecs registers the relay metric families on reg (nil: not registered).
func NewRelayMetricVecs(reg prometheus.Registerer) *RelayMetricVecs { return newRelayMetricVecs(reg) }

func newRelayMetricVecs(reg prometheus.Registerer) *RelayMetricVecs {
	v := &RelayMetricVecs{
		publishedC: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "shopflow_relay_published_events_total", Help: "Events acknowledged by Kafka.",
		}, []string{"relay"}),
		position: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "shopflow_relay_position", Help: "Global position of the last published event.",
		}, []string{"relay"}),
		lag: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "shopflow_relay_lag_seconds", Help: "Age of the last published event when Kafka acknowledged it.",
		}, []string{"relay"}),
		active: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "shopflow_relay_active", Help: "1 while this instance holds the relay lock.",
		}, []string{"relay"}),
		commitToAck: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "shopflow_relay_commit_to_ack_seconds", Help: "From an event's insert to Kafka's acknowledgement.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 14),
		}, []string{"relay"}),
		queries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "shopflow_relay_queries_total", Help: "Queries of the relay's reader, by query: fetch (a batch) or pending (the check before a wait).",
		}, []string{"relay", "query"}),
	}
	if reg != nil {
		reg.MustRegister(v.queries, v.publishedC, v.position, v.lag, v.active, v.commitToAck)
	}
	return v
}

// For returns the series of the relay with the given name.
func (v *RelayMetricVecs) For(name string) *RelayMetrics {
	return &RelayMetrics{
		Published:     v.publishedC.WithLabelValues(name),
		Position:      v.position.WithLabelValues(name),
		LagSeconds:    v.lag.WithLabelValues(name),
		Active:        v.active.WithLabelValues(name),
		CommitToAck:   v.commitToAck.WithLabelValues(name),
		Fetches:       v.queries.WithLabelValues(name, "fetch"),
		PendingChecks: v.queries.WithLabelValues(name, "pending"),
	}
}
