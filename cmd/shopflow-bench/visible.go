package main

import (
	"context"
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

// searchProbeEvery is the share of orders whose searchability is measured (every tenth):
// each probe searches every searchPoll until its order shows up, about a refresh interval.
const searchProbeEvery = 10

// searchPoll is how often a measurement (and its baseline) repeats a search until the
// document shows up: far below the refresh interval that decides when it does, and slow
// enough that the measuring clients (about twenty polling at once) do not become the main
// load of the Elasticsearch they measure.
const searchPoll = 50 * time.Millisecond

// benchVisible measures how long after its command commits an order becomes visible in the
// read API, at visibleRate orders/s through the whole pipeline (relays, sagas, projection
// workers), after a warm-up, in two phases of o.duration: through GET
// /v1/orders/{id}?min_version=1 (read-your-writes, every order), then through search (every
// tenth order, polled). The phases are separate because the search probes are a load of
// their own: a few hundred searches/s with facets, which doubled the get-by-id figures when
// both ran at once. Baselines, in the same run: raw Elasticsearch index → real-time GET, and
// index → searchable with the same refresh interval.
func benchVisible(ctx context.Context, o options) error {
	o.rate = visibleRate
	rig, err := newSagaRig(ctx, o)
	if err != nil {
		return err
	}
	defer rig.close()
	es, err := elastic.NewClient(o.cfg.ElasticsearchURLs)
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
	client := &http.Client{Timeout: 30 * time.Second}
	byID := func(_ int, id string) error { return getWhenVisible(ctx, client, srv.URL, id) }
	search := func(i int, id string) error {
		return searchUntilFound(ctx, client, srv.URL, rig.customers[i%len(rig.customers)], id)
	}
	warm := o
	warm.duration = visibleWarmUp
	if _, err := rig.measureVisible(ctx, warm, 1, byID); err != nil {
		return fmt.Errorf("warm-up: %w", err)
	}
	byIDLatency, err := rig.measureVisible(ctx, o, 1, byID)
	if err != nil {
		return err
	}
	searchLatency, err := rig.measureVisible(ctx, o, searchProbeEvery, search)
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
	e := api.New(api.Options{Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Health: health.NewChecker(0),
		Registry: prometheus.NewRegistry()})
	api.RegisterReadRoutes(e, reader)
	return httptest.NewServer(e), nil
}

// waitReadModels waits until the workers have created the indices behind the aliases.
func waitReadModels(ctx context.Context, url string) error {
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if _, err := searchFinds(ctx, http.DefaultClient, url+"/v1/orders?size=1", ""); err == nil {
			return nil
		}
	}
	return fmt.Errorf("read models not ready after a minute")
}

// measureVisible places orders at o.rate for o.duration and probes every every-th of them
// with probe(i, id), timed from the moment its command returned.
func (r *sagaRig) measureVisible(ctx context.Context, o options, every int, probe func(i int, id string) error) ([]time.Duration, error) {
	var mu sync.Mutex
	var wg sync.WaitGroup
	var seq atomic.Int64
	var failed atomic.Value
	var latency []time.Duration
	err := paced(ctx, o, func(_, _ int) error {
		i := int(seq.Add(1))
		id, err := r.placeOrder(ctx, i)
		if err != nil || i%every != 0 {
			return err
		}
		t0 := time.Now()
		wg.Go(func() {
			if err := probe(i, id); err != nil {
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
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url+"/v1/orders/"+id+"?min_version=1&wait=10s", nil)
	if err != nil {
		return err
	}
	res, err := client.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	_, _ = io.Copy(io.Discard, res.Body)
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("GET order %s: %s", id, res.Status)
	}
	return nil
}

// searchUntilFound polls the customer's newest orders until the order shows up.
func searchUntilFound(ctx context.Context, client *http.Client, url, customer, id string) error {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		found, err := searchFinds(ctx, client, url+"/v1/orders?sort=-placed_at&size=20&customer_id="+customer, id)
		if err != nil || found {
			return err
		}
		time.Sleep(searchPoll)
	}
	return fmt.Errorf("order %s not searchable after 30s", id)
}

func searchFinds(ctx context.Context, client *http.Client, url, id string) (bool, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return false, err
	}
	res, err := client.Do(req)
	if err != nil {
		return false, err
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil || res.StatusCode != http.StatusOK {
		return false, fmt.Errorf("search: %s %v", res.Status, err)
	}
	return strings.Contains(string(body), `"id":"`+id+`"`), nil
}

// rawVisible is the baseline: documents indexed straight into an index with the read
// models' refresh interval, at a tenth of the rate, timed until a real-time GET and until a
// search returns them.
func rawVisible(ctx context.Context, o options, es *elasticsearch.Client) (get, search []time.Duration, err error) {
	index := randomName("bench_raw_visible")
	defer deleteIndices(es, index)
	res, err := es.Indices.Create(index, es.Indices.Create.WithBody(strings.NewReader(
		`{"settings":{"number_of_replicas":0,"refresh_interval":"1s"}}`)))
	if err != nil {
		return nil, nil, err
	}
	res.Body.Close()
	o.rate = visibleRate / 10
	var mu sync.Mutex
	var wg sync.WaitGroup
	var seq atomic.Int64
	err = paced(ctx, o, func(_, _ int) error {
		id := fmt.Sprintf("doc-%d", seq.Add(1))
		t0 := time.Now()
		res, err := es.Index(index, strings.NewReader(`{"id":"`+id+`"}`), es.Index.WithDocumentID(id))
		if err != nil {
			return err
		}
		_, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
		wg.Go(func() {
			g, s := rawWaitVisible(ctx, es, index, id, t0)
			mu.Lock()
			get, search = append(get, g), append(search, s)
			mu.Unlock()
		})
		return nil
	})
	wg.Wait()
	return get, search, err
}

// rawWaitVisible polls a real-time GET, then a search, for the document.
func rawWaitVisible(ctx context.Context, es *elasticsearch.Client, index, id string, t0 time.Time) (get, search time.Duration) {
	for {
		res, err := es.Get(index, id, es.Get.WithContext(ctx))
		if err == nil {
			_, _ = io.Copy(io.Discard, res.Body) // read to the end, so the connection is reused
			res.Body.Close()
			if res.StatusCode == http.StatusOK || ctx.Err() != nil {
				break
			}
		}
	}
	get = time.Since(t0)
	for ctx.Err() == nil {
		res, err := es.Search(es.Search.WithContext(ctx), es.Search.WithIndex(index),
			es.Search.WithBody(strings.NewReader(`{"query":{"ids":{"values":["`+id+`"]}}}`)))
		if err == nil {
			body, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if strings.Contains(string(body), `"_id":"`+id+`"`) {
				break
			}
		}
		time.Sleep(searchPoll)
	}
	return get, time.Since(t0)
}
