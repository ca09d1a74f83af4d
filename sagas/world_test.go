package sagas_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/shopflow/shopflow/domain/inventory"
	"github.com/shopflow/shopflow/domain/order"
	"github.com/shopflow/shopflow/domain/payment"
	"github.com/shopflow/shopflow/eventstore"
	"github.com/shopflow/shopflow/internal/command"
	"github.com/shopflow/shopflow/internal/kafka"
	"github.com/shopflow/shopflow/internal/testenv"
	"github.com/shopflow/shopflow/sagas"
)

var contexts = []string{sagas.Orders, sagas.Inventory, sagas.Payments}

// db is one service database of a world.
type db struct {
	pool  *pgxpool.Pool
	store *eventstore.Store
	url   string
}

// world is the whole saga on the real servers: three fresh databases, fresh topics, one
// relay per database and (once started) one reactor per context.
type world struct {
	t        testing.TB
	cfg      sagas.Config
	reg      *prometheus.Registry
	dbs      map[string]db
	running  map[string][]func()
	replicas int
	mu       *sync.Mutex
	place    *command.PlaceOrderHandler
	cancel   *command.CancelOrderHandler
	register *command.RegisterProductHandler
	restock  *command.RestockProductHandler
	open     *command.OpenAccountHandler
	deposit  *command.DepositFundsHandler
	orders   *command.Repository[*order.Order]
	products *command.Repository[*inventory.Product]
	reserves *command.Repository[*inventory.OrderReservation]
	accounts *command.Repository[*payment.Account]
}

// worldOpts tune a world; zero values take small test defaults.
type worldOpts struct {
	partitions int32
	deadline   time.Duration
	// serverSide runs the reactors with the KIP-848 group protocol.
	serverSide bool
	// replicas is how many reactors start runs per context, sharing its group (default 1):
	// several instances of each service.
	replicas int
}

// logger writes warnings and errors of relays and reactors to stderr.
var logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))

// newWorld builds a world with its relays running and no reactor started.
func newWorld(t testing.TB, o worldOpts) *world {
	t.Helper()
	w := &world{t: t, dbs: map[string]db{}, running: map[string][]func(){}, mu: &sync.Mutex{}, reg: prometheus.NewRegistry(),
		replicas: max(o.replicas, 1)}
	for _, c := range contexts {
		w.dbs[c] = newDB(t)
	}
	partitions := o.partitions
	if partitions == 0 {
		partitions = 3
	}
	topics := testenv.Topics(t, partitions,
		"orders_events", "inventory_events", "payments_events", "orders_dlt", "inventory_dlt", "payments_dlt")
	w.cfg = sagas.Config{
		Brokers:      testenv.Config(t).KafkaBrokers,
		Orders:       sagas.ContextConfig{EventsTopic: topics[0], DeadLetterTopic: topics[3], Group: testenv.Name("orders_saga")},
		Inventory:    sagas.ContextConfig{EventsTopic: topics[1], DeadLetterTopic: topics[4], Group: testenv.Name("inventory_saga")},
		Payments:     sagas.ContextConfig{EventsTopic: topics[2], DeadLetterTopic: topics[5], Group: testenv.Name("payments_saga")},
		Deadline:     o.deadline,
		ScanInterval: 100 * time.Millisecond,
		Backoff:      20 * time.Millisecond,
		MaxBackoff:   500 * time.Millisecond,
		Log:          logger,
		Metrics:      sagas.NewMetrics(w.reg),

		ServerSideAssignment: o.serverSide,
	}
	for _, c := range contexts {
		w.startRelay(c)
	}
	w.handlers()
	return w
}

// in returns the world for a subtest: the same servers and reactors, failing t.
func (w *world) in(t testing.TB) *world {
	c := *w
	c.t = t
	return &c
}

// newDB returns a fresh migrated database, closed and dropped when the test ends.
func newDB(t testing.TB) db {
	t.Helper()
	es := testenv.NewEventStore(t, "pool_max_conns=20")
	return db{pool: es.Pool, store: es.Store, url: es.URL}
}

// ctx returns a context that ends with the test (or after two minutes).
func ctx(t testing.TB) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return c
}

// must returns v, failing the test on err: must(f())(t).
func must[T any](v T, err error) func(testing.TB) T {
	return func(t testing.TB) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

// topic returns a context's events topic.
func (w *world) topic(c string) string {
	switch c {
	case sagas.Orders:
		return w.cfg.Orders.EventsTopic
	case sagas.Inventory:
		return w.cfg.Inventory.EventsTopic
	}
	return w.cfg.Payments.EventsTopic
}

// startRelay runs the relay of a context's database until the test ends.
func (w *world) startRelay(c string) {
	t := w.t
	producer := testenv.Kafka(t, append(eventstore.RelayProducerOpts(), kafka.Tracing(""))...) // as shopflow serve's
	relay, err := eventstore.NewRelay(w.dbs[c].pool, producer, eventstore.RelayConfig{Topic: w.topic(c), Log: logger})
	if err != nil {
		t.Fatal(err)
	}
	w.goUntilCleanup(func(ctx context.Context) { _ = relay.Run(ctx) })
}

// goUntilCleanup runs fn until the returned stop is called or the test ends.
func (w *world) goUntilCleanup(fn func(context.Context)) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); fn(ctx) }()
	var once sync.Once
	stop = func() { once.Do(func() { cancel(); <-done }) }
	w.t.Cleanup(stop)
	return stop
}

