package console_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/elastic/go-elasticsearch/v8"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/shopflow/shopflow/api"
	"github.com/shopflow/shopflow/console"
	"github.com/shopflow/shopflow/eventstore"
	"github.com/shopflow/shopflow/internal/auth"
	"github.com/shopflow/shopflow/internal/command"
	"github.com/shopflow/shopflow/internal/elastic"
	"github.com/shopflow/shopflow/internal/health"
	"github.com/shopflow/shopflow/internal/kafka"
	"github.com/shopflow/shopflow/internal/testenv"
	"github.com/shopflow/shopflow/projections"
	"github.com/shopflow/shopflow/sagas"
)

// stack is a whole Shopflow of one test on the real servers, wired as `shopflow serve`
// wires it but isolated: three fresh databases, fresh topics, consumer groups and index
// names; relays, reactors and projection workers running; the write, read and admin APIs
// and the console served on a loopback port.
type stack struct {
	t   testing.TB
	URL string
	// Signer is the stack's token issuer; Token holds every staff scope and admin.
	Signer   *auth.Signer
	Token    string
	Stores   map[string]testenv.EventStore
	Saga     sagas.Config
	Producer *kgo.Client
	Service  *console.Service
}

var quiet = slog.New(slog.DiscardHandler)

var contextNames = []string{sagas.Orders, sagas.Inventory, sagas.Payments}

// newStack starts a stack; everything stops before the servers' resources are removed.
func newStack(t testing.TB) *stack {
	t.Helper()
	s := &stack{t: t, Stores: map[string]testenv.EventStore{}}
	for _, c := range contextNames {
		s.Stores[c] = testenv.NewEventStore(t, "pool_max_conns=20")
	}
	es := testenv.Elastic(t)
	topics := testenv.Topics(t, 3, "orders.events", "inventory.events", "payments.events",
		"orders.dlt", "inventory.dlt", "payments.dlt", "projections.dlt")
	brokers := testenv.Config(t).KafkaBrokers
	admin := testenv.Kafka(t)
	s.Producer = testenv.Kafka(t, eventstore.ProducerOpts()...)
	reg := prometheus.NewRegistry()
	s.Saga = sagas.Config{Brokers: brokers, ScanInterval: 200 * time.Millisecond, Backoff: 20 * time.Millisecond,
		MaxBackoff: 500 * time.Millisecond, Log: quiet, Metrics: sagas.NewMetrics(reg),
		Orders:    sagas.ContextConfig{EventsTopic: topics[0], DeadLetterTopic: topics[3], Group: testenv.Name("orders_saga")},
		Inventory: sagas.ContextConfig{EventsTopic: topics[1], DeadLetterTopic: topics[4], Group: testenv.Name("inventory_saga")},
		Payments:  sagas.ContextConfig{EventsTopic: topics[2], DeadLetterTopic: topics[5], Group: testenv.Name("payments_saga")},
	}
	pmetrics, err := projections.NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	pcfg := projections.Config{Brokers: brokers, IndexPrefix: testenv.Index(t, es, "console") + "_",
		OrdersTopic: topics[0], InventoryTopic: topics[1], PaymentsTopic: topics[2], DeadLetterTopic: topics[6],
		GroupPrefix: testenv.Name("console_proj") + ".", FlushInterval: 20 * time.Millisecond, DeleteGrace: 200 * time.Millisecond,
		Log: quiet, Metrics: pmetrics, Changes: projections.NewChanges()}

	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	t.Cleanup(func() { cancel(); wg.Wait() }) // before the databases and topics go
	run := func(name string, fn func(context.Context) error) {
		wg.Go(func() {
			if err := fn(ctx); err != nil && ctx.Err() == nil {
				t.Errorf("%s: %v", name, err)
			}
		})
	}
	relayMetrics := eventstore.NewRelayMetricVecs(reg)
	ccfg := console.Config{Brokers: brokers, Kafka: admin, ES: es, Projections: pcfg, Metrics: reg, Log: quiet,
		TraceUIURL: "http://127.0.0.1:16686", SampleEvery: 500 * time.Millisecond}
	for i, c := range contextNames {
		st := s.Stores[c]
		producer := testenv.Kafka(t, eventstore.RelayProducerOpts()...)
		relay, err := eventstore.NewRelay(st.Pool, producer, eventstore.RelayConfig{Topic: topics[i], Log: quiet, Metrics: relayMetrics.For(c)})
		if err != nil {
			t.Fatal(err)
		}
		run("relay "+c, relay.Run)
		reactor, err := sagas.NewReactor(c, s.Saga, st.Store, st.Pool)
		if err != nil {
			t.Fatal(err)
		}
		run("reactor "+c, reactor.Run)
		ccfg.Contexts = append(ccfg.Contexts, console.Context{Name: c, Store: st.Store, EventsTopic: topics[i],
			DeadLetterTopic: topics[3+i], ReactorGroup: s.sagaGroup(c)})
	}
	for _, name := range projections.Names() {
		w, err := projections.NewWorker(name, es, pcfg)
		if err != nil {
			t.Fatal(err)
		}
		run("projection "+name, w.Run)
	}
	checker := health.NewChecker(2 * time.Second)
	for _, c := range contextNames {
		checker.Add("postgres_"+c, s.Stores[c].Pool.Ping)
	}
	checker.Add("kafka", func(ctx context.Context) error { return kafka.Ping(ctx, admin) })
	checker.Add("elasticsearch", func(ctx context.Context) error { _, err := elastic.Health(ctx, es); return err })
	ccfg.Health = checker
	if s.Service, err = console.New(ccfg); err != nil {
		t.Fatal(err)
	}
	run("console", s.Service.Run)
	s.serve(checker, reg, es, pcfg)
	return s
}

