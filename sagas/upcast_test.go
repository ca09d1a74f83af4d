package sagas_test

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/shopflow/shopflow/domain/inventory"
	"github.com/shopflow/shopflow/domain/order"
	"github.com/shopflow/shopflow/domain/payment"
	"github.com/shopflow/shopflow/internal/command"
	"github.com/shopflow/shopflow/internal/testenv"
	"github.com/shopflow/shopflow/projections"
	"github.com/shopflow/shopflow/projections/projectionstest"
	"github.com/shopflow/shopflow/sagas"
)

// oldBinarySQL makes a database store events as the release before schema version 2 of
// OrderStockReserved, OrderSettlementPriced and OrderConfirmed did: "total_cents" and
// "currency" side by side instead of "total", at schema version 1 (the default every event
// had). A trigger rewrites each insert, so the relay publishes what it stored, exactly as
// the old binary's relay did: the records are on the topics at version 1, with a
// schema-version header of 1.
const oldBinarySQL = `
CREATE FUNCTION test_old_binary() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.event_type IN ('OrderStockReserved', 'OrderSettlementPriced', 'OrderConfirmed') AND NEW.schema_version = 2 THEN
    NEW.payload := ((NEW.payload::jsonb - 'total') || jsonb_build_object(
      'total_cents', NEW.payload::jsonb -> 'total' -> 'amount_cents',
      'currency', NEW.payload::jsonb -> 'total' -> 'currency'))::json;
    NEW.schema_version := 1;
  END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER test_old_binary BEFORE INSERT ON events FOR EACH ROW EXECUTE FUNCTION test_old_binary();`

func execSQL(t testing.TB, pool *pgxpool.Pool, sql string) {
	t.Helper()
	if _, err := pool.Exec(ctx(t), sql); err != nil {
		t.Fatal(err)
	}
}

