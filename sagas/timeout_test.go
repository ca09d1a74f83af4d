package sagas_test

import (
	"testing"
	"time"

	"github.com/shopflow/shopflow/domain/inventory"
	"github.com/shopflow/shopflow/domain/order"
	"github.com/shopflow/shopflow/domain/payment"
	"github.com/shopflow/shopflow/sagas"
)

// TestSagaWithoutPayments runs the saga without the payments reactor, so reserved orders
// stay pending: one is cancelled while pending, the other times out once the orders
// reactor (and its deadline scanner) starts. Both release their stock. When payments
// starts late it sees each capture request together with the order's cancellation or
// timeout, in either order, and the balance ends unchanged.
func TestSagaWithoutPayments(t *testing.T) {
	w := newWorld(t, worldOpts{deadline: 2 * time.Second})
	w.start(sagas.Inventory)
	p, c := w.newProduct(300, 10), w.newCustomer(5_000)

	cancelled, timedOut := w.newOrder(c, p, 2), w.newOrder(c, p, 3)
	for _, id := range []string{cancelled, timedOut} {
		eventually(t, 20*time.Second, "reservation of "+id, func() bool {
			return must(w.reserves.Load(ctx(t), id))(t).Status() == inventory.ReservationReserved
		})
	}
	must(w.cancel.Handle(ctx(t), cancelOrder(cancelled), noOpts))(t)
	if o := w.order(cancelled); o.Status() != order.StatusCancelled {
		t.Fatalf("cancelled order is %s", o.Status())
	}
	w.start(sagas.Orders) // and its deadline scanner
	w.wantRejected(timedOut, order.ReasonTimeout)
	w.eventuallyStock(p, 10, 0)
	if n := w.count("orders", `SELECT count(*) FROM pending_orders`); n != 0 {
		t.Errorf("%d orders still listed as pending", n)
	}

	w.start(sagas.Payments)
	w.waitQuiet()
	w.wantBalance(c, 5_000)
	for _, id := range []string{cancelled, timedOut} {
		pay := w.payment(id).Payment()
		closed := pay.State == payment.PaymentStateDeclined && pay.Reason == payment.ReasonOrderClosed
		if !(closed || pay.State == payment.PaymentStateRefunded) {
			t.Errorf("payment of %s: %+v, want declined (order_closed) or refunded", id, pay)
		}
	}
	w.wantStock(p, 10, 0)
	if s := w.order(cancelled).Status(); s != order.StatusCancelled {
		t.Errorf("cancelled order became %s", s)
	}
	if s := w.order(timedOut).Status(); s != order.StatusRejected {
		t.Errorf("timed-out order became %s", s)
	}
}
