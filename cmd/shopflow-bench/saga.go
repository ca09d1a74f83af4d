package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/shopflow/shopflow/api"
	"github.com/shopflow/shopflow/domain/order"
	"github.com/shopflow/shopflow/eventstore"
	"github.com/shopflow/shopflow/internal/command"
	"github.com/shopflow/shopflow/internal/health"
	"github.com/shopflow/shopflow/internal/kafka"
	"github.com/shopflow/shopflow/sagas"
)

// Saga benchmark settings.
const (
	// sagaDefaultRate is the paced order rate unless -rate is given: the target is
	// a settlement p99 within sagaTargetP99 at this rate.
	sagaDefaultRate = 200
	sagaTargetP99   = 500 // ms
	sagaProducts    = 50
	sagaCustomers   = 200
	writeAPIWorkers = 16
)

// benchSaga measures the order saga end to end on the real servers: orders placed through
// the PlaceOrder handler at a paced rate, settled by the three relays and reactors, timed
// until Kafka acknowledged the order's settling event (its version 2: OrderConfirmed). It
// reports the sustained settlement rate against the offered rate and the p50/p99
// settlement latency against the p99 target. Then it compares the write API's
// POST /v1/orders throughput (HTTP, echo, problem+json stack) with calling the handler
// directly, each on a fresh database.
func benchSaga(ctx context.Context, o options) error {
	o.rate = sagaRate(o)
	rig, err := newSagaRig(ctx, o)
	if err != nil {
		return err
	}
	lat, rate, err := rig.run(ctx, o)
	rig.close()
	if err != nil {
		return err
	}
	name := fmt.Sprintf("saga_%dps", o.rate)
	report(name+"_throughput", rate, "orders/s", float64(o.rate))
	report(name+"_settle_p50", percentile(lat, 50), "ms", sagaTargetP99)
	report(name+"_settle_p99", percentile(lat, 99), "ms", sagaTargetP99)
	return benchWriteAPI(ctx, o)
}

// sagaRate is -rate when given, else sagaDefaultRate (the other benchmarks' default rate
// is an event rate, far above an order rate).
func sagaRate(o options) int {
	rate := sagaDefaultRate
	flag.Visit(func(f *flag.Flag) {
		if f.Name == "rate" {
			rate = o.rate
		}
	})
	return rate
}

// sagaRig is the whole saga on fresh databases and topics.
type sagaRig struct {
	cleanups  []func()
	stores    map[string]*eventstore.Store
	pools     map[string]*pgxpool.Pool
	cfg       sagas.Config
	place     *command.PlaceOrderHandler
	products  []string
	customers []string
	settled   sync.Map // order id → time its settling event was acknowledged
	catalogue sagaCatalogue
	registry  *prometheus.Registry // the reactors' metrics
}

// sagaCatalogue is how many products and customers a rig registers.
type sagaCatalogue struct{ products, customers int }

func newSagaRig(ctx context.Context, o options) (*sagaRig, error) {
	return newSagaRigOf(ctx, o, sagaCatalogue{sagaProducts, sagaCustomers})
}

// newSagaRigOf is newSagaRig with another catalogue.
func newSagaRigOf(ctx context.Context, o options, c sagaCatalogue) (*sagaRig, error) {
	r := &sagaRig{stores: map[string]*eventstore.Store{}, pools: map[string]*pgxpool.Pool{}, catalogue: c,
		registry: prometheus.NewRegistry()}
	if err := r.setup(ctx, o); err != nil {
		r.close()
		return nil, err
	}
	return r, nil
}

// close stops everything, in reverse order of setup.
func (r *sagaRig) close() {
	for i := len(r.cleanups) - 1; i >= 0; i-- {
		r.cleanups[i]()
	}
}

func (r *sagaRig) setup(ctx context.Context, o options) error {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	r.cfg = sagas.Config{Brokers: o.cfg.KafkaBrokers, Log: slog.Default(), Metrics: sagas.NewMetrics(r.registry)}
	for _, c := range []string{sagas.Orders, sagas.Inventory, sagas.Payments} {
		if err := r.database(ctx, o, c); err != nil {
			return err
		}
		if err := r.topics(ctx, o, c); err != nil {
			return err
		}
		if err := r.preloadHistory(ctx, o.history, c); err != nil {
			return err
		}
	}
	for _, c := range []string{sagas.Orders, sagas.Inventory, sagas.Payments} {
		if err := r.startRelay(ctx, o, c, log); err != nil {
			return err
		}
	}
	if err := r.startReactors(ctx); err != nil {
		return err
	}
	return r.seed(ctx)
}

