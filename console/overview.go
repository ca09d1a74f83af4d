package console

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/shopflow/shopflow/projections"
	"github.com/shopflow/shopflow/sagas"
)

// Overview is the state of the whole system at one moment, sampled in the background
// every Config.SampleEvery (see Run), so that answering it costs nothing.
type Overview struct {
	SampledAt time.Time `json:"sampled_at"`
	// SampleMS is how long gathering the sample took.
	SampleMS float64         `json:"sample_ms"`
	Contexts []ContextStatus `json:"contexts"`
	// RecentOrders are the newest orders, with their last event.
	RecentOrders []Stream          `json:"recent_orders"`
	ReadModels   []ReadModelStatus `json:"read_models"`
	DeadLetters  []DeadLetterCount `json:"dead_letters"`
	Health       []Check           `json:"health"`
	Ready        bool              `json:"ready"`
	// History holds the samples of the last Config.HistoryWindow, oldest first.
	History []Sample `json:"history"`
	// Errors lists what could not be sampled.
	Errors []string `json:"errors,omitempty"`
}

// ContextStatus is one context's relay, reactor and (orders) deadline scanner.
type ContextStatus struct {
	Name    string         `json:"name"`
	Relay   RelayStatus    `json:"relay"`
	Reactor ReactorStatus  `json:"reactor"`
	Scanner *ScannerStatus `json:"deadline_scanner,omitempty"`
}

// RelayStatus is where a context's outbox relay stands.
type RelayStatus struct {
	Name     string `json:"name"`
	Position int64  `json:"position"`
	Head     int64  `json:"head"`
	Behind   int64  `json:"events_behind"`
	// LagSeconds is the age of the oldest event not yet published (0: none).
	LagSeconds float64 `json:"lag_seconds"`
	// State is "active" (an instance holds the relay lock: this one when Here), or
	// "standby" (none does: every instance is waiting or down).
	State string `json:"state"`
	Here  bool   `json:"active_here"`
}

// ReactorStatus is a context's saga reactor group and its lag per partition.
type ReactorStatus struct {
	Group      string         `json:"group"`
	State      string         `json:"state"`
	Members    int            `json:"members"`
	Lag        int64          `json:"lag"`
	Partitions []PartitionLag `json:"partitions"`
}

// PartitionLag is a consumer group's position on one partition.
type PartitionLag struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	Committed int64  `json:"committed"`
	End       int64  `json:"end"`
	Lag       int64  `json:"lag"`
	Member    string `json:"member,omitempty"`
}

// ScannerStatus is the settlement deadline scanner's work: the orders pending and how
// many it rejected for timeout (this instance's count since it started).
type ScannerStatus struct {
	Pending          int64   `json:"orders_pending"`
	OldestAgeSeconds float64 `json:"oldest_pending_age_seconds"`
	Timeouts         float64 `json:"timeouts"`
}

// ReadModelStatus is a read model's index, alias, lag and state, with the rebuild this
// process started last, if any.
type ReadModelStatus struct {
	projections.ProjectionStatus
	Rebuild *Rebuild `json:"rebuild,omitempty"`
}

// DeadLetterCount is how many letters a dead-letter topic holds.
type DeadLetterCount struct {
	Source string `json:"source"`
	Topic  string `json:"topic"`
	Count  int64  `json:"count"`
}

// Check is one readiness check.
type Check struct {
	Name      string  `json:"name"`
	Up        bool    `json:"up"`
	Error     string  `json:"error,omitempty"`
	LatencyMS float64 `json:"latency_ms"`
}

// Sample is one point of the plots: events appended per second per context and the lags.
type Sample struct {
	At              time.Time          `json:"at"`
	EventsPerSecond map[string]float64 `json:"events_per_second"`
	RelayLagSeconds float64            `json:"relay_lag_seconds"`
	ReactorLag      int64              `json:"reactor_lag"`
	ReadModelLag    int64              `json:"read_model_lag"`
}

// recentOrders is how many orders the overview lists.
const recentOrders = 8

// Overview returns the latest sample with its history, or an error before the first one.
func (s *Service) Overview() (Overview, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.latest == nil {
		return Overview{}, errNoSample
	}
	o := *s.latest
	o.History = slices.Clone(s.history)
	for i, rm := range o.ReadModels {
		if r, ok := s.rebuilds[rm.Projection]; ok {
			cp := *r
			o.ReadModels[i].Rebuild = &cp
		}
	}
	return o, nil
}