// One real schema change (an order's total became a money object) with old events already
// stored and published: orders settled while the old release ran, one still in flight at
// the upgrade (its reservation published at v1, not yet consumed), then the new release
// cancels an order confirmed at v1 and places new ones. The saga, every aggregate load (the
// reservation released, the order cancelled, the settlement confirmed), the read models
// built afterwards from the mixed topics, and a rebuild all come out as if every event had
// been written at version 2.
func TestOldSchemaVersionsReadAsTheNewestEverywhere(t *testing.T) {
	w := newWorld(t, worldOpts{})
	for _, c := range contexts {
		execSQL(t, w.dbs[c].pool, oldBinarySQL)
	}
	w.start()
	p1, p2 := w.newProduct(250, 10), w.newProduct(1000, 5)
	rich, poor := w.newCustomer(10_000), w.newCustomer(100)

	// The old release's era: everything it wrote is v1.
	a := w.newOrder(rich, p1, 2, p2, 1) // 1,500: confirmed now, cancelled after the upgrade
	b := w.newOrder(rich, p1, 1)        // 250: confirmed
	r := w.newOrder(poor, p2, 1)        // 1,000 > 100: declined, rejected, released
	for id, want := range map[string]order.Status{a: order.StatusConfirmed, b: order.StatusConfirmed, r: order.StatusRejected} {
		if o := w.waitSettled(id); o.Status() != want {
			t.Fatalf("old era: order %s is %s, want %s", id, o.Status(), want)
		}
	}
	// In flight at the upgrade: inventory (old) reserved x and published it; payments and
	// orders are down while the release changes.
	w.stop(sagas.Orders, sagas.Payments)
	x := w.newOrder(rich, p1, 1) // 250
	eventually(t, 30*time.Second, "x reserved", func() bool {
		return must(w.reserves.Load(ctx(t), x))(t).Status() == inventory.ReservationReserved
	})
	w.stop(sagas.Inventory)

	// The upgrade: from now on events are stored as the Go types encode them.
	for _, c := range contexts {
		execSQL(t, w.dbs[c].pool, `DROP TRIGGER test_old_binary ON events`)
	}
	stored := map[string]int64{
		"orders v1":    w.count(sagas.Orders, `SELECT count(*) FROM events WHERE event_type IN ('OrderConfirmed', 'OrderSettlementPriced') AND schema_version = 1 AND payload::jsonb ? 'total_cents'`),
		"inventory v1": w.count(sagas.Inventory, `SELECT count(*) FROM events WHERE event_type = 'OrderStockReserved' AND schema_version = 1 AND payload::jsonb ? 'total_cents'`),
		"any v2":       w.count(sagas.Orders, `SELECT count(*) FROM events WHERE schema_version > 1`) + w.count(sagas.Inventory, `SELECT count(*) FROM events WHERE schema_version > 1`),
	}
	if stored["orders v1"] < 2 || stored["inventory v1"] != 4 || stored["any v2"] != 0 {
		t.Fatalf("the old release stored %v; want both confirmations, 4 reservations at v1 and nothing at v2", stored)
	}

	// The new release: x's v1 reservation, published before the upgrade, is charged and
	// confirmed at its total; a, confirmed at v1, is cancelled: refunded and released.
	w.start()
	if o := w.waitSettled(x); o.Status() != order.StatusConfirmed || o.TotalCents() != 250 || o.Currency() != "EUR" {
		t.Fatalf("x (reserved at v1 before the upgrade): %s %d %s, want confirmed 250 EUR", o.Status(), o.TotalCents(), o.Currency())
	}
	if o := w.order(a); o.TotalCents() != 1500 || o.Currency() != "EUR" {
		t.Fatalf("a loaded from its v1 OrderConfirmed: total %d %s, want 1500 EUR", o.TotalCents(), o.Currency())
	}
	if res := must(w.reserves.Load(ctx(t), a))(t); res.TotalCents() != 1500 || res.Currency() != "EUR" || len(res.Lines()) != 2 {
		t.Fatalf("a's reservation loaded from its v1 OrderStockReserved: %d %s %d lines", res.TotalCents(), res.Currency(), len(res.Lines()))
	}
	must(w.cancel.Handle(ctx(t), cancelOrder(a), command.Options{}))(t)
	d := w.newOrder(rich, p2, 2) // 2,000, all v2
	w.waitStatus(d, order.StatusConfirmed)
	eventually(t, 30*time.Second, "a refunded and released", func() bool {
		return w.payment(a).Payment().State == payment.PaymentStateRefunded &&
			must(w.reserves.Load(ctx(t), a))(t).Status() == inventory.ReservationReleased
	})

	// As if every event were v2: the money and the stock add up.
	if pay := w.payment(a).Payment(); pay.AmountCents != 1500 {
		t.Errorf("a refunded %d, want the 1500 captured from its v1 reservation", pay.AmountCents)
	}
	if got := w.account(rich).BalanceCents(); got != 10_000-250-250-2000 {
		t.Errorf("rich balance %d, want %d (b, x and d charged, a refunded)", got, 10_000-250-250-2000)
	}
	if got := w.account(poor).BalanceCents(); got != 100 {
		t.Errorf("poor balance %d, want 100", got)
	}
	if got := w.product(p1).Available(); got != 10-1-1 {
		t.Errorf("p1 available %d, want 8 (a released, b and x reserved)", got)
	}
	if got := w.product(p2).Available(); got != 5-2 {
		t.Errorf("p2 available %d, want 3 (a and r released, d reserved)", got)
	}
	for id, want := range map[string]int64{b: 250, x: 250, d: 2000} {
		if o := w.order(id); o.Status() != order.StatusConfirmed || o.TotalCents() != want {
			t.Errorf("order %s: %s %d, want confirmed %d", id, o.Status(), o.TotalCents(), want)
		}
	}
	// Time travel (the console's fold) sees a at its confirmation as v2 would have it.
	if o, _, err := w.orders.LoadAt(ctx(t), a, 2); err != nil || o.Status() != order.StatusConfirmed || o.TotalCents() != 1500 {
		t.Errorf("a at version 2: %v, %v", o, err)
	}
	if n := w.count(sagas.Orders, `SELECT count(*) FROM events WHERE event_type = 'OrderConfirmed' AND schema_version = 2 AND payload::jsonb ? 'total'`); n != 2 {
		t.Errorf("%d OrderConfirmed stored at v2 after the upgrade, want 2 (x and d)", n)
	}

	// Read models built after the upgrade from the mixed topics, then rebuilt.
	env := projectionsOver(t, w)
	env.StartWorkers(t)
	env.WaitCaughtUp(t)
	want := map[string]struct {
		status string
		total  float64
	}{a: {"cancelled", 1500}, b: {"confirmed", 250}, x: {"confirmed", 250}, d: {"confirmed", 2000}, r: {"rejected", 0}}
	check := func(stage string, docs map[string]projectionstest.Doc) {
		t.Helper()
		for id, wo := range want {
			doc, ok := docs[id]
			if !ok {
				t.Errorf("%s: no document of order %s", stage, id)
				continue
			}
			total, _ := doc.Source["total_cents"].(float64)
			if doc.Source["status"] != wo.status || total != wo.total || (wo.total > 0 && doc.Source["currency"] != "EUR") {
				t.Errorf("%s: order %s is %v total %v %v, want %s %v EUR", stage, id, doc.Source["status"], doc.Source["total_cents"], doc.Source["currency"], wo.status, wo.total)
			}
		}
	}
	live := env.Snapshot(t, env.Config.Alias(projections.Orders))
	check("live", live)
	if _, err := projections.Rebuild(ctx(t), env.ES, env.Config, projections.Orders, nil); err != nil {
		t.Fatal(err)
	}
	rebuilt := env.Snapshot(t, env.Config.Alias(projections.Orders))
	check("rebuilt", rebuilt)
	if diff := projectionstest.Diff(live, rebuilt); diff != "" {
		t.Errorf("rebuild differs from the live index: %s", diff)
	}
	if dead := deadLetterCount(t, env); dead != 0 {
		t.Errorf("%d records dead-lettered by the projections", dead)
	}
}