// database creates a context's fresh database and store.
func (r *sagaRig) database(ctx context.Context, o options, c string) error {
	pool, drop, err := freshDatabase(ctx, o, 24)
	if err != nil {
		return err
	}
	store := eventstore.New(pool)
	r.cleanups = append(r.cleanups, drop, store.Close)
	r.pools[c], r.stores[c] = pool, store
	return nil
}

// topics creates a context's events and dead-letter topics and names its group.
func (r *sagaRig) topics(ctx context.Context, o options, c string) error {
	events, dropEvents, err := freshTopic(ctx, o, "bench_saga_"+c)
	if err != nil {
		return err
	}
	r.cleanups = append(r.cleanups, dropEvents)
	dlt, dropDLT, err := freshTopic(ctx, o, "bench_saga_dlt_"+c)
	if err != nil {
		return err
	}
	r.cleanups = append(r.cleanups, dropDLT)
	cc := sagas.ContextConfig{EventsTopic: events, DeadLetterTopic: dlt, Group: randomName("bench_saga_" + c)}
	switch c {
	case sagas.Orders:
		r.cfg.Orders = cc
	case sagas.Inventory:
		r.cfg.Inventory = cc
	default:
		r.cfg.Payments = cc
	}
	return nil
}

// startRelay runs a context's relay; the orders relay notes when settling events are
// acknowledged.
func (r *sagaRig) startRelay(ctx context.Context, o options, c string, log *slog.Logger) error {
	producer, err := kafka.NewClient(o.cfg.KafkaBrokers, append(eventstore.RelayProducerOpts(), kafka.Tracing(""))...) // as serve's
	if err != nil {
		return err
	}
	cfg := eventstore.RelayConfig{Topic: r.topic(c), Log: log}
	if c == sagas.Orders {
		cfg.OnPublished = r.notePublished
	}
	relay, err := eventstore.NewRelay(r.pools[c], producer, cfg)
	if err != nil {
		producer.Close()
		return err
	}
	r.goUntilClose(ctx, func(ctx context.Context) { _ = relay.Run(ctx) })
	r.cleanups = append(r.cleanups, producer.Close)
	return nil
}

// notePublished records the first acknowledgement of each order's version 2.
func (r *sagaRig) notePublished(batch []eventstore.Published) {
	now := time.Now()
	for _, e := range batch {
		if id, ok := strings.CutPrefix(e.StreamID, order.AggregateType+"-"); ok && e.Version == 2 {
			r.settled.LoadOrStore(id, now)
		}
	}
}

func (r *sagaRig) topic(c string) string {
	switch c {
	case sagas.Orders:
		return r.cfg.Orders.EventsTopic
	case sagas.Inventory:
		return r.cfg.Inventory.EventsTopic
	}
	return r.cfg.Payments.EventsTopic
}

// goUntilClose runs fn until the rig closes.
func (r *sagaRig) goUntilClose(ctx context.Context, fn func(context.Context)) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); fn(ctx) }()
	r.cleanups = append(r.cleanups, func() { cancel(); <-done })
}

func (r *sagaRig) startReactors(ctx context.Context) error {
	inv, err1 := sagas.NewInventoryReactor(r.cfg, r.stores[sagas.Inventory])
	pay, err2 := sagas.NewPaymentsReactor(r.cfg, r.stores[sagas.Payments])
	ord, err3 := sagas.NewOrdersReactor(r.cfg, r.stores[sagas.Orders], r.pools[sagas.Orders])
	if err := errors.Join(err1, err2, err3); err != nil {
		return err
	}
	for _, reactor := range []*sagas.Reactor{inv, pay, ord} {
		r.goUntilClose(ctx, func(ctx context.Context) { _ = reactor.Run(ctx) })
	}
	return nil
}

// seed registers products with ample stock and customers with ample funds, then settles a
// few orders so that every consumer group has joined before the timed phase.
func (r *sagaRig) seed(ctx context.Context) error {
	var err error
	if r.place, err = command.NewPlaceOrderHandler(r.stores[sagas.Orders], command.Config{}); err != nil {
		return err
	}
	if r.products, err = seedProducts(ctx, r.stores[sagas.Inventory], r.catalogue.products); err != nil {
		return err
	}
	if r.customers, err = seedCustomers(ctx, r.stores[sagas.Payments], r.catalogue.customers); err != nil {
		return err
	}
	ids := make([]string, 20)
	for i := range ids {
		if ids[i], err = r.placeOrder(ctx, i); err != nil {
			return err
		}
	}
	return r.waitSettled(ctx, ids, time.Minute)
}