// errNoSample is Overview's error before the first sample; the API answers 503.
var errNoSample = fmt.Errorf("console: the overview is being sampled for the first time: %w", ErrUnavailable)

// ErrUnavailable marks answers that are not available yet; retry shortly.
var ErrUnavailable = errors.New("not available yet")

// Run samples the overview every SampleEvery until ctx ends, and then stops the rebuilds
// this Service started. It returns nil.
func (s *Service) Run(ctx context.Context) error {
	defer s.stopRebuilds()
	t := time.NewTicker(s.cfg.SampleEvery)
	defer t.Stop()
	for {
		s.sampleOnce(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// sampleOnce gathers one overview and appends its point to the history.
func (s *Service) sampleOnce(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, max(s.cfg.SampleEvery*3, 5*time.Second))
	defer cancel()
	o := s.sample(ctx)
	if ctx.Err() != nil && len(o.Errors) > 0 && o.SampledAt.IsZero() {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	point := Sample{At: o.SampledAt, EventsPerSecond: map[string]float64{}}
	for _, c := range o.Contexts {
		point.RelayLagSeconds = max(point.RelayLagSeconds, c.Relay.LagSeconds)
		point.ReactorLag += c.Reactor.Lag
		if s.latest != nil {
			if prev := s.latest.context(c.Name); prev != nil && prev.Relay.Head > 0 {
				secs := o.SampledAt.Sub(s.latest.SampledAt).Seconds()
				point.EventsPerSecond[c.Name] = float64(c.Relay.Head-prev.Relay.Head) / secs
			}
		}
	}
	for _, rm := range o.ReadModels {
		point.ReadModelLag += rm.LagRecords
	}
	s.history = append(s.history, point)
	cut := sort.Search(len(s.history), func(i int) bool { return o.SampledAt.Sub(s.history[i].At) <= s.cfg.HistoryWindow })
	s.history = s.history[cut:]
	s.latest = &o
}

func (o *Overview) context(name string) *ContextStatus {
	for i := range o.Contexts {
		if o.Contexts[i].Name == name {
			return &o.Contexts[i]
		}
	}
	return nil
}

// sample gathers every part of an overview; a part that fails is named in Errors.
func (s *Service) sample(ctx context.Context) Overview {
	start := time.Now()
	o := Overview{SampledAt: start.UTC()}
	fail := func(what string, err error) {
		if err != nil {
			o.Errors = append(o.Errors, what+": "+err.Error())
		}
	}
	metrics := s.gather(fail)
	lags, err := s.groupLags(ctx)
	fail("reactor lag", err)
	for _, name := range s.Contexts() {
		cs, err := s.contextStatus(ctx, name, metrics, lags)
		fail(name, err)
		o.Contexts = append(o.Contexts, cs)
	}
	if _, ok := s.contexts[sagas.Orders]; ok {
		o.RecentOrders, err = s.Streams(ctx, "order", "", recentOrders)
		fail("recent orders", err)
	}
	o.DeadLetters, err = s.deadLetterCounts(ctx)
	fail("dead letters", err)
	if s.cfg.ES != nil {
		st, err := projections.Status(ctx, s.cfg.ES, s.cfg.Projections)
		fail("read models", err)
		for _, p := range st {
			o.ReadModels = append(o.ReadModels, ReadModelStatus{ProjectionStatus: p})
		}
	}
	o.Health, o.Ready = s.health(ctx)
	o.SampleMS = ms(time.Since(start))
	return o
}

// contextStatus samples one context's relay, reactor and scanner.
func (s *Service) contextStatus(ctx context.Context, name string, m metricValues, lags map[string]ReactorStatus) (ContextStatus, error) {
	c := s.contexts[name]
	cs := ContextStatus{Name: name, Reactor: lags[c.ReactorGroup]}
	cs.Reactor.Group = c.ReactorGroup
	pos, err := c.Store.RelayStatus(ctx, c.RelayName)
	if err != nil {
		return cs, err
	}
	cs.Relay = RelayStatus{Name: c.RelayName, Position: pos.Cursor.Position, Head: pos.Head, Behind: pos.Behind,
		State: "standby", Here: m.get("shopflow_relay_active", "relay", c.RelayName) > 0}
	if pos.Active {
		cs.Relay.State = "active"
	}
	if !pos.Oldest.IsZero() {
		cs.Relay.LagSeconds = time.Since(pos.Oldest).Seconds()
	}
	if name != sagas.Orders {
		return cs, nil
	}
	n, oldest, err := c.Store.PendingOrders(ctx)
	cs.Scanner = &ScannerStatus{Pending: n, Timeouts: m.get("shopflow_saga_timeouts_total", "reactor", name)}
	if !oldest.IsZero() {
		cs.Scanner.OldestAgeSeconds = time.Since(oldest).Seconds()
	}
	return cs, err
}

// groupLags returns the lag of every reactor group, by group.
func (s *Service) groupLags(ctx context.Context) (map[string]ReactorStatus, error) {
	var groups []string
	for _, c := range s.contexts {
		groups = append(groups, c.ReactorGroup)
	}
	described, err := s.adm.Lag(ctx, groups...)
	out := map[string]ReactorStatus{}
	for g, d := range described {
		rs := ReactorStatus{Group: g, State: d.State, Members: len(d.Members), Lag: max(0, d.Lag.Total())}
		for _, l := range d.Lag.Sorted() {
			pl := PartitionLag{Topic: l.Topic, Partition: l.Partition, Committed: l.Commit.At, End: l.End.Offset, Lag: l.Lag}
			if l.Member != nil {
				pl.Member = l.Member.ClientID + " " + l.Member.ClientHost
			}
			rs.Partitions = append(rs.Partitions, pl)
		}
		out[g] = rs
	}
	return out, err
}

// deadLetterCounts counts the records of every dead-letter topic (end minus start offsets).
func (s *Service) deadLetterCounts(ctx context.Context) ([]DeadLetterCount, error) {
	var out []DeadLetterCount
	var topics []string
	for _, src := range s.DeadLetterSources() {
		t, _ := s.deadLetterTopic(src)
		out = append(out, DeadLetterCount{Source: src, Topic: t})
		topics = append(topics, t)
	}
	starts, err := s.adm.ListStartOffsets(ctx, topics...)
	if err != nil {
		return out, err
	}
	ends, err := s.adm.ListEndOffsets(ctx, topics...)
	if err != nil {
		return out, err
	}
	for i := range out {
		ends.Each(func(e kadm.ListedOffset) {
			if e.Topic == out[i].Topic && e.Err == nil {
				if st, ok := starts.Lookup(e.Topic, e.Partition); ok && st.Err == nil {
					out[i].Count += e.Offset - st.Offset
				}
			}
		})
	}
	return out, nil
}

// health runs the readiness checks.
func (s *Service) health(ctx context.Context) ([]Check, bool) {
	if s.cfg.Health == nil {
		return nil, true
	}
	rep := s.cfg.Health.Run(ctx)
	var out []Check
	for name, r := range rep.Checks {
		out = append(out, Check{Name: name, Up: r.Status == "up", Error: r.Error, LatencyMS: r.LatencyMS})
	}
	slices.SortFunc(out, func(a, b Check) int { return compareChecks(a.Name, b.Name) })
	return out, rep.Ready
}

// compareChecks orders the servers (postgres, kafka, elasticsearch) before the workers.
func compareChecks(a, b string) int {
	rank := func(n string) int {
		for i, p := range []string{"postgres", "kafka", "elasticsearch"} {
			if len(n) >= len(p) && n[:len(p)] == p {
				return i
			}
		}
		return 3
	}
	if ra, rb := rank(a), rank(b); ra != rb {
		return ra - rb
	}
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// metricValues are the gathered metric families of this process, by name.
type metricValues map[string]*dto.MetricFamily

// gather reads the process's metrics (none without a registry).
func (s *Service) gather(fail func(string, error)) metricValues {
	out := metricValues{}
	if s.cfg.Metrics == nil {
		return out
	}
	families, err := s.cfg.Metrics.Gather()
	fail("metrics", err)
	for _, f := range families {
		out[f.GetName()] = f
	}
	return out
}

// get returns the value of the series of family name whose label is value (0 if none).
func (m metricValues) get(name, label, value string) float64 {
	f, ok := m[name]
	if !ok {
		return 0
	}
	for _, series := range f.GetMetric() {
		for _, l := range series.GetLabel() {
			if l.GetName() == label && l.GetValue() == value {
				switch {
				case series.Gauge != nil:
					return series.Gauge.GetValue()
				case series.Counter != nil:
					return series.Counter.GetValue()
				}
			}
		}
	}
	return 0
}