// projectionsOver configures read models over a world's topics, with an index prefix,
// consumer groups and a dead-letter topic of their own.
func projectionsOver(t *testing.T, w *world) *projectionstest.Env {
	t.Helper()
	es := testenv.Elastic(t)
	dlt := testenv.Topics(t, 1, "projections_dlt")[0]
	cl := testenv.Kafka(t)
	env := &projectionstest.Env{ES: es, Producer: cl, Admin: kadm.NewClient(cl), Config: projections.Config{
		Brokers: w.cfg.Brokers, IndexPrefix: testenv.Index(t, es, "upcast") + "_",
		OrdersTopic: w.cfg.Orders.EventsTopic, InventoryTopic: w.cfg.Inventory.EventsTopic, PaymentsTopic: w.cfg.Payments.EventsTopic,
		DeadLetterTopic: dlt, GroupPrefix: testenv.Name("upcast") + ".",
		FlushInterval: 20 * time.Millisecond, RetryBackoff: 20 * time.Millisecond, MaxRetryBackoff: 500 * time.Millisecond,
		DeleteGrace: 200 * time.Millisecond, Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
	}}
	t.Cleanup(func() {
		c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		for _, name := range projections.Names() {
			_, _ = env.Admin.DeleteGroup(c, env.Config.Group(name))
		}
	})
	return env
}

// deadLetterCount is how many records the projections' dead-letter topic holds.
func deadLetterCount(t *testing.T, env *projectionstest.Env) int64 {
	t.Helper()
	ends, err := env.Admin.ListEndOffsets(ctx(t), env.Config.DeadLetterTopic)
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	ends.Each(func(o kadm.ListedOffset) { n += o.Offset })
	return n
}
