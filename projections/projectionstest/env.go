package projectionstest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/elastic/go-elasticsearch/v8"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/shopflow/shopflow/domain/inventory"
	"github.com/shopflow/shopflow/domain/order"
	"github.com/shopflow/shopflow/domain/payment"
	"github.com/shopflow/shopflow/eventstore"
	"github.com/shopflow/shopflow/internal/testenv"
	"github.com/shopflow/shopflow/projections"
)

// Timeout bounds every wait of the helpers.
const Timeout = 90 * time.Second

// Env is one test's isolated projection setup on the real servers: fresh event and
// dead-letter topics, a unique index prefix and consumer group prefix, all removed when the
// test ends.
type Env struct {
	Config   projections.Config
	ES       *elasticsearch.Client
	Producer *kgo.Client
	Admin    *kadm.Client
}

// New creates an isolated environment with topics of the given partition count.
func New(t testing.TB, partitions int32) *Env {
	t.Helper()
	es := testenv.Elastic(t)
	topics := testenv.Topics(t, partitions, "orders.events", "inventory.events", "payments.events", "projections.dlt")
	producer := testenv.Kafka(t, kgo.RequiredAcks(kgo.AllISRAcks()), kgo.ProducerLinger(0))
	e := &Env{ES: es, Producer: producer, Admin: kadm.NewClient(producer)}
	e.Config = projections.Config{
		Brokers:     testenv.Config(t).KafkaBrokers,
		IndexPrefix: testenv.Index(t, es, "proj") + "_",
		OrdersTopic: topics[0], InventoryTopic: topics[1], PaymentsTopic: topics[2], DeadLetterTopic: topics[3],
		GroupPrefix:   testenv.Name("g") + ".",
		FlushInterval: 20 * time.Millisecond, RetryBackoff: 20 * time.Millisecond, MaxRetryBackoff: 500 * time.Millisecond,
		DeleteGrace: 200 * time.Millisecond,
		Log:         slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	t.Cleanup(func() { e.deleteGroups() })
	return e
}

func (e *Env) deleteGroups() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var groups []string
	for _, name := range projections.Names() {
		groups = append(groups, e.Config.Group(name))
	}
	_, _ = e.Admin.DeleteGroups(ctx, groups...)
}

// Topic returns the events topic of a stream type.
func (e *Env) Topic(streamType string) string {
	switch streamType {
	case order.AggregateType:
		return e.Config.OrdersTopic
	case payment.AggregateType:
		return e.Config.PaymentsTopic
	case inventory.ProductAggregateType, inventory.ReservationAggregateType:
		return e.Config.InventoryTopic
	}
	panic("projectionstest: no topic for stream type " + streamType)
}

// Produce publishes the envelopes to their context's topic (key = stream id) and waits for
// the acknowledgements. Records of one stream keep their order.
func (e *Env) Produce(t testing.TB, envs ...eventstore.Envelope) {
	t.Helper()
	recs := make([]*kgo.Record, len(envs))
	for i, env := range envs {
		r, err := env.Record(e.Topic(env.StreamType))
		if err != nil {
			t.Fatal(err)
		}
		recs[i] = r
	}
	e.ProduceRecords(t, recs...)
}

// ProduceRecords publishes records as they are and waits for the acknowledgements.
func (e *Env) ProduceRecords(t testing.TB, recs ...*kgo.Record) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), Timeout)
	defer cancel()
	if err := e.Producer.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatalf("produce: %v", err)
	}
}

// StartWorker runs the live worker of a read model until the test ends; the test fails if
// the worker returns an error.
func (e *Env) StartWorker(t testing.TB, name string) *projections.Worker {
	t.Helper()
	w, err := projections.NewWorker(name, e.ES, e.Config)
	if err != nil {
		t.Fatalf("new %s worker: %v", name, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("%s worker: %v", name, err)
		}
	})
	return w
}

// StartWorkers runs the live worker of every read model until the test ends.
func (e *Env) StartWorkers(t testing.TB) {
	t.Helper()
	for _, name := range projections.Names() {
		e.StartWorker(t, name)
	}
}

// WaitCaughtUp waits until the live group of every named read model (all if none) has
// committed every record of its topics: their documents are then stored.
func (e *Env) WaitCaughtUp(t testing.TB, names ...string) {
	t.Helper()
	if len(names) == 0 {
		names = projections.Names()
	}
	for _, name := range names {
		Eventually(t, name+" caught up", func() (bool, error) { return e.caughtUp(name) })
	}
}

func (e *Env) caughtUp(name string) (bool, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	topics := e.Config.Topics(name)
	ends, err := e.Admin.ListEndOffsets(ctx, topics...)
	if err != nil {
		return false, err
	}
	committed, err := e.Admin.FetchOffsetsForTopics(ctx, e.Config.Group(name), topics...)
	if err != nil {
		return false, err
	}
	done := true
	ends.Each(func(o kadm.ListedOffset) {
		c, ok := committed.Lookup(o.Topic, o.Partition)
		if o.Offset > 0 && (!ok || c.At < o.Offset) {
			done = false
		}
	})
	return done, nil
}

