package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/elastic/go-elasticsearch/v8"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/shopflow/shopflow/api"
	"github.com/shopflow/shopflow/eventstore"
	"github.com/shopflow/shopflow/internal/elastic"
	"github.com/shopflow/shopflow/internal/kafka"
	"github.com/shopflow/shopflow/projections"
	"github.com/shopflow/shopflow/projections/projectionstest"
)

var (
	// A million by default, the size the rebuild figure is asked for. With a tenth of it the
	// figures mostly measure start-up (group joins, the first fetches) and a small index.
	projectionEvents = flag.Int("projection-events", 1_000_000,
		"events (about) in the projector and rebuild benchmarks")
	readConcurrency = flag.Int("read-concurrency", 8, "concurrent clients in the read API benchmark")
)

// benchProjections measures, on one generated shop of about -projection-events events:
//
//   - projector throughput (the three live workers from an existing backlog until their
//     groups committed everything) against raw _bulk of one write per event of the same
//     documents, three writers as the three workers;
//   - rebuild throughput of the orders read model (it reads all three topics) against the
//     plain pipeline that ends with the same index: a raw franz-go read of the same records
//     plus raw _bulk of the resulting documents (one write each);
//   - read API search (HTTP, parsing, query building) and get-by-id throughput against raw
//     go-elasticsearch _search and GET of the same requests, for o.duration each.
func benchProjections(ctx context.Context, o options) error {
	b, cleanup, err := newProjectionBench(ctx, o)
	if err != nil {
		return err
	}
	defer cleanup()
	n := float64(len(b.shop.Events))
	live, raw, err := b.projectorVsBulk(ctx)
	if err != nil {
		return err
	}
	report(fmt.Sprintf("projector_%d_events", len(b.shop.Events)), n/live.Seconds(), "events/s", n/raw.Seconds())
	rebuilt, consumed, err := b.rebuildVsConsume(ctx)
	if err != nil {
		return err
	}
	report(fmt.Sprintf("rebuild_orders_%d_events", len(b.shop.Events)), n/rebuilt.Seconds(), "events/s", n/consumed.Seconds())
	return b.reads(ctx)
}

// projectionBench is one benchmark run's shop, topics and indices.
type projectionBench struct {
	o    options
	cfg  projections.Config
	es   *elasticsearch.Client
	shop *projectionstest.Shop
}

