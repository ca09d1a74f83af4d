package main

import (
	"context"
	"encoding/json"
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

	"github.com/shopflow/shopflow/api"
	"github.com/shopflow/shopflow/internal/elastic"
	"github.com/shopflow/shopflow/internal/health"
	"github.com/shopflow/shopflow/projections"
)

// visibleRate is the order rate of the command→visible benchmark (the figure).
const visibleRate = 200

// visibleWarmUp is how long orders flow, unmeasured, before the measurements: the first
// orders find the orders worker still applying the products and customers created for the
// run (its own topics paused until then) and cold caches and connections everywhere, a
// start-up cost rather than the steady latency the figures are about.
const visibleWarmUp = 2 * time.Second

// searchPoll is how often a search watch (searchwatch.go) searches for what has become
// visible: far below the refresh interval that decides when documents do.
const searchPoll = 50 * time.Millisecond

// benchVisible measures how long after its command commits an order becomes visible in the
// read API, at visibleRate orders/s through the whole pipeline (relays, sagas, projection
// workers), after a warm-up, in two phases of o.duration: through GET
// /v1/orders/{id}?min_version=1 (read-your-writes, a request per order), then through
// search (one search watch: a search every searchPoll for the orders placed since the
// oldest one not yet found). Every order is measured in both. The phases are separate so
// that neither's reads weigh on the other's figure. Baselines, in the same run and at the
// same rate: raw Elasticsearch index → real-time GET, and index → found by a search watch
// on an index with the same refresh interval.
func benchVisible(ctx context.Context, o options) error {
	o.rate = visibleRate
	rig, err := newSagaRig(ctx, o)
	if err != nil {
		return err
	}
	defer rig.close()
	es, err := elastic.NewClient(o.cfg.ElasticsearchURLs, o.cfg.Elasticsearch.Security())
	if err != nil {
		return err
	}
	pcfg, err := rig.startProjections(ctx, o, es)
	if err != nil {
		return err
	}
	srv, err := readServer(es, pcfg)
	if err != nil {
		return err
	}
	defer srv.Close()
	if err := waitReadModels(ctx, srv.URL); err != nil {
		return err
	}
	client := &http.Client{Timeout: 30 * time.Second, Transport: withToken(nil)}
	byID := func(id string, _ time.Time) error { return getWhenVisible(ctx, client, srv.URL, id) }
	warm := o
	warm.duration = visibleWarmUp
	if _, err := rig.measureVisible(ctx, warm, byID); err != nil {
		return fmt.Errorf("warm-up: %w", err)
	}
	byIDLatency, err := rig.measureVisible(ctx, o, byID)
	if err != nil {
		return err
	}
	watchCtx, stopWatch := context.WithCancel(ctx)
	watch := watchSearches(watchCtx, readAPIOrdersSince(client, srv.URL))
	searchLatency, err := rig.measureVisible(ctx, o, func(id string, placing time.Time) error {
		return watch.await(ctx, id, placing)
	})
	stopWatch()
	if err != nil {
		return err
	}
	rawGet, rawSearch, err := rawVisible(ctx, o, es)
	if err != nil {
		return err
	}
	name := fmt.Sprintf("command_to_visible_%dps", visibleRate)
	report(name+"_get_min_version_p50", percentile(byIDLatency, 50), "ms", percentile(rawGet, 50))
	report(name+"_get_min_version_p99", percentile(byIDLatency, 99), "ms", percentile(rawGet, 99))
	report(name+"_search_p50", percentile(searchLatency, 50), "ms", percentile(rawSearch, 50))
	report(name+"_search_p99", percentile(searchLatency, 99), "ms", percentile(rawSearch, 99))
	return nil
}

// startProjections runs the projection workers on the rig's topics, in indices of their own.
func (r *sagaRig) startProjections(ctx context.Context, o options, es *elasticsearch.Client) (projections.Config, error) {
	dlt, drop, err := freshTopic(ctx, o, "bench_visible_dlt")
	if err != nil {
		return projections.Config{}, err
	}
	prefix := randomName("bench") + "_"
	r.cleanups = append(r.cleanups, drop, func() { deleteIndices(es, prefix) })
	cfg := projections.Config{Brokers: o.cfg.KafkaBrokers, IndexPrefix: prefix, GroupPrefix: prefix,
		OrdersTopic: r.topic("orders"), InventoryTopic: r.topic("inventory"), PaymentsTopic: r.topic("payments"),
		DeadLetterTopic: dlt, Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Changes: projections.NewChanges()}
	r.goUntilClose(ctx, func(ctx context.Context) { _ = projections.RunWorkers(ctx, es, cfg) })
	return cfg, nil
}

func deleteIndices(es *elasticsearch.Client, prefix string) {
	if res, err := es.Indices.Delete([]string{prefix + "*"}); err == nil {
		res.Body.Close()
	}
}

// readServer serves the read API (echo, the production middleware) on a loopback port.
func readServer(es *elasticsearch.Client, cfg projections.Config) (*httptest.Server, error) {
	reader, err := projections.NewReader(es, cfg)
	if err != nil {
		return nil, err
	}
	e := api.New(benchAPI(api.Options{Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Health: health.NewChecker(0),
		Registry: prometheus.NewRegistry()}))
	api.RegisterReadRoutes(e, reader)
	return httptest.NewServer(e), nil
}