// Eventually polls cond until it holds, failing the test after Timeout with the last error.
func Eventually(t testing.TB, what string, cond func() (bool, error)) {
	t.Helper()
	deadline := time.Now().Add(Timeout)
	var last error
	for time.Now().Before(deadline) {
		ok, err := cond()
		if ok && err == nil {
			return
		}
		last = err
		time.Sleep(25 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s (last error: %v)", what, last)
}

// Doc is a stored document: its Elasticsearch version and source.
type Doc struct {
	Version int64
	Source  map[string]any
}

// Refresh makes every stored document of the read models visible to searches.
func (e *Env) Refresh(t testing.TB) {
	t.Helper()
	for _, name := range projections.Names() {
		res, err := e.ES.Indices.Refresh(e.ES.Indices.Refresh.WithIndex(e.Config.Alias(name)))
		if err != nil || res.IsError() {
			t.Fatalf("refresh %s: %v %v", name, err, res)
		}
		res.Body.Close()
	}
}

// Snapshot returns every document of an index or alias by id, after a refresh.
func (e *Env) Snapshot(t testing.TB, index string) map[string]Doc {
	t.Helper()
	res, err := e.ES.Indices.Refresh(e.ES.Indices.Refresh.WithIndex(index))
	if err != nil || res.IsError() {
		t.Fatalf("refresh %s: %v %v", index, err, res)
	}
	res.Body.Close()
	res, err = e.ES.Search(e.ES.Search.WithIndex(index), e.ES.Search.WithSize(10_000), e.ES.Search.WithVersion(true),
		e.ES.Search.WithBody(strings.NewReader(`{"query":{"match_all":{}}}`)))
	if err != nil || res.IsError() {
		t.Fatalf("search %s: %v %v", index, err, res)
	}
	defer res.Body.Close()
	var answer struct {
		Hits struct {
			Hits []struct {
				ID      string         `json:"_id"`
				Version int64          `json:"_version"`
				Source  map[string]any `json:"_source"`
			} `json:"hits"`
		} `json:"hits"`
	}
	if err := json.NewDecoder(res.Body).Decode(&answer); err != nil {
		t.Fatal(err)
	}
	docs := make(map[string]Doc, len(answer.Hits.Hits))
	for _, h := range answer.Hits.Hits {
		docs[h.ID] = Doc{Version: h.Version, Source: h.Source}
	}
	return docs
}

// Index returns the index behind a read model's alias.
func (e *Env) Index(t testing.TB, name string) string {
	t.Helper()
	res, err := e.ES.Indices.GetAlias(e.ES.Indices.GetAlias.WithName(e.Config.Alias(name)))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode == http.StatusNotFound {
		return ""
	}
	var answer map[string]any
	if err := json.NewDecoder(res.Body).Decode(&answer); err != nil {
		t.Fatal(err)
	}
	if len(answer) != 1 {
		t.Fatalf("alias %s is on %d indices: %v", e.Config.Alias(name), len(answer), answer)
	}
	for index := range answer {
		return index
	}
	return ""
}

// DeadLetters reads the dead-letter topic until it holds at least n records, and returns them.
func (e *Env) DeadLetters(t testing.TB, n int) []*kgo.Record {
	t.Helper()
	cl := testenv.Kafka(t, kgo.ConsumeTopics(e.Config.DeadLetterTopic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	ctx, cancel := context.WithTimeout(context.Background(), Timeout)
	defer cancel()
	var recs []*kgo.Record
	for len(recs) < n {
		fetches := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("dead-letter topic holds %d records, want %d: %v", len(recs), n, err)
		}
		fetches.EachError(func(topic string, p int32, err error) {
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Logf("fetch %s/%d: %v", topic, p, err)
			}
		})
		recs = append(recs, fetches.Records()...)
	}
	return recs
}

// Header returns a record header's value.
func Header(r *kgo.Record, key string) string {
	for _, h := range r.Headers {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}

// Diff describes the differences between two snapshots ("" if equal), at most ten.
func Diff(want, got map[string]Doc) string {
	var diffs []string
	for id, w := range want {
		g, ok := got[id]
		switch {
		case !ok:
			diffs = append(diffs, fmt.Sprintf("%s missing", id))
		case w.Version != g.Version || !equalJSON(w.Source, g.Source):
			diffs = append(diffs, fmt.Sprintf("%s:\n  want v%d %v\n  got  v%d %v", id, w.Version, w.Source, g.Version, g.Source))
		}
	}
	for id := range got {
		if _, ok := want[id]; !ok {
			diffs = append(diffs, fmt.Sprintf("%s unexpected", id))
		}
	}
	if len(diffs) > 10 {
		diffs = append(diffs[:10], fmt.Sprintf("… %d more", len(diffs)-10))
	}
	return strings.Join(diffs, "\n")
}

func equalJSON(a, b map[string]any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}
