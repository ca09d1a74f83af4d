package chaos

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/shopflow/shopflow/internal/kafka"
	"github.com/shopflow/shopflow/internal/postgres"
)

// Contexts are the bounded contexts, each with its database and topic.
var Contexts = []string{"orders", "inventory", "payments"}

// ReadModels are the Elasticsearch read models (their aliases).
var ReadModels = []string{"orders", "products", "customers"}

// StoredEvent is one row of a context's events table.
type StoredEvent struct {
	Context    string
	StreamID   string
	StreamType string
	Version    int64
	EventID    string
	Type       string
	Schema     int
	Payload    json.RawMessage
	RecordedAt time.Time
}

// Stores are the connections the checks read through: the three databases, the broker
// and Elasticsearch of the scratch stack.
type Stores struct {
	DB      map[string]*pgxpool.Pool
	Kafka   *kgo.Client
	ES      string // base URL
	brokers []string
	http    *http.Client
}

// OpenStores connects to the stack's stores.
func OpenStores(ctx context.Context, s *Stack) (*Stores, error) {
	st := &Stores{DB: map[string]*pgxpool.Pool{}, ES: s.ElasticsearchURL(), http: &http.Client{Timeout: 30 * time.Second}}
	for _, c := range Contexts {
		pool, err := postgres.Open(ctx, s.DatabaseURL(c))
		if err != nil {
			st.Close()
			return nil, fmt.Errorf("chaos: %s database: %w", c, err)
		}
		st.DB[c] = pool
	}
	st.brokers = []string{s.KafkaBroker()}
	cl, err := kafka.NewClient(st.brokers)
	if err != nil {
		st.Close()
		return nil, err
	}
	st.Kafka = cl
	return st, nil
}

// Brokers are the seed brokers of the stack's Kafka.
func (st *Stores) Brokers() []string { return st.brokers }

// Close closes the connections.
func (st *Stores) Close() {
	for _, p := range st.DB {
		p.Close()
	}
	if st.Kafka != nil {
		st.Kafka.Close()
	}
}

// Events reads every event of a context's database, by stream and version.
func (st *Stores) Events(ctx context.Context, c string) ([]StoredEvent, error) {
	rows, err := st.DB[c].Query(ctx, `SELECT stream_id, stream_type, version, event_id::text, event_type,
		schema_version, payload::text, recorded_at FROM events ORDER BY stream_id, version`)
	if err != nil {
		return nil, fmt.Errorf("chaos: read %s events: %w", c, err)
	}
	defer rows.Close()
	var out []StoredEvent
	for rows.Next() {
		e := StoredEvent{Context: c}
		var payload string
		if err := rows.Scan(&e.StreamID, &e.StreamType, &e.Version, &e.EventID, &e.Type, &e.Schema, &payload, &e.RecordedAt); err != nil {
			return nil, fmt.Errorf("chaos: read %s events: %w", c, err)
		}
		e.Payload = json.RawMessage(payload)
		out = append(out, e)
	}
	return out, rows.Err()
}

// Topic reads every record of a topic, up to its end offsets now, in offset order per
// partition.
func (st *Stores) Topic(ctx context.Context, topic string) ([]*kgo.Record, error) {
	ends, err := kadm.NewClient(st.Kafka).ListEndOffsets(ctx, topic)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return nil, fmt.Errorf("chaos: end offsets of %s: %w", topic, err)
	}
	starts, err := kadm.NewClient(st.Kafka).ListStartOffsets(ctx, topic)
	if err == nil {
		err = starts.Error()
	}
	if err != nil {
		return nil, fmt.Errorf("chaos: start offsets of %s: %w", topic, err)
	}
	want := map[int32]int64{}
	offsets := map[int32]kgo.Offset{}
	ends.Each(func(o kadm.ListedOffset) {
		if s, ok := starts.Lookup(topic, o.Partition); ok && o.Offset > s.Offset {
			want[o.Partition] = o.Offset
			offsets[o.Partition] = kgo.NewOffset().At(s.Offset)
		}
	})
	if len(want) == 0 {
		return nil, nil
	}
	cl, err := kafka.NewClient(st.brokers,
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: offsets}))
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	var out []*kgo.Record
	for len(want) > 0 {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("chaos: read %s: %w", topic, err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			if end, ok := want[r.Partition]; ok && r.Offset < end {
				out = append(out, r)
				if r.Offset+1 >= end {
					delete(want, r.Partition)
				}
			}
		})
	}
	return out, nil
}

