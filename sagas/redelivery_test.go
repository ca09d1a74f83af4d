package sagas_test

import (
	"testing"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/shopflow/shopflow/domain/order"
	"github.com/shopflow/shopflow/internal/testenv"
	"github.com/shopflow/shopflow/sagas"
)

// TestSagaRedelivery delivers every saga input again, twice: to new consumer groups
// reading the topics from the start (as after an offset reset), and as re-published
// copies of every record (as after a relay crash). Neither changes any database: the
// inbox, keyed by event id, drops every duplicate in the transaction it would have
// written in.
func TestSagaRedelivery(t *testing.T) {
	w := newWorld(t, worldOpts{})
	w.start()
	p, rich, poor := w.newProduct(250, 10), w.newCustomer(10_000), w.newCustomer(100)
	confirmed := w.newOrder(rich, p, 2)
	cancelled := w.newOrder(rich, p, 1)
	w.waitStatus(cancelled, order.StatusConfirmed)
	must(w.cancel.Handle(ctx(t), cancelOrder(cancelled), noOpts))(t)
	for _, id := range []string{confirmed, w.newOrder(poor, p, 1), w.newOrder(rich, p, 11),
		w.newOrder(uuid.NewString(), p, 1), w.newOrder(rich, uuid.NewString(), 1)} {
		w.waitSettled(id)
	}
	w.waitQuiet()
	before := w.snapshot()

	again := w.cfg
	again.Orders.Group = testenv.Name("orders_again")
	again.Inventory.Group = testenv.Name("inventory_again")
	again.Payments.Group = testenv.Name("payments_again")
	reg := prometheus.NewRegistry()
	again.Metrics = sagas.NewMetrics(reg)
	w.stop()
	for _, c := range contexts {
		w.startWith(c, again)
	}
	w.waitQuiet(group{again.Orders.Group, sagas.Orders}, group{again.Inventory.Group, sagas.Inventory},
		group{again.Payments.Group, sagas.Payments})
	w.wantSnapshot(before, "after consuming again from the start")
	if counter(t, reg, "shopflow_saga_processed_total", "outcome", sagas.OutcomeDuplicate) == 0 {
		t.Error("no duplicate counted")
	}

	copies := 0
	for _, c := range contexts {
		copies += w.copyTopic(w.topic(c))
	}
	w.waitQuiet(group{again.Orders.Group, sagas.Orders}, group{again.Inventory.Group, sagas.Inventory},
		group{again.Payments.Group, sagas.Payments})
	w.wantSnapshot(before, "after re-publishing every record")
	t.Logf("%d records re-published", copies)
	w.wantStock(p, 8, 2)
	w.wantBalance(rich, 9_500)
	w.wantBalance(poor, 100)
}

// wantSnapshot checks that the databases hold the same number of events and inbox rows.
func (w *world) wantSnapshot(want map[string]int64, when string) {
	w.t.Helper()
	got := w.snapshot()
	for k, v := range want {
		if got[k] != v {
			w.t.Errorf("%s: %s = %d, want %d", when, k, got[k], v)
		}
	}
}

// counter returns the sum of the series of a counter family whose label has the value.
func counter(t testing.TB, reg *prometheus.Registry, name, label, value string) float64 {
	t.Helper()
	families := must(reg.Gather())(t)
	var sum float64
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == label && l.GetValue() == value {
					sum += m.GetCounter().GetValue()
				}
			}
		}
	}
	return sum
}