func seedProducts(ctx context.Context, store *eventstore.Store, n int) ([]string, error) {
	h, err := command.NewRegisterProductHandler(store, command.Config{})
	if err != nil {
		return nil, err
	}
	ids := make([]string, n)
	for i := range ids {
		res, err := h.Handle(ctx, command.RegisterProduct{SKU: fmt.Sprintf("SKU-%d", i), Name: "Bench product",
			PriceCents: int64(100 + i*10), Currency: "EUR", InitialStock: 1_000_000_000}, command.Options{})
		if err != nil {
			return nil, err
		}
		ids[i] = res.ID
	}
	return ids, nil
}

func seedCustomers(ctx context.Context, store *eventstore.Store, n int) ([]string, error) {
	open, err1 := command.NewOpenAccountHandler(store, command.Config{})
	deposit, err2 := command.NewDepositFundsHandler(store, command.Config{})
	if err := errors.Join(err1, err2); err != nil {
		return nil, err
	}
	ids := make([]string, n)
	for i := range ids {
		res, err := open.Handle(ctx, command.OpenAccount{Name: "Bench", Email: fmt.Sprintf("c%d@bench.test", i)}, command.Options{})
		if err != nil {
			return nil, err
		}
		if _, err := deposit.Handle(ctx, command.DepositFunds{CustomerID: res.ID, AmountCents: 1_000_000_000_000}, command.Options{}); err != nil {
			return nil, err
		}
		ids[i] = res.ID
	}
	return ids, nil
}

// placeOrder places the i-th order: one or two lines of random products.
func (r *sagaRig) placeOrder(ctx context.Context, i int) (string, error) {
	lines := []order.Line{{ProductID: r.products[rand.IntN(len(r.products))], Quantity: 1}}
	if i%2 == 1 {
		if p := r.products[rand.IntN(len(r.products))]; p != lines[0].ProductID {
			lines = append(lines, order.Line{ProductID: p, Quantity: 2})
		}
	}
	res, err := r.place.Handle(ctx, command.PlaceOrder{CustomerID: r.customers[i%len(r.customers)], Lines: lines}, command.Options{})
	return res.ID, err
}

// run places orders at o.rate for o.duration and waits for them to settle. It returns
// each order's settlement latency and the sustained rate: orders settled per second from
// the first placement to the last settlement.
func (r *sagaRig) run(ctx context.Context, o options) ([]time.Duration, float64, error) {
	var mu sync.Mutex
	placed := map[string]time.Time{}
	var seq atomic.Int64
	start := time.Now()
	err := paced(ctx, o, func(_, _ int) error {
		t0 := time.Now()
		id, err := r.placeOrder(ctx, int(seq.Add(1)))
		mu.Lock()
		placed[id] = t0
		mu.Unlock()
		return err
	})
	if err != nil {
		return nil, 0, err
	}
	ids := make([]string, 0, len(placed))
	for id := range placed {
		ids = append(ids, id)
	}
	if err := r.waitSettled(ctx, ids, 2*time.Minute); err != nil {
		return nil, 0, err
	}
	lat := make([]time.Duration, 0, len(placed))
	var last time.Time
	for id, t0 := range placed {
		v, _ := r.settled.Load(id)
		at := v.(time.Time)
		lat = append(lat, at.Sub(t0))
		if at.After(last) {
			last = at
		}
	}
	return lat, float64(len(placed)) / last.Sub(start).Seconds(), nil
}

