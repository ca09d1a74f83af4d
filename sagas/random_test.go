package sagas_test

import (
	"errors"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/shopflow/shopflow/domain/order"
	"github.com/shopflow/shopflow/internal/command"
	"github.com/shopflow/shopflow/sagas"
)

// ledger is what a randomized run did, to check the end state against.
type ledger struct {
	mu        sync.Mutex
	initial   map[string]int64 // product → initial stock
	restocked map[string]int64
	deposited map[string]int64 // customer → deposits
	orders    []string
}

// TestSagaRandomized places a few hundred orders of random lines across many customers,
// mixed with cancellations, restocks and deposits from concurrent clients, with unknown
// customers and products now and then, and restarts the reactors twice on the way. Then
// every order is settled, stock never went negative and matches the confirmed orders,
// nothing was reserved, released, captured or refunded twice, and money is conserved:
// deposits − captured + refunded = balances. It runs with both consumer group protocols.
// The "flash" run adds skew and instances: half the orders want one hot product and
// half come from one hot customer, with two reactors per context sharing each group.
// SHOPFLOW_SAGA_SEED replays a seed.
func TestSagaRandomized(t *testing.T) {
	seed := uint64(20261125)
	if s := os.Getenv("SHOPFLOW_SAGA_SEED"); s != "" {
		seed = must(strconv.ParseUint(s, 10, 64))(t)
	}
	t.Logf("seed %d", seed)
	runs := []struct {
		name string
		opts worldOpts
		hot  bool
	}{
		{"classic", worldOpts{partitions: 3}, false},
		{"kip848", worldOpts{partitions: 3, serverSide: true}, false},
		{"flash", worldOpts{partitions: 3, replicas: 2}, true},
	}
	for _, run := range runs {
		t.Run(run.name, func(t *testing.T) {
			w := newWorld(t, run.opts)
			w.start()
			l, products, customers := w.seedRandom(rand.New(rand.NewPCG(seed, 1)))
			if run.hot {
				w.restockHot(l, products[0], 500)
			}
			w.runRandom(seed, l, products, customers, run.hot)
			for _, id := range l.orders {
				w.waitSettled(id)
			}
			w.waitQuiet()
			w.checkOrders(l)
			w.checkStock(l, products)
			w.checkMoney(l, customers)
			w.checkOnce()
		})
	}
}

// seedRandom registers 8 products and opens 25 accounts with random stock and funds.
func (w *world) seedRandom(rng *rand.Rand) (l *ledger, products, customers []string) {
	l = &ledger{initial: map[string]int64{}, restocked: map[string]int64{}, deposited: map[string]int64{}}
	for range 8 {
		stock := rng.Int64N(50) + 20
		id := w.newProduct(rng.Int64N(950)+50, stock)
		products, l.initial[id] = append(products, id), stock
	}
	for range 25 {
		deposit := rng.Int64N(3) * rng.Int64N(20_000)
		id := w.newCustomer(deposit)
		customers, l.deposited[id] = append(customers, id), deposit
	}
	return l, products, customers
}

// runRandom runs 4 concurrent clients until 300 orders are placed, restarting all
// reactors after a third of them and two of them after two thirds.
func (w *world) runRandom(seed uint64, l *ledger, products, customers []string, hot bool) {
	const total = 300
	var placed atomic.Int64
	var wg sync.WaitGroup
	for worker := range 4 {
		r := rand.New(rand.NewPCG(seed, uint64(worker)+2))
		wg.Go(func() {
			for placed.Load() < total {
				w.randomOp(r, l, products, customers, &placed, hot)
			}
		})
	}
	restarts := []struct {
		at       int64
		contexts []string
	}{{total / 3, contexts}, {2 * total / 3, []string{sagas.Inventory, sagas.Orders}}}
	for _, r := range restarts {
		eventually(w.t, time.Minute, "orders to be placed", func() bool { return placed.Load() >= r.at })
		w.stop(r.contexts...)
		time.Sleep(200 * time.Millisecond)
		w.start(r.contexts...)
	}
	wg.Wait()
}

// randomOp does one random client action.
func (w *world) randomOp(r *rand.Rand, l *ledger, products, customers []string, placed *atomic.Int64, hot bool) {
	t := w.t
	switch n := r.IntN(100); {
	case n < 60:
		id := w.randomOrder(r, products, customers, hot)
		l.mu.Lock()
		l.orders = append(l.orders, id)
		l.mu.Unlock()
		placed.Add(1)
	case n < 75:
		l.mu.Lock()
		var id string
		if len(l.orders) > 0 {
			id = l.orders[r.IntN(len(l.orders))]
		}
		l.mu.Unlock()
		if id == "" {
			return
		}
		if _, err := w.cancel.Handle(ctx(t), cancelOrder(id), noOpts); err != nil && !errors.Is(err, order.ErrNotCancellable) {
			t.Errorf("cancel %s: %v", id, err)
		}
	case n < 85:
		id, q := products[r.IntN(len(products))], r.Int64N(20)+1
		must(w.restock.Handle(ctx(t), command.RestockProduct{ProductID: id, Quantity: q}, noOpts))(t)
		l.mu.Lock()
		l.restocked[id] += q
		l.mu.Unlock()
	case n < 95:
		id, amount := customers[r.IntN(len(customers))], r.Int64N(5_000)+100
		must(w.deposit.Handle(ctx(t), command.DepositFunds{CustomerID: id, AmountCents: amount}, noOpts))(t)
		l.mu.Lock()
		l.deposited[id] += amount
		l.mu.Unlock()
	default:
		time.Sleep(5 * time.Millisecond)
	}
}