func newProjectionBench(ctx context.Context, o options) (*projectionBench, func(), error) {
	es, err := elastic.NewClient(o.cfg.ElasticsearchURLs, o.cfg.Elasticsearch.Security()) // the read side's client settings

	if err != nil {
		return nil, nil, err
	}
	b := &projectionBench{o: o, es: es, shop: projectionstest.NewShop(42)}
	prefix := randomName("bench") + "_"
	// DeleteGrace (a pause before the old index is deleted, not work) is shortened so that the
	// rebuild figure measures the rebuild.
	b.cfg = projections.Config{Brokers: o.cfg.KafkaBrokers, IndexPrefix: prefix, GroupPrefix: prefix,
		DeleteGrace: time.Millisecond, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	var drops []func()
	cleanup := func() {
		for _, drop := range drops {
			drop()
		}
		b.deleteGroups()
		res, err := es.Indices.Delete([]string{prefix + "*"})
		if err == nil {
			res.Body.Close()
		}
	}
	for _, t := range []*string{&b.cfg.OrdersTopic, &b.cfg.InventoryTopic, &b.cfg.PaymentsTopic, &b.cfg.DeadLetterTopic} {
		name, drop, err := freshTopic(ctx, o, "bench_projections")
		if err != nil {
			cleanup()
			return nil, nil, err
		}
		*t, drops = name, append(drops, drop)
	}
	b.shop.Random(1000, 1000, max(1, (*projectionEvents-3000)/4))
	if err := b.publish(ctx); err != nil {
		cleanup()
		return nil, nil, err
	}
	return b, cleanup, nil
}

func (b *projectionBench) deleteGroups() {
	cl, err := kafka.NewClient(b.o.cfg.KafkaBrokers)
	if err != nil {
		return
	}
	defer cl.Close()
	for _, name := range projections.Names() {
		_, _ = kadm.NewClient(cl).DeleteGroups(context.Background(), b.cfg.Group(name))
	}
}

// topic returns the events topic of a stream type.
func (b *projectionBench) topic(streamType string) string {
	switch streamType {
	case "order":
		return b.cfg.OrdersTopic
	case "account":
		return b.cfg.PaymentsTopic
	}
	return b.cfg.InventoryTopic
}

// publish produces the shop's events (untimed).
func (b *projectionBench) publish(ctx context.Context) error {
	producer, err := kafka.NewClient(b.o.cfg.KafkaBrokers, eventstore.ProducerOpts()...)
	if err != nil {
		return err
	}
	defer producer.Close()
	var failed atomic.Value
	for _, e := range b.shop.Events {
		r, err := e.Record(b.topic(e.StreamType))
		if err != nil {
			return err
		}
		producer.Produce(ctx, r, func(_ *kgo.Record, err error) {
			if err != nil {
				failed.Store(err)
			}
		})
	}
	if err := producer.Flush(ctx); err != nil {
		return err
	}
	if err, _ := failed.Load().(error); err != nil {
		return err
	}
	return nil
}

// projectorVsBulk times the live workers over the backlog, then raw _bulk of one write per
// event of the documents they produced.
func (b *projectionBench) projectorVsBulk(ctx context.Context) (live, raw time.Duration, err error) {
	wctx, stop := context.WithCancel(ctx)
	defer stop()
	start := time.Now()
	done := make(chan error, 1)
	go func() { done <- projections.RunWorkers(wctx, b.es, b.cfg) }()
	if err := b.waitCaughtUp(ctx, done); err != nil {
		return 0, 0, err
	}
	live = time.Since(start)
	stop()
	if err := <-done; err != nil {
		return 0, 0, err
	}
	raw, err = b.rawBulk(ctx)
	return live, raw, err
}

// waitCaughtUp polls until every live group committed the end of its topics.
func (b *projectionBench) waitCaughtUp(ctx context.Context, failed <-chan error) error {
	cl, err := kafka.NewClient(b.o.cfg.KafkaBrokers)
	if err != nil {
		return err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	for _, name := range projections.Names() {
		for {
			lag, err := adm.Lag(ctx, b.cfg.Group(name))
			if err != nil {
				return err
			}
			if l, ok := lag[b.cfg.Group(name)]; ok && l.Error() == nil && l.Lag.Total() == 0 && len(l.Lag) == len(b.cfg.Topics(name)) {
				break
			}
			select {
			case err := <-failed:
				return fmt.Errorf("workers stopped: %w", err)
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(20 * time.Millisecond):
			}
		}
	}
	return nil
}

// rawBulk writes, per read model and concurrently, one index request per event with the
// final source of the document the event changed, 1,000 per _bulk, into fresh indices with
// the same mappings (copied from the read models).
func (b *projectionBench) rawBulk(ctx context.Context) (time.Duration, error) {
	jobs := map[string][][]byte{}
	for _, name := range projections.Names() {
		lines, err := b.bulkLines(ctx, name)
		if err != nil {
			return 0, err
		}
		jobs[name] = lines
	}
	start := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, len(jobs))
	for _, lines := range jobs {
		wg.Go(func() { errs <- b.sendBulks(ctx, lines) })
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			return 0, err
		}
	}
	return time.Since(start), nil
}

// bulkLines prepares the raw baseline of a read model: a copy of its index, and the
// action+source pair of every event's document write.
func (b *projectionBench) bulkLines(ctx context.Context, name string) ([][]byte, error) {
	alias := b.cfg.Alias(name)
	target := alias + "_raw"
	if err := b.copyIndex(ctx, alias, target); err != nil {
		return nil, err
	}
	docs, err := b.documents(ctx, alias)
	if err != nil {
		return nil, err
	}
	var lines [][]byte
	for i, e := range b.shop.Events {
		id := documentOf(name, e)
		src, ok := docs[id]
		if !ok {
			continue
		}
		action := fmt.Sprintf(`{"index":{"_index":%q,"_id":%q,"version":%d,"version_type":"external_gte"}}`, target, id, i+1)
		lines = append(lines, []byte(action+"\n"+string(src)+"\n"))
	}
	return lines, nil
}