// Docs reads every document of a read model's alias that query matches (nil: all), after a
// refresh, by _id.
func (st *Stores) Docs(ctx context.Context, alias string, query map[string]any) (map[string]json.RawMessage, error) {
	if query == nil {
		query = map[string]any{"match_all": map[string]any{}}
	}
	if _, err := st.es(ctx, http.MethodPost, "/"+alias+"/_refresh", nil); err != nil {
		return nil, err
	}
	docs := map[string]json.RawMessage{}
	var after []any
	for {
		q := map[string]any{"size": 2000, "sort": []any{map[string]any{"id": "asc"}}, "query": query}
		if after != nil {
			q["search_after"] = after
		}
		raw, err := st.es(ctx, http.MethodPost, "/"+alias+"/_search", q)
		if err != nil {
			return nil, err
		}
		var res struct {
			Hits struct {
				Hits []struct {
					ID     string          `json:"_id"`
					Source json.RawMessage `json:"_source"`
					Sort   []any           `json:"sort"`
				} `json:"hits"`
			} `json:"hits"`
		}
		if err := json.Unmarshal(raw, &res); err != nil {
			return nil, fmt.Errorf("chaos: search %s: %w", alias, err)
		}
		for _, h := range res.Hits.Hits {
			docs[h.ID] = h.Source
		}
		if len(res.Hits.Hits) == 0 {
			return docs, nil
		}
		after = res.Hits.Hits[len(res.Hits.Hits)-1].Sort
	}
}

// es sends one request to Elasticsearch and returns the body of a 2xx answer.
func (st *Stores) es(ctx context.Context, method, path string, body any) ([]byte, error) {
	var r io.Reader
	if body != nil {
		raw, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		r = bytes.NewReader(raw)
	}
	req, err := http.NewRequestWithContext(ctx, method, st.ES+path, r)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	res, err := st.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("chaos: elasticsearch %s %s: %w", method, path, err)
	}
	defer res.Body.Close()
	out, err := io.ReadAll(res.Body)
	if err == nil && res.StatusCode/100 != 2 {
		err = fmt.Errorf("chaos: elasticsearch %s %s: %d %s", method, path, res.StatusCode, strings.TrimSpace(string(out)))
	}
	return out, err
}

// Quiet reports whether the stack has nothing left to do: no order pending, every event
// published (each relay's cursor at its database's last event), and every consumer group
// committed at the end of every partition it consumes. The reason says what is not done.
func (st *Stores) Quiet(ctx context.Context) (bool, string, error) {
	var pending int64
	if err := st.DB["orders"].QueryRow(ctx, `SELECT count(*) FROM pending_orders`).Scan(&pending); err != nil {
		return false, "", err
	}
	if pending > 0 {
		return false, fmt.Sprintf("%d orders pending", pending), nil
	}
	for _, c := range Contexts {
		var unpublished int64
		err := st.DB[c].QueryRow(ctx, `SELECT count(*) FROM events e WHERE NOT EXISTS (SELECT 1 FROM relay_cursors r
			WHERE (r.transaction_id, r.position) >= (e.transaction_id, e.position))`).Scan(&unpublished)
		if err != nil {
			return false, "", err
		}
		if unpublished > 0 {
			return false, fmt.Sprintf("%d %s events not yet published", unpublished, c), nil
		}
	}
	return st.groupsDone(ctx)
}

// groupsDone reports whether every consumer group committed the end offset of every
// partition of the topics it commits on.
func (st *Stores) groupsDone(ctx context.Context) (bool, string, error) {
	adm := kadm.NewClient(st.Kafka)
	groups, err := adm.ListGroups(ctx)
	if err != nil {
		return false, "", err
	}
	var topics []string
	for _, c := range Contexts {
		topics = append(topics, kafka.EventsTopic(c))
	}
	ends, err := adm.ListEndOffsets(ctx, topics...)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return false, "", err
	}
	for _, g := range groups.Groups() {
		committed, err := adm.FetchOffsets(ctx, g)
		if err == nil {
			err = committed.Error()
		}
		if err != nil {
			return false, "", err
		}
		behind := ""
		ends.Each(func(o kadm.ListedOffset) {
			if o.Offset == 0 || len(committed[o.Topic]) == 0 {
				return // an empty partition, or a topic the group does not consume
			}
			if cm, ok := committed.Lookup(o.Topic, o.Partition); !ok || cm.At < o.Offset {
				behind = fmt.Sprintf("group %s behind on %s/%d", g, o.Topic, o.Partition)
			}
		})
		if behind != "" {
			return false, behind, nil
		}
	}
	return true, "", nil
}

// WaitQuiet polls Quiet every second until it holds three times in a row or timeout
// passes; it returns how long it waited and, on timeout, why the stack was not quiet.
func (st *Stores) WaitQuiet(ctx context.Context, timeout time.Duration) (time.Duration, error) {
	t0 := time.Now()
	calm, last := 0, ""
	for calm < 3 {
		if time.Since(t0) > timeout {
			return time.Since(t0), fmt.Errorf("chaos: not quiet after %v: %s", timeout, last)
		}
		quiet, why, err := st.Quiet(ctx)
		switch {
		case err != nil:
			calm, last = 0, err.Error()
		case quiet:
			calm++
		default:
			calm, last = 0, why
		}
		select {
		case <-ctx.Done():
			return time.Since(t0), ctx.Err()
		case <-time.After(time.Second):
		}
	}
	return time.Since(t0), nil
}
