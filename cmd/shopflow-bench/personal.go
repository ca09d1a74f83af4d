package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/shopflow/shopflow/api"
	"github.com/shopflow/shopflow/domain/payment"
	"github.com/shopflow/shopflow/eventstore"
	"github.com/shopflow/shopflow/internal/command"
	"github.com/shopflow/shopflow/internal/elastic"
	"github.com/shopflow/shopflow/internal/health"
	"github.com/shopflow/shopflow/internal/pii"
	"github.com/shopflow/shopflow/projections"
	"github.com/shopflow/shopflow/projections/projectionstest"
)

// Shape of the personal_data projector backlog: customer-heavy, so that opening sealed data
// (one key read per AccountOpened) weighs as much as it can in a real shop's stream.
const (
	personalCustomers = 20_000
	personalOrders    = 20_000
	personalProducts  = 100
)

// benchPersonalData measures what sealing customers' personal data costs, sealing off (the
// baseline: name and email in clear, no key store) against on, in the same run:
//
//   - the write API's POST /v1/customers over HTTP (16 clients, a new email each): on, the
//     handler also creates the customer's key (one insert and one read of customer_keys)
//     and seals both fields;
//   - the three live projection workers over a customer-heavy backlog (20,000 accounts,
//     20,000 orders, ~100,000 events) until their groups committed it: on, the events carry
//     sealed data and the workers read each customer's key to open it.
//
// Runs go off, on, on, off (ABBA) and each side pools its runs, so that a machine getting
// busier or quieter weighs on both sides alike.
func benchPersonalData(ctx context.Context, o options) error {
	var openAccounts [2]pooled
	for _, on := range []bool{false, true, true, false} {
		r, err := runOpenAccounts(ctx, o, on)
		if err != nil {
			return fmt.Errorf("open accounts (sealing %v): %w", on, err)
		}
		openAccounts[boolInt(on)].add(r.lat, r.rate)
		quiesce(ctx, o)
	}
	name := fmt.Sprintf("personal_data_write_api_open_account_c%d", writeAPIWorkers)
	report(name+"_throughput", openAccounts[1].meanRate(), "accounts/s", openAccounts[0].meanRate())
	report(name+"_latency_p50", percentile(openAccounts[1].lat, 50), "ms", percentile(openAccounts[0].lat, 50))
	report(name+"_latency_p99", percentile(openAccounts[1].lat, 99), "ms", percentile(openAccounts[0].lat, 99))

	shop := projectionstest.NewShop(17)
	shop.Random(personalProducts, personalCustomers, personalOrders)
	var rates [2]float64
	for _, on := range []bool{false, true, true, false} {
		rate, err := runPersonalProjector(ctx, o, shop, on)
		if err != nil {
			return fmt.Errorf("projector (sealing %v): %w", on, err)
		}
		rates[boolInt(on)] += rate / 2
		quiesce(ctx, o)
	}
	report(fmt.Sprintf("personal_data_projector_%d_events", len(shop.Events)), rates[1], "events/s", rates[0])
	return nil
}

// runOpenAccounts serves the payments write API on a fresh database, sealing or not, and
// POSTs new customers to it for o.duration from writeAPIWorkers clients.
func runOpenAccounts(ctx context.Context, o options, sealing bool) (appendResult, error) {
	pool, drop, err := freshDatabase(ctx, o, writeAPIWorkers+4)
	if err != nil {
		return appendResult{}, err
	}
	defer drop()
	store := eventstore.New(pool)
	defer store.Close()
	var cfg command.Config
	if sealing {
		cfg.Keys = pii.NewStore(pool)
	}
	open, err := command.NewOpenAccountHandler(store, cfg)
	if err != nil {
		return appendResult{}, err
	}
	e := api.New(benchAPI(api.Options{Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Health: health.NewChecker(0),
		Registry: prometheus.NewRegistry()}))
	pay := &api.PaymentCommands{Keys: command.NewIdempotencyKeys(store), OpenAccount: open}
	if err := api.RegisterWriteRoutes(e, api.WriteHandlers{Payments: pay}); err != nil {
		return appendResult{}, err
	}
	srv := httptest.NewServer(e)
	defer srv.Close()
	client := &http.Client{Transport: withToken(&http.Transport{MaxIdleConnsPerHost: writeAPIWorkers * 2})}
	run := randomName("c")
	var n atomic.Int64
	return timedLoops(o.duration, writeAPIWorkers, func() error {
		body := fmt.Appendf(nil, `{"name":"Ada Lovelace","email":"%s-%d@example.com"}`, run, n.Add(1))
		return postCreated(ctx, client, srv.URL+"/v1/customers", body)
	})
}

