package projections

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/elastic/go-elasticsearch/v8"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// ProjectionStatus describes one read model: its index, its state and the lag of its live
// consumer group.
type ProjectionStatus struct {
	Projection string `json:"projection"`
	Alias      string `json:"alias"`
	// Index is the index behind the alias, "" before the first worker or rebuild ran.
	Index      string `json:"index"`
	Generation int    `json:"generation"`
	// State is "live", "catching_up" (a rebuild's finish phase is running or was
	// interrupted: live workers wait on version gaps) or "missing" (no alias).
	State string `json:"state"`
	// MappingVersion is the index's mapping version; StaleMapping reports that this build
	// writes a newer one (rebuild to upgrade).
	MappingVersion int    `json:"mapping_version"`
	StaleMapping   bool   `json:"stale_mapping"`
	Documents      int64  `json:"documents"`
	Group          string `json:"group"`
	// LagRecords counts the records the live group has not committed; LagSeconds is the age
	// of the oldest of them (0 when there are none).
	LagRecords int64   `json:"lag_records"`
	LagSeconds float64 `json:"lag_seconds"`
	// Other lists the read model's other index generations: a rebuild running or interrupted.
	Other []string `json:"other_indices,omitempty"`
}

// Status reports every read model, in Names order.
func Status(ctx context.Context, es *elasticsearch.Client, cfg Config) ([]ProjectionStatus, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	cl, err := cfg.newClient()
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	var out []ProjectionStatus
	for _, name := range Names() {
		m, _ := lookup(name)
		st, err := status(ctx, indices{es: esClient{es}, cfg: cfg, model: m}, kadm.NewClient(cl))
		if err != nil {
			return out, fmt.Errorf("projections: status of %s: %w", name, err)
		}
		out = append(out, st)
	}
	return out, nil
}

func status(ctx context.Context, ix indices, adm *kadm.Client) (ProjectionStatus, error) {
	name := ix.model.name()
	st := ProjectionStatus{Projection: name, Alias: ix.alias(), State: "missing", Group: ix.cfg.Group(name)}
	if err := indexStatus(ctx, ix, &st); err != nil {
		return st, err
	}
	records, seconds, err := groupLag(ctx, ix.cfg, adm, st.Group, topicsOf(ix.cfg, ix.model))
	st.LagRecords, st.LagSeconds = records, seconds
	return st, err
}

// indexStatus fills in what Elasticsearch knows: the index, its meta, its size, the others.
func indexStatus(ctx context.Context, ix indices, st *ProjectionStatus) error {
	var err error
	if st.Index, err = ix.current(ctx); err != nil || st.Index == "" {
		return err
	}
	meta, err := ix.meta(ctx, st.Index)
	if err != nil {
		return err
	}
	st.Generation, st.State, st.MappingVersion = meta.Generation, meta.State, meta.MappingVersion
	st.StaleMapping = meta.MappingVersion < ix.model.mappingVersion()
	if st.Documents, err = ix.count(ctx, st.Index); err != nil {
		return err
	}
	gens, err := ix.generations(ctx)
	st.Other = slices.DeleteFunc(gens, func(g string) bool { return g == st.Index })
	return err
}

// groupLag returns the records the group has not committed on the topics and the age of
// the oldest of them.
func groupLag(ctx context.Context, cfg Config, adm *kadm.Client, group string, topics []string) (int64, float64, error) {
	ends, err := adm.ListEndOffsets(ctx, topics...)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return 0, 0, err
	}
	committed, err := adm.FetchOffsetsForTopics(ctx, group, topics...)
	if err != nil {
		return 0, 0, err
	}
	var total int64
	pending := map[string]map[int32]kgo.Offset{}
	ends.Each(func(e kadm.ListedOffset) {
		at := int64(0)
		if c, ok := committed.Lookup(e.Topic, e.Partition); ok && c.Err == nil && c.At >= 0 {
			at = c.At
		}
		if e.Offset > at {
			total += e.Offset - at
			if pending[e.Topic] == nil {
				pending[e.Topic] = map[int32]kgo.Offset{}
			}
			pending[e.Topic][e.Partition] = kgo.NewOffset().At(at)
		}
	})
	if total == 0 {
		return 0, 0, nil
	}
	oldest, err := oldestRecord(ctx, cfg, pending)
	if err != nil || oldest.IsZero() {
		return total, 0, err
	}
	return total, time.Since(oldest).Seconds(), nil
}

// oldestRecord reads the first record at each of the offsets and returns the earliest
// timestamp (the event's recorded_at). It gives up after five seconds.
func oldestRecord(ctx context.Context, cfg Config, at map[string]map[int32]kgo.Offset) (time.Time, error) {
	want := 0
	for _, ps := range at {
		want += len(ps)
	}
	cl, err := cfg.newClient(kgo.ConsumePartitions(at))
	if err != nil {
		return time.Time{}, err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	seen := map[partition]bool{}
	var oldest time.Time
	for len(seen) < want && ctx.Err() == nil {
		cl.PollFetches(ctx).EachRecord(func(r *kgo.Record) {
			p := partition{r.Topic, r.Partition}
			if !seen[p] {
				seen[p] = true
				if oldest.IsZero() || r.Timestamp.Before(oldest) {
					oldest = r.Timestamp
				}
			}
		})
	}
	return oldest, nil
}