// documentOf returns the id of the document of read model name that event e changes.
func documentOf(name string, e eventstore.Envelope) string {
	_, id, _ := strings.Cut(e.StreamID, "-")
	switch {
	case name == projections.Products && e.StreamType == "product",
		name == projections.Customers && e.StreamType == "account",
		name == projections.Orders && e.StreamType == "order":
		return id
	case name == projections.Orders && (e.EventType == "ProductRegistered" || e.EventType == "AccountOpened"):
		return e.StreamID
	}
	return ""
}

func (b *projectionBench) copyIndex(ctx context.Context, from, to string) error {
	res, err := b.es.Indices.GetMapping(b.es.Indices.GetMapping.WithIndex(from), b.es.Indices.GetMapping.WithContext(ctx))
	if err != nil {
		return err
	}
	defer res.Body.Close()
	var mappings map[string]struct {
		Mappings json.RawMessage `json:"mappings"`
	}
	if err := json.NewDecoder(res.Body).Decode(&mappings); err != nil {
		return err
	}
	for _, m := range mappings {
		body := fmt.Sprintf(`{"settings":{"number_of_replicas":0,"analysis":{"normalizer":{"lower":{"type":"custom","filter":["lowercase"]}}}},"mappings":%s}`, m.Mappings)
		res, err := b.es.Indices.Create(to, b.es.Indices.Create.WithBody(strings.NewReader(body)), b.es.Indices.Create.WithContext(ctx))
		if err != nil {
			return err
		}
		defer res.Body.Close()
		if res.IsError() {
			return fmt.Errorf("create %s: %s", to, res)
		}
	}
	return nil
}

// documents returns the source of every document of an alias by id (scroll).
func (b *projectionBench) documents(ctx context.Context, alias string) (map[string]json.RawMessage, error) {
	docs := map[string]json.RawMessage{}
	res, err := b.es.Search(b.es.Search.WithIndex(alias), b.es.Search.WithSize(5000), b.es.Search.WithScroll(time.Minute),
		b.es.Search.WithContext(ctx))
	for {
		if err != nil {
			return nil, err
		}
		var answer struct {
			ScrollID string `json:"_scroll_id"`
			Hits     struct {
				Hits []struct {
					ID     string          `json:"_id"`
					Source json.RawMessage `json:"_source"`
				} `json:"hits"`
			} `json:"hits"`
		}
		err = json.NewDecoder(res.Body).Decode(&answer)
		res.Body.Close()
		if err != nil || res.IsError() {
			return nil, fmt.Errorf("scroll %s: %v %s", alias, err, res.Status())
		}
		if len(answer.Hits.Hits) == 0 {
			return docs, nil
		}
		for _, h := range answer.Hits.Hits {
			docs[h.ID] = h.Source
		}
		res, err = b.es.Scroll(b.es.Scroll.WithScrollID(answer.ScrollID), b.es.Scroll.WithScroll(time.Minute),
			b.es.Scroll.WithContext(ctx))
	}
}

func (b *projectionBench) sendBulks(ctx context.Context, lines [][]byte) error {
	for start := 0; start < len(lines); start += 1000 {
		body := bytes.Join(lines[start:min(start+1000, len(lines))], nil)
		res, err := b.es.Bulk(bytes.NewReader(body), b.es.Bulk.WithContext(ctx))
		if err != nil {
			return err
		}
		var answer struct {
			Errors bool `json:"errors"`
		}
		err = json.NewDecoder(res.Body).Decode(&answer)
		res.Body.Close()
		if err != nil || res.IsError() || answer.Errors {
			return fmt.Errorf("raw bulk: %v %s (item errors: %v)", err, res.Status(), answer.Errors)
		}
	}
	return nil
}