// postCreated sends one POST and checks for 201 Created.
func postCreated(ctx context.Context, client *http.Client, url string, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusCreated {
		return fmt.Errorf("POST %s: %s %s", url, resp.Status, data)
	}
	return nil
}

// runPersonalProjector publishes the shop's events (sealed under fresh keys when sealing)
// to fresh topics, untimed, and returns the rate at which the live workers (opening sealed
// data with the key store when sealing) project them.
func runPersonalProjector(ctx context.Context, o options, shop *projectionstest.Shop, sealing bool) (float64, error) {
	es, err := elastic.NewClient(o.cfg.ElasticsearchURLs, o.cfg.Elasticsearch.Security())
	if err != nil {
		return 0, err
	}
	prefix := randomName("benchpii") + "_"
	b := &projectionBench{o: o, es: es, shop: shop, cfg: projections.Config{Brokers: o.cfg.KafkaBrokers, IndexPrefix: prefix,
		GroupPrefix: prefix, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}}
	defer func() {
		b.deleteGroups()
		if res, err := es.Indices.Delete([]string{prefix + "*"}); err == nil {
			res.Body.Close()
		}
	}()
	for _, t := range []*string{&b.cfg.OrdersTopic, &b.cfg.InventoryTopic, &b.cfg.PaymentsTopic, &b.cfg.DeadLetterTopic} {
		name, drop, err := freshTopic(ctx, o, "bench_pii")
		if err != nil {
			return 0, err
		}
		defer drop()
		*t = name
	}
	if sealing {
		pool, drop, err := freshDatabase(ctx, o, 8)
		if err != nil {
			return 0, err
		}
		defer drop()
		keys := pii.NewStore(pool)
		sealed, err := sealShop(ctx, shop, keys)
		if err != nil {
			return 0, err
		}
		b.shop, b.cfg.Keys = sealed, keys
	}
	if err := b.publish(ctx); err != nil {
		return 0, err
	}
	wctx, stop := context.WithCancel(ctx)
	defer stop()
	start := time.Now()
	done := make(chan error, 1)
	go func() { done <- projections.RunWorkers(wctx, b.es, b.cfg) }()
	if err := b.waitCaughtUp(ctx, done); err != nil {
		return 0, err
	}
	elapsed := time.Since(start)
	stop()
	if err := <-done; err != nil {
		return 0, err
	}
	return float64(len(shop.Events)) / elapsed.Seconds(), nil
}

// sealShop returns a copy of the shop whose AccountOpened events hold name and email sealed
// under a new key of each customer, created in keys (untimed).
func sealShop(ctx context.Context, shop *projectionstest.Shop, keys *pii.Store) (*projectionstest.Shop, error) {
	out := *shop
	out.Events = append([]eventstore.Envelope(nil), shop.Events...)
	for i, env := range out.Events {
		if env.EventType != payment.TypeAccountOpened {
			continue
		}
		var o payment.AccountOpened
		if err := json.Unmarshal(env.Payload, &o); err != nil {
			return nil, err
		}
		key, err := keys.Create(ctx, o.CustomerID)
		if err != nil {
			return nil, err
		}
		if o.Name, err = pii.Seal(key, o.CustomerID, pii.FieldName, o.Name); err != nil {
			return nil, err
		}
		if o.Email, err = pii.Seal(key, o.CustomerID, pii.FieldEmail, o.Email); err != nil {
			return nil, err
		}
		if out.Events[i].Payload, err = json.Marshal(o); err != nil {
			return nil, err
		}
	}
	return &out, nil
}