// waitSettled waits until every order's settling event was acknowledged.
func (r *sagaRig) waitSettled(ctx context.Context, ids []string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for _, id := range ids {
		for {
			if _, ok := r.settled.Load(id); ok {
				break
			}
			if time.Now().After(deadline) || ctx.Err() != nil {
				return fmt.Errorf("order %s not settled after %v", id, timeout)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	return nil
}

// benchWriteAPI compares POST /v1/orders through the write API (httptest server, keep-alive
// client) with calling the PlaceOrder handler directly, writeAPIWorkers at a time for
// o.duration each, each on a fresh orders database.
func benchWriteAPI(ctx context.Context, o options) error {
	customer, product := "0193a1c4-6f1e-7b7a-9f55-3c2a1d9e8b71", "0193a1c4-6f1e-7b7a-9f55-3c2a1d9e8b72"
	cmd := command.PlaceOrder{CustomerID: customer, Lines: []order.Line{{ProductID: product, Quantity: 2}}}
	direct, err := runPlaceOrders(ctx, o, func(place *command.PlaceOrderHandler, _ *eventstore.Store) (func() error, func(), error) {
		return func() error { _, err := place.Handle(ctx, cmd, command.Options{}); return err }, func() {}, nil
	})
	if err != nil {
		return fmt.Errorf("direct: %w", err)
	}
	viaHTTP, err := runPlaceOrders(ctx, o, httpPlaceOrder(ctx, customer, product))
	if err != nil {
		return fmt.Errorf("http: %w", err)
	}
	name := fmt.Sprintf("write_api_place_order_c%d", writeAPIWorkers)
	report(name+"_throughput", viaHTTP.rate, "orders/s", direct.rate)
	report(name+"_latency_p50", percentile(viaHTTP.lat, 50), "ms", percentile(direct.lat, 50))
	report(name+"_latency_p99", percentile(viaHTTP.lat, 99), "ms", percentile(direct.lat, 99))
	return nil
}

// placeFunc builds one place-order call on a database's handler, and its cleanup.
type placeFunc func(*command.PlaceOrderHandler, *eventstore.Store) (call func() error, cleanup func(), err error)

// httpPlaceOrder serves the write API on an httptest server and POSTs orders to it.
func httpPlaceOrder(ctx context.Context, customer, product string) placeFunc {
	body := fmt.Appendf(nil, `{"customer_id":%q,"lines":[{"product_id":%q,"quantity":2}]}`, customer, product)
	return func(place *command.PlaceOrderHandler, store *eventstore.Store) (func() error, func(), error) {
		e := api.New(benchAPI(api.Options{Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Health: health.NewChecker(0),
			Registry: prometheus.NewRegistry()}))
		if err := api.RegisterWriteRoutes(e, api.WriteHandlers{Orders: &api.OrderCommands{Keys: command.NewIdempotencyKeys(store), PlaceOrder: place}}); err != nil {
			return nil, nil, err
		}
		srv := httptest.NewServer(e)
		client := &http.Client{Transport: withToken(&http.Transport{MaxIdleConnsPerHost: writeAPIWorkers * 2})}
		call := func() error { return postOrder(ctx, client, srv.URL+"/v1/orders", body) }
		return call, srv.Close, nil
	}
}

// postOrder sends one POST /v1/orders and checks for 202 Accepted.
func postOrder(ctx context.Context, client *http.Client, url string, body []byte) error {
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
	var res struct{ ID string }
	if err := json.NewDecoder(resp.Body).Decode(&res); err != nil || resp.StatusCode != http.StatusAccepted || res.ID == "" {
		return fmt.Errorf("POST /v1/orders: %s (%v)", resp.Status, err)
	}
	return nil
}

// runPlaceOrders runs writeAPIWorkers loops of the call mk builds on a fresh database for
// o.duration and returns the rate and latencies.
func runPlaceOrders(ctx context.Context, o options, mk placeFunc) (appendResult, error) {
	pool, drop, err := freshDatabase(ctx, o, writeAPIWorkers+4)
	if err != nil {
		return appendResult{}, err
	}
	defer drop()
	store := eventstore.New(pool)
	defer store.Close()
	place, err := command.NewPlaceOrderHandler(store, command.Config{})
	if err != nil {
		return appendResult{}, err
	}
	call, cleanup, err := mk(place, store)
	if err != nil {
		return appendResult{}, err
	}
	defer cleanup()
	return timedLoops(o.duration, writeAPIWorkers, call)
}

// timedLoops runs call in n concurrent loops for d and returns the rate and latencies.
func timedLoops(d time.Duration, n int, call func() error) (appendResult, error) {
	lats := make([][]time.Duration, n)
	errs := make([]error, n)
	deadline := time.Now().Add(d)
	start := time.Now()
	var wg sync.WaitGroup
	for w := range n {
		wg.Go(func() {
			for time.Now().Before(deadline) {
				t0 := time.Now()
				if errs[w] = call(); errs[w] != nil {
					return
				}
				lats[w] = append(lats[w], time.Since(t0))
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	var all []time.Duration
	for w := range n {
		if errs[w] != nil {
			return appendResult{}, errs[w]
		}
		all = append(all, lats[w]...)
	}
	return appendResult{rate: float64(len(all)) / elapsed.Seconds(), lat: all}, nil
}
