package sagas_test

import (
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/shopflow/shopflow/domain/order"
	"github.com/shopflow/shopflow/domain/payment"
)

// TestSagaPaths plays every settlement path of the order saga through the real relays,
// Kafka and reactors, and checks the final order, stock and balance.
func TestSagaPaths(t *testing.T) {
	w := newWorld(t, worldOpts{})
	w.start()
	tests := []struct {
		name string
		run  func(w *world)
	}{
		{"confirmed", func(w *world) {
			p, c := w.newProduct(250, 10), w.newCustomer(10_000)
			o := w.waitStatus(w.newOrder(c, p, 2), order.StatusConfirmed)
			if o.TotalCents() != 500 || len(o.PricedLines()) != 1 || o.PricedLines()[0].UnitPriceCents != 250 {
				w.t.Errorf("confirmed total %d lines %+v", o.TotalCents(), o.PricedLines())
			}
			w.wantStock(p, 8, 2)
			w.wantBalance(c, 9_500)
		}},
		{"insufficient stock", func(w *world) {
			p1, p2, c := w.newProduct(100, 10), w.newProduct(100, 1), w.newCustomer(10_000)
			w.wantRejected(w.newOrder(c, p1, 2, p2, 5), order.ReasonInsufficientStock)
			w.wantStock(p1, 10, 0)
			w.wantStock(p2, 1, 0)
			w.wantBalance(c, 10_000)
		}},
		{"unknown product", func(w *world) {
			p, c := w.newProduct(100, 10), w.newCustomer(10_000)
			w.wantRejected(w.newOrder(c, p, 1, uuid.NewString(), 1), order.ReasonUnknownProduct)
			w.wantStock(p, 10, 0)
			w.wantBalance(c, 10_000)
		}},
		{"insufficient funds", func(w *world) {
			p, c := w.newProduct(250, 10), w.newCustomer(100)
			id := w.newOrder(c, p, 2)
			w.wantRejected(id, order.ReasonInsufficientFunds)
			w.eventuallyStock(p, 10, 0)
			w.wantBalance(c, 100)
			w.wantPayment(c, id, payment.PaymentStateDeclined)
		}},
		{"unknown customer", func(w *world) {
			p := w.newProduct(250, 10)
			w.wantRejected(w.newOrder(uuid.NewString(), p, 2), order.ReasonUnknownCustomer)
			w.eventuallyStock(p, 10, 0)
		}},
		{"cancelled after confirmation", func(w *world) {
			p, c := w.newProduct(250, 10), w.newCustomer(10_000)
			id := w.newOrder(c, p, 3)
			w.waitStatus(id, order.StatusConfirmed)
			w.wantBalance(c, 9_250)
			must(w.cancel.Handle(ctx(w.t), cancelOrder(id), noOpts))(w.t)
			w.waitStatus(id, order.StatusCancelled)
			w.eventuallyStock(p, 10, 0)
			w.eventuallyBalance(c, 10_000)
			w.wantPayment(c, id, payment.PaymentStateRefunded)
		}},
		{"cancelled at once", func(w *world) {
			p, c := w.newProduct(250, 10), w.newCustomer(10_000)
			id := w.newOrder(c, p, 3)
			must(w.cancel.Handle(ctx(w.t), cancelOrder(id), noOpts))(w.t)
			w.waitStatus(id, order.StatusCancelled)
			w.waitQuiet()
			w.wantStock(p, 10, 0)
			w.wantBalance(c, 10_000)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.run(w.in(t))
		})
	}
}

// wantRejected waits until the order is rejected and checks the reason.
func (w *world) wantRejected(id string, reason order.Reason) {
	w.t.Helper()
	if o := w.waitSettled(id); o.Status() != order.StatusRejected || o.RejectReason() != reason {
		w.t.Errorf("order %s: %s (%s), want rejected (%s)", id, o.Status(), o.RejectReason(), reason)
	}
}

// wantStock checks a product's available and reserved units.
func (w *world) wantStock(id string, available, reserved int64) {
	w.t.Helper()
	if p := w.product(id); p.Available() != available || p.Reserved() != reserved {
		w.t.Errorf("product %s: %d available, %d reserved; want %d, %d", id, p.Available(), p.Reserved(), available, reserved)
	}
}

// eventuallyStock waits until a product has the given available and reserved units
// (compensations run after the order is final).
func (w *world) eventuallyStock(id string, available, reserved int64) {
	w.t.Helper()
	eventually(w.t, 30*time.Second, "stock of "+id, func() bool {
		p := w.product(id)
		return p.Available() == available && p.Reserved() == reserved
	})
}

// wantBalance checks a customer's balance.
func (w *world) wantBalance(id string, cents int64) {
	w.t.Helper()
	if b := w.account(id).BalanceCents(); b != cents {
		w.t.Errorf("customer %s: balance %d, want %d", id, b, cents)
	}
}

// eventuallyBalance waits until a customer's balance is cents.
func (w *world) eventuallyBalance(id string, cents int64) {
	w.t.Helper()
	eventually(w.t, 30*time.Second, "balance of "+id, func() bool { return w.account(id).BalanceCents() == cents })
}

// wantPayment checks what the payments context did for an order of the customer.
func (w *world) wantPayment(customer, orderID string, state payment.PaymentState) {
	w.t.Helper()
	if p := w.payment(orderID); p.Payment().State != state || p.CustomerID() != customer {
		w.t.Errorf("payment of order %s: %+v of customer %q, want %s of %s", orderID, p.Payment(), p.CustomerID(), state, customer)
	}
}