// newReactor builds the reactor of a context with cfg.
func (w *world) newReactor(c string, cfg sagas.Config) *sagas.Reactor {
	w.t.Helper()
	d := w.dbs[c]
	r, err := sagas.NewReactor(c, cfg, d.store, d.pool)
	if err != nil {
		w.t.Fatal(err)
	}
	return r
}

// start runs the reactors of the given contexts (all when none is given).
func (w *world) start(cs ...string) {
	if len(cs) == 0 {
		cs = contexts
	}
	for _, c := range cs {
		for range w.replicas {
			w.startWith(c, w.cfg)
		}
	}
}

// startWith runs a reactor built with cfg; stop(c) stops it.
func (w *world) startWith(c string, cfg sagas.Config) {
	r := w.newReactor(c, cfg)
	stop := w.goUntilCleanup(func(ctx context.Context) {
		if err := r.Run(ctx); err != nil {
			w.t.Errorf("%s reactor: %v", c, err)
		}
	})
	w.mu.Lock()
	defer w.mu.Unlock()
	w.running[c] = append(w.running[c], stop)
}

// stop stops the reactors of the given contexts (all when none is given).
func (w *world) stop(cs ...string) {
	if len(cs) == 0 {
		cs = contexts
	}
	for _, c := range cs {
		w.mu.Lock()
		stops := w.running[c]
		delete(w.running, c)
		w.mu.Unlock()
		for _, stop := range stops {
			stop()
		}
	}
}

// handlers builds the command handlers and repositories of the three databases.
func (w *world) handlers() {
	t, cfg := w.t, command.Config{MaxAttempts: 50}
	inv, pay, ord := w.dbs[sagas.Inventory].store, w.dbs[sagas.Payments].store, w.dbs[sagas.Orders].store
	w.place = must(command.NewPlaceOrderHandler(ord, cfg))(t)
	w.cancel = must(command.NewCancelOrderHandler(ord, cfg))(t)
	w.register = must(command.NewRegisterProductHandler(inv, cfg))(t)
	w.restock = must(command.NewRestockProductHandler(inv, cfg))(t)
	w.open = must(command.NewOpenAccountHandler(pay, cfg))(t)
	w.deposit = must(command.NewDepositFundsHandler(pay, cfg))(t)
	w.orders = must(command.NewRepository(ord, command.OrderType(), cfg))(t)
	w.products = must(command.NewRepository(inv, command.ProductType(), cfg))(t)
	w.reserves = must(command.NewRepository(inv, command.ReservationType(), cfg))(t)
	w.accounts = must(command.NewRepository(pay, command.AccountType(), cfg))(t)
}

// newProduct registers a product and returns its id.
func (w *world) newProduct(price, stock int64) string {
	w.t.Helper()
	res := must(w.register.Handle(ctx(w.t), command.RegisterProduct{
		SKU: testenv.Name("sku"), Name: "Product", PriceCents: price, Currency: "EUR", InitialStock: stock,
	}, command.Options{}))(w.t)
	return res.ID
}

// newCustomer opens an account with a deposit (none if 0) and returns its id.
func (w *world) newCustomer(deposit int64) string {
	w.t.Helper()
	res := must(w.open.Handle(ctx(w.t), command.OpenAccount{Name: "Ada", Email: testenv.Name("ada") + "@example.com"}, command.Options{}))(w.t)
	if deposit > 0 {
		must(w.deposit.Handle(ctx(w.t), command.DepositFunds{CustomerID: res.ID, AmountCents: deposit}, command.Options{}))(w.t)
	}
	return res.ID
}

// newOrder places an order of (product, quantity) pairs and returns its id.
func (w *world) newOrder(customer string, lines ...any) string {
	w.t.Helper()
	var ls []order.Line
	for i := 0; i+1 < len(lines); i += 2 {
		ls = append(ls, order.Line{ProductID: lines[i].(string), Quantity: int64(lines[i+1].(int))})
	}
	return must(w.place.Handle(ctx(w.t), command.PlaceOrder{CustomerID: customer, Lines: ls}, command.Options{}))(w.t).ID
}

// order loads an order.
func (w *world) order(id string) *order.Order {
	w.t.Helper()
	return must(w.orders.Load(ctx(w.t), id))(w.t)
}

// product loads a product.
func (w *world) product(id string) *inventory.Product {
	w.t.Helper()
	return must(w.products.Load(ctx(w.t), id))(w.t)
}

// account loads an account.
func (w *world) account(id string) *payment.Account {
	w.t.Helper()
	return must(w.accounts.Load(ctx(w.t), id))(w.t)
}

