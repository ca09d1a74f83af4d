package sagas_test

import (
	"context"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/shopflow/shopflow/domain/order"
	"github.com/shopflow/shopflow/sagas"
)

// histogramCount returns the sample count of a histogram family's series whose label has
// the value.
func histogramCount(t testing.TB, reg *prometheus.Registry, name, label, value string) uint64 {
	t.Helper()
	var n uint64
	for _, f := range must(reg.Gather())(t) {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == label && l.GetValue() == value {
					n += m.GetHistogram().GetSampleCount()
				}
			}
		}
	}
	return n
}

// A flash sale: every order wants one product and they arrive on every partition at once,
// with two inventory reactors sharing the group. The reactions that hit the product are
// serialised in a lane and written together (group commit) instead of racing on its
// stream: every order is confirmed, stock adds up, and no reaction ran out of retries.
// Before lanes, each reactor raced its own partitions on the stream, and reactions ran
// out of their ten attempts and were retried with backoff.
func TestFlashSaleOnOneProductWithTwoInventoryReactors(t *testing.T) {
	w := newWorld(t, worldOpts{partitions: 6})
	const orders = 400
	product := w.newProduct(100, 1000)
	var customers []string
	for range 20 {
		customers = append(customers, w.newCustomer(1_000_000))
	}
	var ids []string
	for i := range orders { // placed before the reactors start: they meet it all at once
		ids = append(ids, w.newOrder(customers[i%len(customers)], product, 1))
	}
	w.start(sagas.Orders, sagas.Payments, sagas.Inventory)
	second := w.newReactor(sagas.Inventory, w.cfg)
	w.goUntilCleanup(func(ctx context.Context) { _ = second.Run(ctx) })
	for _, id := range ids {
		if o := w.waitSettled(id); o.Status() != order.StatusConfirmed {
			t.Fatalf("order %s is %s (%s), want confirmed", id, o.Status(), o.RejectReason())
		}
	}
	p := w.product(product)
	if p.Available() != 1000-orders || p.Reserved() != orders {
		t.Errorf("product: %d available, %d reserved; want %d and %d", p.Available(), p.Reserved(), 1000-orders, orders)
	}
	if n := histogramCount(t, w.reg, "shopflow_saga_group_commit_messages", "reactor", sagas.Inventory); n == 0 {
		t.Error("no group commit in inventory")
	}
	if n := counter(t, w.reg, "shopflow_saga_retries_total", "reactor", sagas.Inventory); n != 0 {
		t.Errorf("%v inventory reactions ran out of conflict retries", n)
	}
}
