package projections

import (
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the Prometheus figures of the projection workers of one process, labelled
// projection=<read model>. Create them once per registry and pass them in Config.Metrics.
// Safe for concurrent use.
//
//	shopflow_projection_applied_events_total{projection}   events applied to documents
//	shopflow_projection_dead_letters_total{projection}     records sent to the dead-letter topic
//	shopflow_projection_retries_total{projection}          batches retried (Elasticsearch down, version gap)
//	shopflow_projection_gaps_total{projection}             events applied over a version gap
//	shopflow_projection_lag_records{projection}            records not yet applied (high watermark − position)
//	shopflow_projection_lag_seconds{projection}            age of the last applied event while records are pending, else 0
//	shopflow_projection_event_to_stored_seconds{projection} histogram: from an event's recording to its document stored
type Metrics struct {
	applied, deadLetters, retries, gaps *prometheus.CounterVec
	stored                              *prometheus.HistogramVec
	lagRecords, lagSeconds              *prometheus.Desc

	mu   sync.Mutex
	lags map[string]*lag
}

// NewMetrics returns the metrics registered on reg; it fails if they already are.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := newMetrics()
	for _, c := range []prometheus.Collector{m.applied, m.deadLetters, m.retries, m.gaps, m.stored, lagCollector{m}} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func newMetrics() *Metrics {
	counter := func(name, help string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, []string{"projection"})
	}
	return &Metrics{
		applied:     counter("shopflow_projection_applied_events_total", "Events applied to read model documents."),
		deadLetters: counter("shopflow_projection_dead_letters_total", "Records sent to the projections' dead-letter topic."),
		retries:     counter("shopflow_projection_retries_total", "Batches retried after Elasticsearch or Kafka failures or version gaps."),
		gaps:        counter("shopflow_projection_gaps_total", "Events applied over a version gap (a missing event was dead-lettered)."),
		stored: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "shopflow_projection_event_to_stored_seconds",
			Help: "From an event's recording in its service's database to its document stored by a live worker " +
				"(readable by id from then on): the end-to-end freshness of the read model.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60},
		}, []string{"projection"}),
		lagRecords: prometheus.NewDesc("shopflow_projection_lag_records",
			"Records of the assigned partitions not yet applied.", []string{"projection"}, nil),
		lagSeconds: prometheus.NewDesc("shopflow_projection_lag_seconds",
			"Seconds since the last applied event was recorded, while records are pending; 0 when caught up.", []string{"projection"}, nil),
		lags: map[string]*lag{},
	}
}

// lagOf returns the lag tracker of a projection.
func (m *Metrics) lagOf(projection string) *lag {
	m.mu.Lock()
	defer m.mu.Unlock()
	l, ok := m.lags[projection]
	if !ok {
		l = &lag{highWater: map[partition]int64{}, next: map[partition]int64{}}
		m.lags[projection] = l
	}
	return l
}

// lagCollector computes the lag gauges at scrape time, so lag_seconds grows while a worker
// is stuck.
type lagCollector struct{ m *Metrics }

func (c lagCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.m.lagRecords
	ch <- c.m.lagSeconds
}

func (c lagCollector) Collect(ch chan<- prometheus.Metric) {
	c.m.mu.Lock()
	defer c.m.mu.Unlock()
	for name, l := range c.m.lags {
		records, seconds := l.get()
		ch <- prometheus.MustNewConstMetric(c.m.lagRecords, prometheus.GaugeValue, float64(records), name)
		ch <- prometheus.MustNewConstMetric(c.m.lagSeconds, prometheus.GaugeValue, seconds, name)
	}
}

type partition struct {
	topic string
	id    int32
}

// lag tracks a worker's position against the high watermarks its fetches report.
type lag struct {
	mu        sync.Mutex
	highWater map[partition]int64
	next      map[partition]int64 // offset after the last applied record
	last      time.Time           // recorded_at of the last applied event
}

func (l *lag) observe(p partition, highWater int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.highWater[p] = max(l.highWater[p], highWater)
}

func (l *lag) advance(p partition, next int64, recordedAt time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.next[p] = max(l.next[p], next)
	if recordedAt.After(l.last) {
		l.last = recordedAt
	}
}

// forget drops revoked partitions: another member reports them now.
func (l *lag) forget(topic string, ids []int32) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, id := range ids {
		delete(l.highWater, partition{topic, id})
		delete(l.next, partition{topic, id})
	}
}

// get returns the records pending and, while some are, the age of the last applied event.
func (l *lag) get() (records int64, seconds float64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for p, hw := range l.highWater {
		if next, ok := l.next[p]; ok {
			records += max(0, hw-next)
		}
	}
	if records > 0 && !l.last.IsZero() {
		seconds = time.Since(l.last).Seconds()
	}
	return records, seconds
}