// payment loads the payment of an order (its stream "order_payment-<order id>").
func (w *world) payment(orderID string) *payment.OrderPayment {
	w.t.Helper()
	payments := must(command.NewRepository(w.dbs[sagas.Payments].store, command.OrderPaymentType(), command.Config{}))(w.t)
	return must(payments.Load(ctx(w.t), orderID))(w.t)
}

// eventually polls cond every 20 ms until it holds, failing the test after timeout.
func eventually(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitStatus waits until an order has the status.
func (w *world) waitStatus(id string, status order.Status) *order.Order {
	w.t.Helper()
	var o *order.Order
	eventually(w.t, 30*time.Second, fmt.Sprintf("order %s %s", id, status), func() bool {
		o = w.order(id)
		return o.Status() == status
	})
	return o
}

// waitSettled waits until an order is no longer pending.
func (w *world) waitSettled(id string) *order.Order {
	w.t.Helper()
	var o *order.Order
	eventually(w.t, 45*time.Second, "order "+id+" settled", func() bool {
		o = w.order(id)
		return o.Status() != order.StatusPending
	})
	return o
}

// group is a consumer group and the context whose reactor it runs.
type group struct{ name, context string }

// groups returns the world's three reactor groups.
func (w *world) groups() []group {
	return []group{{w.cfg.Orders.Group, sagas.Orders}, {w.cfg.Inventory.Group, sagas.Inventory},
		{w.cfg.Payments.Group, sagas.Payments}}
}

// waitQuiet waits until every event is published and every given group (default: the
// world's) has committed the end of the topics it consumes: the saga has nothing left to
// do.
func (w *world) waitQuiet(groups ...group) {
	w.t.Helper()
	if len(groups) == 0 {
		groups = w.groups()
	}
	adm := kadm.NewClient(testenv.Kafka(w.t))
	calm := 0
	eventually(w.t, 60*time.Second, "the saga to be quiet", func() bool {
		if w.quiet(adm, groups) {
			calm++
		} else {
			calm = 0
		}
		return calm >= 3
	})
}

// quiet reports whether each database's events were all published and each group
// committed the end of every partition it consumes.
func (w *world) quiet(adm *kadm.Client, groups []group) bool {
	c := ctx(w.t)
	ends, err := adm.ListEndOffsets(c, w.topic(sagas.Orders), w.topic(sagas.Inventory), w.topic(sagas.Payments))
	if err != nil || ends.Error() != nil {
		return false
	}
	for _, name := range contexts {
		var published int64
		for _, o := range ends[w.topic(name)] {
			published += o.Offset
		}
		if published < w.count(name, `SELECT count(*) FROM events`) {
			return false
		}
	}
	for _, g := range groups {
		committed, err := adm.FetchOffsets(c, g.name)
		if err != nil || committed.Error() != nil {
			return false
		}
		behind := false
		ends.Each(func(o kadm.ListedOffset) {
			if o.Offset == 0 || o.Topic == w.topic(g.context) {
				return
			}
			if cm, ok := committed.Lookup(o.Topic, o.Partition); !ok || cm.At < o.Offset {
				behind = true
			}
		})
		if behind {
			return false
		}
	}
	return true
}

// count returns a count(*) query's result in a context's database.
func (w *world) count(c, query string, args ...any) int64 {
	w.t.Helper()
	var n int64
	if err := w.dbs[c].pool.QueryRow(ctx(w.t), query, args...).Scan(&n); err != nil {
		w.t.Fatal(err)
	}
	return n
}

// snapshot counts the events and inbox rows of every database.
func (w *world) snapshot() map[string]int64 {
	s := map[string]int64{}
	for _, c := range contexts {
		s[c+".events"] = w.count(c, `SELECT count(*) FROM events`)
		s[c+".inbox"] = w.count(c, `SELECT count(*) FROM inbox`)
	}
	return s
}

// copyTopic re-produces every record of a topic (up to its current end) to the same
// topic, with the same key, value and headers: a duplicate of every message.
func (w *world) copyTopic(topic string) int {
	t := w.t
	t.Helper()
	adm := kadm.NewClient(testenv.Kafka(t))
	ends := must(adm.ListEndOffsets(ctx(t), topic))(t)
	want := 0
	ends.Each(func(o kadm.ListedOffset) { want += int(o.Offset) })
	cl := testenv.Kafka(t, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	var recs []*kgo.Record
	for len(recs) < want {
		f := cl.PollFetches(ctx(t))
		if err := f.Err0(); err != nil {
			t.Fatal(err)
		}
		f.EachRecord(func(r *kgo.Record) {
			recs = append(recs, &kgo.Record{Topic: topic, Key: r.Key, Value: r.Value, Headers: r.Headers})
		})
	}
	producer := testenv.Kafka(t, eventstore.ProducerOpts()...)
	if err := producer.ProduceSync(ctx(t), recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	return len(recs)
}

// noOpts are empty command options.
var noOpts = command.Options{}

// cancelOrder is the command cancelling an order.
func cancelOrder(id string) command.CancelOrder { return command.CancelOrder{OrderID: id} }
