package sagas

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
)

// Outcomes of a processed message, the values of the outcome label of
// shopflow_saga_processed_total.
const (
	// OutcomeApplied: the reaction appended events (with its inbox row).
	OutcomeApplied = "applied"
	// OutcomeNoop: the reaction decided to do nothing; only its inbox row was written.
	OutcomeNoop = "noop"
	// OutcomeDuplicate: the inbox already held the message; nothing was written.
	OutcomeDuplicate = "duplicate"
	// OutcomeIgnored: the reactor does not react to this event type; nothing was written.
	OutcomeIgnored = "ignored"
	// OutcomeDeadLettered: the message went to the dead-letter topic.
	OutcomeDeadLettered = "dead_lettered"
)

// Metrics are the reactors' Prometheus figures, labelled reactor=<context>. Create them
// once per registry with NewMetrics and share them between the reactors of a process.
type Metrics struct {
	processed    *prometheus.CounterVec
	deadLettered *prometheus.CounterVec
	retries      *prometheus.CounterVec
	timeouts     *prometheus.CounterVec
	lagRecords   *prometheus.GaugeVec
	lagSeconds   *prometheus.GaugeVec
	duration     *prometheus.HistogramVec
	groupCommits *prometheus.HistogramVec
	fallbacks    *prometheus.CounterVec
}

// NewMetrics creates the saga metric families and registers them on reg (nil: not
// registered). It panics if reg already holds them, like prometheus.MustRegister.
//
//	shopflow_saga_processed_total{reactor,outcome}   messages handled, by outcome
//	shopflow_saga_dead_lettered_total{reactor}       messages sent to the dead-letter topic
//	shopflow_saga_retries_total{reactor}             transient failures retried
//	shopflow_saga_timeouts_total{reactor}            orders rejected by the deadline scanner
//	shopflow_saga_lag_records{reactor,topic,partition} records behind the high watermark
//	shopflow_saga_lag_seconds{reactor}               age of the last processed record
//	shopflow_saga_processing_seconds{reactor}        time to process one message
//	shopflow_saga_group_commit_messages{reactor}     messages per group commit (one transaction)
//	shopflow_saga_group_commit_fallbacks_total{reactor} group commits abandoned for one-by-one
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		processed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "shopflow_saga_processed_total", Help: "Saga input messages handled, by outcome.",
		}, []string{"reactor", "outcome"}),
		deadLettered: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "shopflow_saga_dead_lettered_total", Help: "Saga input messages sent to the dead-letter topic.",
		}, []string{"reactor"}),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "shopflow_saga_retries_total", Help: "Transient failures of saga reactions, retried with backoff.",
		}, []string{"reactor"}),
		timeouts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "shopflow_saga_timeouts_total", Help: "Orders rejected because they were not settled in time.",
		}, []string{"reactor"}),
		lagRecords: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "shopflow_saga_lag_records", Help: "Records between the last processed one and the high watermark.",
		}, []string{"reactor", "topic", "partition"}),
		lagSeconds: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "shopflow_saga_lag_seconds", Help: "Age of the last processed record when it was processed.",
		}, []string{"reactor"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "shopflow_saga_processing_seconds", Help: "Time to process one saga input message.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
		}, []string{"reactor"}),
		groupCommits: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "shopflow_saga_group_commit_messages", Help: "Messages decided together and written in one transaction.",
			Buckets: prometheus.ExponentialBuckets(2, 2, 10),
		}, []string{"reactor"}),
		fallbacks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "shopflow_saga_group_commit_fallbacks_total", Help: "Group commits abandoned (a decision or the write failed); their messages were processed one by one.",
		}, []string{"reactor"}),
	}
	if reg != nil {
		reg.MustRegister(m.processed, m.deadLettered, m.retries, m.timeouts, m.lagRecords, m.lagSeconds, m.duration, m.groupCommits, m.fallbacks)
	}
	return m
}

// reactorMetrics are one reactor's series.
type reactorMetrics struct {
	name           string
	all            *Metrics
	deadLettered   prometheus.Counter
	retries        prometheus.Counter
	timeouts       prometheus.Counter
	lagSeconds     prometheus.Gauge
	duration       prometheus.Observer
	groupCommits   prometheus.Observer
	groupFallbacks prometheus.Counter
}

func (m *Metrics) forReactor(name string) *reactorMetrics {
	return &reactorMetrics{
		name: name, all: m,
		deadLettered:   m.deadLettered.WithLabelValues(name),
		retries:        m.retries.WithLabelValues(name),
		timeouts:       m.timeouts.WithLabelValues(name),
		lagSeconds:     m.lagSeconds.WithLabelValues(name),
		duration:       m.duration.WithLabelValues(name),
		groupCommits:   m.groupCommits.WithLabelValues(name),
		groupFallbacks: m.fallbacks.WithLabelValues(name),
	}
}

func (m *reactorMetrics) processed(outcome string) {
	m.all.processed.WithLabelValues(m.name, outcome).Inc()
}

func (m *reactorMetrics) lag(topic string, partition int32, records int64) {
	m.all.lagRecords.WithLabelValues(m.name, topic, strconv.Itoa(int(partition))).Set(float64(max(records, 0)))
}

func (m *reactorMetrics) forgetLag(topic string, partition int32) {
	m.all.lagRecords.DeleteLabelValues(m.name, topic, strconv.Itoa(int(partition)))
}
