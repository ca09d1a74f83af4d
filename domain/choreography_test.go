package domain_test

import (
	"reflect"
	"testing"
	"time"

	"github.com/shopflow/shopflow/domain"
	"github.com/shopflow/shopflow/domain/inventory"
	"github.com/shopflow/shopflow/domain/order"
	"github.com/shopflow/shopflow/domain/payment"
)

// world holds one aggregate per stream and plays the saga reactions of
// design.md as direct calls, so tests can deliver messages in any order and
// check the cross-context invariants: stock and money are conserved and
// every order ends final.
type world struct {
	t        testing.TB
	order    *order.Order
	res      *inventory.OrderReservation
	products map[string]*inventory.Product
	account  *payment.Account
	payment  *payment.OrderPayment
}

func newWorld(t testing.TB, balance int64) *world {
	t.Helper()
	w := &world{t: t, products: map[string]*inventory.Product{}}
	for id, price := range map[string]int64{"p1": 300, "p2": 50} {
		p, err := inventory.RegisterProduct(id, inventory.NewProduct{SKU: id, Name: id, PriceCents: price, Currency: "EUR", InitialStock: 10})
		must(t, err)
		w.products[id] = p
	}
	var err error
	w.account, err = payment.Open("c1", "Ada", "ada@example.com")
	must(t, err)
	if balance > 0 {
		must(t, w.account.Deposit(balance))
	}
	w.order, err = order.Place("o1", "c1", []order.Line{{ProductID: "p1", Quantity: 2}, {ProductID: "p2", Quantity: 1}}, time.Now())
	must(t, err)
	w.res, err = inventory.LoadOrderReservation("o1", nil)
	must(t, err)
	w.payment, err = payment.LoadOrderPayment("o1", nil)
	must(t, err)
	return w
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// inventory reacts to OrderPlaced.
func (w *world) reserve() {
	var lines []inventory.Line
	for _, l := range w.order.Lines() {
		lines = append(lines, inventory.Line{ProductID: l.ProductID, Quantity: l.Quantity})
	}
	must(w.t, w.res.Reserve(w.order.CustomerID(), lines, w.products))
}

// inventory reacts to OrderCancelled, OrderRejected and PaymentDeclined.
func (w *world) release() { must(w.t, w.res.Release(w.products)) }

// payments reacts to OrderStockReserved.
func (w *world) capture() { must(w.t, w.payment.Capture(w.account, w.res.TotalCents())) }

// payments reacts to OrderCancelled and OrderRejected{timeout}.
func (w *world) refund() { must(w.t, w.payment.Refund(w.account)) }

// orders reacts to PaymentCaptured, with the priced lines of OrderStockReserved.
func (w *world) confirm() {
	var lines []order.PricedLine
	for _, l := range w.res.Lines() {
		lines = append(lines, order.PricedLine(l))
	}
	must(w.t, w.order.Confirm(lines, w.res.Currency()))
}

// orders reacts to PaymentDeclined or OrderStockReservationFailed.
func (w *world) reject(reason order.Reason) { must(w.t, w.order.Reject(reason)) }

// check verifies the final state: order status, stock and balance.
func (w *world) check(status order.Status, reservedP1 int64, balance int64) {
	w.t.Helper()
	if w.order.Status() != status {
		w.t.Errorf("order status = %s, want %s", w.order.Status(), status)
	}
	p1 := w.products["p1"]
	if p1.Reserved() != reservedP1 || p1.Available()+p1.Reserved() != 10 {
		w.t.Errorf("p1 stock = %d available / %d reserved", p1.Available(), p1.Reserved())
	}
	if w.account.BalanceCents() != balance {
		w.t.Errorf("balance = %d, want %d", w.account.BalanceCents(), balance)
	}
}

func TestChoreography(t *testing.T) {
	tests := []struct {
		name    string
		balance int64
		run     func(*world)
		status  order.Status
		p1      int64
		after   int64
	}{
		{"confirmed", 1000, func(w *world) { w.reserve(); w.capture(); w.confirm() }, order.StatusConfirmed, 2, 350},
		{"duplicates everywhere", 1000, func(w *world) {
			w.reserve()
			w.reserve()
			w.capture()
			w.capture()
			w.confirm()
			w.confirm()
		}, order.StatusConfirmed, 2, 350},
		{"insufficient funds", 100, func(w *world) {
			w.reserve()
			w.capture()
			w.release()
			w.reject(order.ReasonInsufficientFunds)
			w.release()
		}, order.StatusRejected, 0, 100},
		{"cancel after confirmation", 1000, func(w *world) {
			w.reserve()
			w.capture()
			w.confirm()
			must(w.t, w.order.Cancel(""))
			w.release()
			w.refund()
			w.refund()
		}, order.StatusCancelled, 0, 1000},
		{"cancel while capture in flight, payments sees cancel first", 1000, func(w *world) {
			w.reserve()
			must(w.t, w.order.Cancel(""))
			w.release()
			w.refund()
			w.capture()
			w.confirm()
		}, order.StatusCancelled, 0, 1000},
		{"timeout after capture, orders sees capture late", 1000, func(w *world) {
			w.reserve()
			w.capture()
			w.reject(order.ReasonTimeout)
			w.release()
			w.refund()
			w.confirm()
		}, order.StatusRejected, 0, 1000},
		{"cancel before inventory saw the order", 1000, func(w *world) {
			must(w.t, w.order.Cancel(""))
			w.release()
			w.reserve()
			w.refund()
			w.capture()
		}, order.StatusCancelled, 0, 1000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld(t, tt.balance)
			tt.run(w)
			w.check(tt.status, tt.p1, tt.after)
		})
	}
}

// TestOneRegistryForAllContexts registers every context in one registry (no
// name clashes) and round-trips every event a full saga produced.
func TestOneRegistryForAllContexts(t *testing.T) {
	r := domain.NewRegistry()
	order.Register(r)
	inventory.Register(r)
	payment.Register(r)
	if n := len(r.Types()); n != 22 {
		t.Errorf("%d types registered, want 22", n)
	}
	w := newWorld(t, 1000)
	w.reserve()
	w.capture()
	w.confirm()
	must(t, w.order.Cancel("late"))
	w.release()
	w.refund()
	var all []domain.Event
	all = append(all, w.order.Changes()...)
	all = append(all, w.res.Changes()...)
	all = append(all, w.account.Changes()...)
	all = append(all, w.payment.Changes()...)
	for _, p := range w.products {
		all = append(all, p.Changes()...)
	}
	for _, e := range all {
		name, payload, err := domain.Encode(e)
		must(t, err)
		back, err := r.Decode(name, payload)
		must(t, err)
		if !reflect.DeepEqual(back, e) {
			t.Errorf("%s round trip = %#v, want %#v", name, back, e)
		}
	}
}