// rebuildVsConsume times a rebuild of the orders read model, then a raw read of its topics
// and a raw _bulk of its documents.
func (b *projectionBench) rebuildVsConsume(ctx context.Context) (rebuilt, consumed time.Duration, err error) {
	start := time.Now()
	if _, err := projections.Rebuild(ctx, b.es, b.cfg, projections.Orders, nil); err != nil {
		return 0, 0, err
	}
	rebuilt = time.Since(start)
	if consumed, err = b.rawConsume(ctx); err != nil {
		return 0, 0, err
	}
	written, err := b.rawIndex(ctx, projections.Orders)
	return rebuilt, consumed + written, err
}

// rawIndex times raw _bulk of every document of a read model, once each, into a copy.
func (b *projectionBench) rawIndex(ctx context.Context, name string) (time.Duration, error) {
	alias := b.cfg.Alias(name)
	target := alias + "_raw_final"
	if err := b.copyIndex(ctx, alias, target); err != nil {
		return 0, err
	}
	docs, err := b.documents(ctx, alias)
	if err != nil {
		return 0, err
	}
	lines := make([][]byte, 0, len(docs))
	for id, src := range docs {
		lines = append(lines, []byte(fmt.Sprintf("{\"index\":{\"_index\":%q,\"_id\":%q}}\n%s\n", target, id, src)))
	}
	start := time.Now()
	err = b.sendBulks(ctx, lines)
	return time.Since(start), err
}

func (b *projectionBench) rawConsume(ctx context.Context) (time.Duration, error) {
	cl, err := kafka.NewClient(b.o.cfg.KafkaBrokers, kgo.ConsumeTopics(b.cfg.Topics(projections.Orders)...),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		return 0, err
	}
	defer cl.Close()
	start := time.Now()
	for n := 0; n < len(b.shop.Events); {
		fetches := cl.PollRecords(ctx, 1000)
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		n += fetches.NumRecords()
	}
	return time.Since(start), nil
}

// reads compares the read API with raw go-elasticsearch requests of the same queries.
func (b *projectionBench) reads(ctx context.Context) error {
	rec := &recordingTransport{next: elastic.Transport(len(b.o.cfg.ElasticsearchURLs))}
	es, err := elasticsearch.NewClient(elasticsearch.Config{Addresses: b.o.cfg.ElasticsearchURLs, Transport: rec})
	if err != nil {
		return err
	}
	reader, err := projections.NewReader(es, b.cfg)
	if err != nil {
		return err
	}
	e := api.New(benchAPI(api.Options{Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Registry: prometheus.NewRegistry()}))
	api.RegisterReadRoutes(e, reader)
	srv := httptest.NewServer(e)
	defer srv.Close()
	// The server's own client keeps Go's default 2 idle connections: with more concurrent
	// readers, most requests would open a connection (the raw client keeps enough).
	srv.Client().Transport = withToken(elastic.Transport(1))
	if err := b.compareSearch(ctx, srv, rec); err != nil {
		return err
	}
	return b.compareGet(ctx, srv)
}

// searchTarget is the benchmarked search: full text, a status filter and the facet.
const searchTarget = "/v1/orders?q=running+shoe&status=confirmed&sort=-total_cents&size=20"

func (b *projectionBench) compareSearch(ctx context.Context, srv *httptest.Server, rec *recordingTransport) error {
	if err := httpGet(srv.Client(), srv.URL+searchTarget); err != nil {
		return err
	}
	body := rec.lastSearch()
	if body == nil {
		return fmt.Errorf("the read API sent no _search request")
	}
	viaAPI, raw, err := b.rates(ctx, func() error { return httpGet(srv.Client(), srv.URL+searchTarget) },
		func() error { return b.rawSearch(ctx, body) })
	if err != nil {
		return err
	}
	report(fmt.Sprintf("read_api_search_c%d", *readConcurrency), viaAPI, "req/s", raw)
	return nil
}