func (s *stack) sagaGroup(c string) string {
	switch c {
	case sagas.Orders:
		return s.Saga.Orders.Group
	case sagas.Inventory:
		return s.Saga.Inventory.Group
	}
	return s.Saga.Payments.Group
}

// serve starts the HTTP server: write, read and admin routes and the console pages.
func (s *stack) serve(checker *health.Checker, reg *prometheus.Registry, es *elasticsearch.Client, pcfg projections.Config) {
	t := s.t
	var err error
	if s.Signer, err = auth.NewSigner(); err != nil {
		t.Fatal(err)
	}
	verifier, err := s.Signer.Verifier(context.Background(), auth.Config{Issuer: auth.LocalIssuer, Audience: auth.DefaultAudience})
	if err != nil {
		t.Fatal(err)
	}
	s.Token = s.token(auth.ScopeCatalog, auth.ScopePayments, auth.ScopeOrders, auth.ScopeRead, auth.ScopeAdmin)
	e := api.New(api.Options{Log: quiet, Health: checker, Registry: reg, Auth: verifier})
	h, err := writeHandlers(s.Stores)
	if err != nil {
		t.Fatal(err)
	}
	if err := api.RegisterWriteRoutes(e, h); err != nil {
		t.Fatal(err)
	}
	reader, err := projections.NewReader(es, pcfg)
	if err != nil {
		t.Fatal(err)
	}
	api.RegisterReadRoutes(e, reader)
	pages, err := console.NewPages(s.Service, api.AdminAccessNote)
	if err != nil {
		t.Fatal(err)
	}
	api.RegisterAdminRoutes(e, s.Service, pages)
	srv := httptest.NewServer(e)
	t.Cleanup(srv.Close)
	s.URL = srv.URL
}

// token mints a token of the stack's issuer with the given scopes.
func (s *stack) token(scopes ...string) string {
	tok, err := s.Signer.Mint(auth.TokenSpec{Subject: "console-test", Scopes: scopes})
	if err != nil {
		s.t.Fatal(err)
	}
	return tok
}

// writeHandlers builds the command handlers as `shopflow serve` does.
func writeHandlers(stores map[string]testenv.EventStore) (api.WriteHandlers, error) {
	var cfg command.Config
	inv, pay, ord := stores[sagas.Inventory].Store, stores[sagas.Payments].Store, stores[sagas.Orders].Store
	reg, err1 := command.NewRegisterProductHandler(inv, cfg)
	restock, err2 := command.NewRestockProductHandler(inv, cfg)
	open, err3 := command.NewOpenAccountHandler(pay, cfg)
	deposit, err4 := command.NewDepositFundsHandler(pay, cfg)
	place, err5 := command.NewPlaceOrderHandler(ord, cfg)
	cancel, err6 := command.NewCancelOrderHandler(ord, cfg)
	return api.WriteHandlers{
		Inventory: &api.InventoryCommands{Keys: command.NewIdempotencyKeys(inv), RegisterProduct: reg, RestockProduct: restock},
		Payments:  &api.PaymentCommands{Keys: command.NewIdempotencyKeys(pay), OpenAccount: open, DepositFunds: deposit},
		Orders:    &api.OrderCommands{Keys: command.NewIdempotencyKeys(ord), PlaceOrder: place, CancelOrder: cancel},
	}, errors.Join(err1, err2, err3, err4, err5, err6)
}

// do sends a request to the stack and decodes a JSON answer into out (if not nil); it
// fails the test unless the status is want.
func (s *stack) do(method, path, body string, want int, out any, headers ...string) {
	s.t.Helper()
	req, err := http.NewRequest(method, s.URL+path, strings.NewReader(body))
	if err != nil {
		s.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+s.Token)
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode != want {
		s.t.Fatalf("%s %s: %d, want %d: %s", method, path, res.StatusCode, want, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			s.t.Fatalf("%s %s: %v: %s", method, path, err, b)
		}
	}
}

// id is a command answer.
type id struct {
	ID      string `json:"id"`
	Version int64  `json:"version"`
}

// product registers a product with stock and returns its id.
func (s *stack) product(sku string, stock int64) string {
	var r id
	s.do("POST", "/v1/products", fmt.Sprintf(`{"sku":%q,"name":"Console %s","price_cents":1250,"currency":"EUR","initial_stock":%d}`, sku, sku, stock), 201, &r)
	return r.ID
}

// customer opens an account with a balance and returns its id.
func (s *stack) customer(name string, cents int64) string {
	var r id
	s.do("POST", "/v1/customers", fmt.Sprintf(`{"name":%q,"email":"%s@example.com"}`, name, strings.ToLower(name)), 201, &r)
	if cents > 0 {
		s.do("POST", "/v1/customers/"+r.ID+"/deposits", fmt.Sprintf(`{"amount_cents":%d}`, cents), 200, nil)
	}
	return r.ID
}

// order places an order of one line, in the W3C trace traceID, and returns its id.
func (s *stack) order(customer, product string, qty int64, traceID string) string {
	var r id
	s.do("POST", "/v1/orders", fmt.Sprintf(`{"customer_id":%q,"lines":[{"product_id":%q,"quantity":%d}]}`, customer, product, qty), 202, &r,
		"traceparent", "00-"+traceID+"-00f067aa0ba902b7-01")
	return r.ID
}

// settled waits until an order is no longer pending and returns its journey.
func (s *stack) settled(orderID string) console.Journey {
	s.t.Helper()
	var j console.Journey
	eventually(s.t, 60*time.Second, "order "+orderID+" settled", func() bool {
		s.do("GET", "/v1/orders/"+orderID+"/journey", "", 200, &j)
		return j.Status != "pending"
	})
	return j
}

// eventually polls cond every 100 ms until it holds or the time is up.
func eventually(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", within, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