// waitReadModels waits until the workers have created the indices behind the aliases.
func waitReadModels(ctx context.Context, url string) error {
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		var page struct{}
		if err := getJSON(ctx, &http.Client{Transport: withToken(nil)}, url+"/v1/orders?size=1", &page); err == nil {
			return nil
		}
	}
	return fmt.Errorf("read models not ready after a minute")
}

// measureVisible places orders at o.rate for o.duration and waits with visible(id, placing)
// for each, timed from the moment its command returned; placing is a time before the command.
func (r *sagaRig) measureVisible(ctx context.Context, o options, visible func(id string, placing time.Time) error) ([]time.Duration, error) {
	var mu sync.Mutex
	var wg sync.WaitGroup
	var seq atomic.Int64
	var failed atomic.Value
	var latency []time.Duration
	err := paced(ctx, o, func(_, _ int) error {
		placing := time.Now()
		id, err := r.placeOrder(ctx, int(seq.Add(1)))
		if err != nil {
			return err
		}
		t0 := time.Now()
		wg.Go(func() {
			if err := visible(id, placing); err != nil {
				failed.Store(err)
				return
			}
			mu.Lock()
			latency = append(latency, time.Since(t0))
			mu.Unlock()
		})
		return nil
	})
	wg.Wait()
	if err == nil {
		err, _ = failed.Load().(error)
	}
	return latency, err
}

// getWhenVisible is a client's read-your-writes: one GET with min_version, waiting server-side.
func getWhenVisible(ctx context.Context, client *http.Client, url, id string) error {
	var order struct{}
	return getJSON(ctx, client, url+"/v1/orders/"+id+"?min_version=1&wait=10s", &order)
}

// rawVisible is the baseline: documents indexed straight into an index with the read
// models' refresh interval, at the same rate, timed until a real-time GET returns them and
// until a search watch finds them.
func rawVisible(ctx context.Context, o options, es *elasticsearch.Client) (get, search []time.Duration, err error) {
	index := randomName("bench_raw_visible")
	defer deleteIndices(es, index)
	res, err := es.Indices.Create(index, es.Indices.Create.WithBody(strings.NewReader(
		`{"settings":{"number_of_replicas":0,"refresh_interval":"1s"},"mappings":{"properties":{"created":{"type":"date"}}}}`)))
	if err != nil {
		return nil, nil, err
	}
	res.Body.Close()
	watchCtx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	watch := watchSearches(watchCtx, rawDocsSince(es, index))
	o.rate = visibleRate
	var mu sync.Mutex
	var wg sync.WaitGroup
	var seq atomic.Int64
	var failed atomic.Value
	err = paced(ctx, o, func(_, _ int) error {
		id := fmt.Sprintf("doc-%d", seq.Add(1))
		t0 := time.Now()
		doc := fmt.Sprintf(`{"id":%q,"created":%q}`, id, t0.UTC().Format(time.RFC3339Nano))
		res, err := es.Index(index, strings.NewReader(doc), es.Index.WithDocumentID(id))
		if err != nil {
			return err
		}
		_, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
		wg.Go(func() {
			g := rawGetVisible(ctx, es, index, id, t0)
			if err := watch.await(ctx, id, t0); err != nil {
				failed.Store(err)
				return
			}
			s := time.Since(t0)
			mu.Lock()
			get, search = append(get, g), append(search, s)
			mu.Unlock()
		})
		return nil
	})
	wg.Wait()
	if err == nil {
		err, _ = failed.Load().(error)
	}
	return get, search, err
}

// rawGetVisible polls a real-time GET for the document.
func rawGetVisible(ctx context.Context, es *elasticsearch.Client, index, id string, t0 time.Time) time.Duration {
	for ctx.Err() == nil {
		res, err := es.Get(index, id, es.Get.WithContext(ctx))
		if err != nil {
			continue
		}
		_, _ = io.Copy(io.Discard, res.Body) // read to the end, so the connection is reused
		res.Body.Close()
		if res.StatusCode == http.StatusOK {
			break
		}
	}
	return time.Since(t0)
}

// rawDocsSince searches the index for the documents created since a time.
func rawDocsSince(es *elasticsearch.Client, index string) visibleSince {
	return func(ctx context.Context, since time.Time, found func([]string)) error {
		query := fmt.Sprintf(`{"query":{"range":{"created":{"gte":%q}}},"size":10000,"_source":false}`,
			since.UTC().Format(time.RFC3339Nano))
		res, err := es.Search(es.Search.WithContext(ctx), es.Search.WithIndex(index),
			es.Search.WithBody(strings.NewReader(query)), es.Search.WithFilterPath("hits.hits._id"))
		if err != nil {
			return err
		}
		defer res.Body.Close()
		if res.IsError() {
			return fmt.Errorf("raw search: %s", res.String())
		}
		var answer struct {
			Hits struct {
				Hits []struct {
					ID string `json:"_id"`
				} `json:"hits"`
			} `json:"hits"`
		}
		if err := json.NewDecoder(res.Body).Decode(&answer); err != nil {
			return err
		}
		ids := make([]string, len(answer.Hits.Hits))
		for i, h := range answer.Hits.Hits {
			ids[i] = h.ID
		}
		found(ids)
		return nil
	}
}