// randomOrder places an order of 1 to 3 random lines, now and then for an unknown
// customer or product. With hot, half the orders come from customers[0] and half hold
// products[0].
func (w *world) randomOrder(r *rand.Rand, products, customers []string, hot bool) string {
	customer := customers[r.IntN(len(customers))]
	if r.IntN(100) < 3 {
		customer = uuid.NewString()
	}
	perm := r.Perm(len(products))[:r.IntN(3)+1]
	if hot {
		if r.IntN(2) == 0 {
			customer = customers[0]
		}
		if r.IntN(2) == 0 && !slices.Contains(perm, 0) {
			perm[0] = 0
		}
	}
	var lines []any
	for _, i := range perm {
		p := products[i]
		if r.IntN(100) < 2 {
			p = uuid.NewString()
		}
		lines = append(lines, p, r.IntN(4)+1)
	}
	return w.newOrder(customer, lines...)
}

// restockHot adds stock to the hot product, so that it confirms many orders.
func (w *world) restockHot(l *ledger, product string, q int64) {
	must(w.restock.Handle(ctx(w.t), command.RestockProduct{ProductID: product, Quantity: q}, noOpts))(w.t)
	l.restocked[product] += q
}

// checkOrders checks that every order is settled and that the run exercised every
// outcome.
func (w *world) checkOrders(l *ledger) {
	t := w.t
	statuses, reasons := map[order.Status]int{}, map[order.Reason]int{}
	for _, id := range l.orders {
		o := w.order(id)
		statuses[o.Status()]++
		if o.Status() == order.StatusRejected {
			reasons[o.RejectReason()]++
		}
		if o.Status() == order.StatusPending {
			t.Errorf("order %s still pending", id)
		}
	}
	t.Logf("%d orders: %v; rejected for %v", len(l.orders), statuses, reasons)
	if statuses[order.StatusConfirmed] == 0 || statuses[order.StatusRejected] == 0 || statuses[order.StatusCancelled] == 0 {
		t.Errorf("a randomized run should confirm, reject and cancel orders: %v", statuses)
	}
}

// confirmed returns the confirmed orders of the run.
func (w *world) confirmed(l *ledger) []*order.Order {
	var out []*order.Order
	for _, id := range l.orders {
		if o := w.order(id); o.Status() == order.StatusConfirmed {
			out = append(out, o)
		}
	}
	return out
}

// checkStock checks that no product's stock is negative, that its units are conserved and
// that exactly the confirmed orders hold reservations.
func (w *world) checkStock(l *ledger, products []string) {
	held := map[string]int64{}
	for _, o := range w.confirmed(l) {
		for _, line := range o.PricedLines() {
			held[line.ProductID] += line.Quantity
		}
	}
	for _, id := range products {
		p, units := w.product(id), l.initial[id]+l.restocked[id]
		if p.Available() < 0 || p.Reserved() != held[id] || p.Available()+p.Reserved() != units {
			w.t.Errorf("product %s: %d available, %d reserved; confirmed orders hold %d of %d units",
				id, p.Available(), p.Reserved(), held[id], units)
		}
	}
}

// checkMoney checks each balance against the deposits and the confirmed orders, and
// deposits − captured + refunded = balances over all accounts.
func (w *world) checkMoney(l *ledger, customers []string) {
	charged := map[string]int64{}
	for _, o := range w.confirmed(l) {
		charged[o.CustomerID()] += o.TotalCents()
	}
	var deposits, balances int64
	for _, id := range customers {
		b := w.account(id).BalanceCents()
		deposits, balances = deposits+l.deposited[id], balances+b
		if b != l.deposited[id]-charged[id] || b < 0 {
			w.t.Errorf("customer %s: balance %d, deposited %d, confirmed orders %d", id, b, l.deposited[id], charged[id])
		}
	}
	sum := `SELECT coalesce(sum((payload->>'amount_cents')::bigint), 0) FROM events WHERE event_type = $1`
	captured, refunded := w.count(sagas.Payments, sum, "PaymentCaptured"), w.count(sagas.Payments, sum, "PaymentRefunded")
	if deposits-captured+refunded != balances {
		w.t.Errorf("money not conserved: deposits %d - captured %d + refunded %d != balances %d",
			deposits, captured, refunded, balances)
	}
}

// checkOnce checks that no stock was reserved or released twice for an order, and no
// order was charged, refunded or confirmed twice.
func (w *world) checkOnce() {
	w.wantOnce(sagas.Inventory, "StockReserved", "stream_id, payload->>'order_id'")
	w.wantOnce(sagas.Inventory, "StockReleased", "stream_id, payload->>'order_id'")
	w.wantOnce(sagas.Payments, "PaymentCaptured", "payload->>'order_id'")
	w.wantOnce(sagas.Payments, "PaymentRefunded", "payload->>'order_id'")
	w.wantOnce(sagas.Orders, "OrderConfirmed", "payload->>'order_id'")
}

// wantOnce checks that no key holds an event type twice.
func (w *world) wantOnce(c, eventType, key string) {
	w.t.Helper()
	n := w.count(c, `SELECT count(*) FROM (SELECT 1 FROM events WHERE event_type = $1 GROUP BY `+key+` HAVING count(*) > 1) d`, eventType)
	if n != 0 {
		w.t.Errorf("%d %s recorded twice for the same key", n, eventType)
	}
}