func (b *projectionBench) compareGet(ctx context.Context, srv *httptest.Server) error {
	alias := b.cfg.Alias(projections.Orders)
	var i atomic.Int64
	id := func() string { return b.shop.Orders[int(i.Add(1))%len(b.shop.Orders)] }
	viaAPI, raw, err := b.rates(ctx, func() error { return httpGet(srv.Client(), srv.URL+"/v1/orders/"+id()) }, func() error {
		res, err := b.es.Get(alias, id(), b.es.Get.WithContext(ctx))
		if err != nil {
			return err
		}
		defer res.Body.Close()
		_, _ = io.Copy(io.Discard, res.Body)
		if res.IsError() {
			return fmt.Errorf("raw get: %s", res.Status())
		}
		return nil
	})
	if err != nil {
		return err
	}
	report(fmt.Sprintf("read_api_get_by_id_c%d", *readConcurrency), viaAPI, "req/s", raw)
	return nil
}

func (b *projectionBench) rawSearch(ctx context.Context, body []byte) error {
	res, err := b.es.Search(b.es.Search.WithIndex(b.cfg.Alias(projections.Orders)),
		b.es.Search.WithBody(bytes.NewReader(body)), b.es.Search.WithContext(ctx))
	if err != nil {
		return err
	}
	defer res.Body.Close()
	var answer map[string]any // decoded like the API decodes its answer
	if err := json.NewDecoder(res.Body).Decode(&answer); err != nil || res.IsError() {
		return fmt.Errorf("raw search: %v %s", err, res.Status())
	}
	return nil
}

// rateRounds is how many alternating rounds rates gives each side.
const rateRounds = 4

// rates measures fn and its baseline in alternating rounds that share o.duration each, so
// that a slow spell of the machine (a merge Elasticsearch runs after the previous benchmark,
// a GC) weighs on both rather than on whichever ran first. The rounds go fn, baseline,
// baseline, fn, …: a machine that speeds up or slows down steadily during the measurement
// (the merges winding down) favours neither side.
func (b *projectionBench) rates(ctx context.Context, fn, baseline func() error) (float64, float64, error) {
	round := b.o.duration / rateRounds
	var sum, baseSum float64
	for i := range rateRounds {
		first, second := fn, baseline
		if i%2 == 1 {
			first, second = baseline, fn
		}
		r1, err := b.rate(ctx, round, first)
		if err != nil {
			return 0, 0, err
		}
		r2, err := b.rate(ctx, round, second)
		if err != nil {
			return 0, 0, err
		}
		if i%2 == 1 {
			r1, r2 = r2, r1
		}
		sum, baseSum = sum+r1, baseSum+r2
	}
	return sum / rateRounds, baseSum / rateRounds, nil
}

// rate runs fn from readConcurrency goroutines for d and returns calls per second.
func (b *projectionBench) rate(ctx context.Context, d time.Duration, fn func() error) (float64, error) {
	deadline := time.Now().Add(d)
	var calls atomic.Int64
	var failed atomic.Value
	var wg sync.WaitGroup
	for range *readConcurrency {
		wg.Go(func() {
			for time.Now().Before(deadline) && ctx.Err() == nil {
				if err := fn(); err != nil {
					failed.Store(err)
					return
				}
				calls.Add(1)
			}
		})
	}
	wg.Wait()
	if err, _ := failed.Load().(error); err != nil {
		return 0, err
	}
	return float64(calls.Load()) / d.Seconds(), ctx.Err()
}

func httpGet(cl *http.Client, url string) error {
	res, err := cl.Get(url)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	_, _ = io.Copy(io.Discard, res.Body)
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, res.Status)
	}
	return nil
}

// recordingTransport remembers the body of the first _search request it sent.
type recordingTransport struct {
	next http.RoundTripper
	mu   sync.Mutex
	body []byte
}

func (t *recordingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if strings.HasSuffix(r.URL.Path, "/_search") && r.Body != nil && t.lastSearch() == nil {
		data, err := io.ReadAll(r.Body)
		if err != nil {
			return nil, err
		}
		t.mu.Lock()
		t.body = data
		t.mu.Unlock()
		r.Body = io.NopCloser(bytes.NewReader(data))
	}
	return t.next.RoundTrip(r)
}

// lastSearch returns the recorded _search body, nil before the first.
func (t *recordingTransport) lastSearch() []byte {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.body
}
