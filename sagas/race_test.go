package sagas_test

import (
	"sync"
	"testing"

	"github.com/shopflow/shopflow/domain/order"
)

// TestSagaLastUnits places 100 one-unit orders at once for a product with 10 units left:
// exactly 10 are confirmed, the others rejected for insufficient stock, and the stock
// ends at 0 available, 10 reserved.
func TestSagaLastUnits(t *testing.T) {
	w := newWorld(t, worldOpts{partitions: 6})
	w.start()
	p := w.newProduct(100, 10)
	customers := make([]string, 10)
	for i := range customers {
		customers[i] = w.newCustomer(100_000)
	}
	ids := make([]string, 100)
	var wg sync.WaitGroup
	for i := range ids {
		wg.Go(func() { ids[i] = w.newOrder(customers[i%len(customers)], p, 1) })
	}
	wg.Wait()
	counts := map[order.Status]int{}
	for _, id := range ids {
		o := w.waitSettled(id)
		counts[o.Status()]++
		if o.Status() == order.StatusRejected && o.RejectReason() != order.ReasonInsufficientStock {
			t.Errorf("order %s rejected for %s", id, o.RejectReason())
		}
	}
	if counts[order.StatusConfirmed] != 10 || counts[order.StatusRejected] != 90 {
		t.Errorf("statuses %v, want 10 confirmed and 90 rejected", counts)
	}
	w.waitQuiet()
	w.wantStock(p, 0, 10)
	var paid int64
	for _, c := range customers {
		paid += 100_000 - w.account(c).BalanceCents()
	}
	if paid != 10*100 {
		t.Errorf("customers paid %d in total, want %d", paid, 10*100)
	}
}
