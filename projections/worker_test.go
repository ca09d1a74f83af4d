package projections_test

import (
	"context"
	"encoding/json"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/shopflow/shopflow/domain/inventory"
	"github.com/shopflow/shopflow/domain/order"
	"github.com/shopflow/shopflow/eventstore"
	"github.com/shopflow/shopflow/projections"
	"github.com/shopflow/shopflow/projections/projectionstest"
)

// snapshots returns every document of every read model, by read model.
func snapshots(t testing.TB, env *projectionstest.Env) map[string]map[string]projectionstest.Doc {
	t.Helper()
	out := map[string]map[string]projectionstest.Doc{}
	for _, name := range projections.Names() {
		out[name] = env.Snapshot(t, env.Config.Alias(name))
	}
	return out
}

func requireSame(t testing.TB, want, got map[string]map[string]projectionstest.Doc) {
	t.Helper()
	for _, name := range projections.Names() {
		if diff := projectionstest.Diff(want[name], got[name]); diff != "" {
			t.Errorf("%s documents differ:\n%s", name, diff)
		}
	}
}

// project runs the workers over the events, produced in the given order, and returns the
// documents once every worker has caught up.
func project(t testing.TB, partitions int32, events []eventstore.Envelope, workersPerModel int) map[string]map[string]projectionstest.Doc {
	t.Helper()
	env := projectionstest.New(t, partitions)
	env.Produce(t, events...)
	for range workersPerModel {
		env.StartWorkers(t)
	}
	env.WaitCaughtUp(t)
	return snapshots(t, env)
}

func TestReplayingTheSameEventsChangesNothing(t *testing.T) {
	shop := projectionstest.NewShop(1)
	shop.Random(20, 10, 60)
	env := projectionstest.New(t, 3)
	env.Produce(t, shop.Events...)
	env.StartWorkers(t)
	env.WaitCaughtUp(t)
	first := snapshots(t, env)
	checkShop(t, shop, first)

	env.Produce(t, shop.Events...) // every record delivered a second time
	env.WaitCaughtUp(t)
	requireSame(t, first, snapshots(t, env))
}

// checkShop checks the documents' counts and one order of each fate.
func checkShop(t testing.TB, shop *projectionstest.Shop, docs map[string]map[string]projectionstest.Doc) {
	t.Helper()
	if n := len(docs[projections.Products]); n != len(shop.Products) {
		t.Errorf("%d product documents, want %d", n, len(shop.Products))
	}
	if n := len(docs[projections.Customers]); n != len(shop.Customers) {
		t.Errorf("%d customer documents, want %d", n, len(shop.Customers))
	}
	refs := len(shop.Products) + len(shop.Customers)
	if n := len(docs[projections.Orders]); n != len(shop.Orders)+refs {
		t.Errorf("%d documents in the orders index, want %d orders + %d references", n, len(shop.Orders), refs)
	}
	for _, id := range shop.Orders {
		o := docs[projections.Orders][id].Source
		if o["missing_refs"] != nil || o["customer"] == nil {
			t.Errorf("order %s is not fully joined: %v", id, o)
		}
		for _, l := range o["lines"].([]any) {
			if l.(map[string]any)["name"] == nil {
				t.Errorf("order %s has a line without product name: %v", id, o)
			}
		}
	}
}

func TestAnyDeliveryOrderGivesTheSameDocuments(t *testing.T) {
	shop := projectionstest.NewShop(2)
	shop.Random(15, 8, 40)
	want := project(t, 3, shop.Events, 1)
	checkShop(t, shop, want)

	t.Run("orders before products and customers", func(t *testing.T) {
		var orders, others []eventstore.Envelope
		for _, e := range shop.Events {
			if e.StreamType == "order" {
				orders = append(orders, e)
			} else {
				others = append(others, e)
			}
		}
		requireSame(t, want, project(t, 1, append(orders, others...), 1))
	})
	t.Run("random interleaving, two workers per model", func(t *testing.T) {
		requireSame(t, want, project(t, 4, interleave(shop.Events, 7), 2))
	})
}

// interleave shuffles events across streams while keeping each stream's order, as Kafka
// may deliver them.
func interleave(events []eventstore.Envelope, seed uint64) []eventstore.Envelope {
	rng := rand.New(rand.NewPCG(seed, seed))
	byStream := map[string][]eventstore.Envelope{}
	var streams []string
	for _, e := range events {
		if byStream[e.StreamID] == nil {
			streams = append(streams, e.StreamID)
		}
		byStream[e.StreamID] = append(byStream[e.StreamID], e)
	}
	out := make([]eventstore.Envelope, 0, len(events))
	for len(streams) > 0 {
		i := rng.IntN(len(streams))
		s := streams[i]
		out = append(out, byStream[s][0])
		if byStream[s] = byStream[s][1:]; len(byStream[s]) == 0 {
			streams = append(streams[:i], streams[i+1:]...)
		}
	}
	return out
}

func TestOrdersAreJoinedWhenProductsAndCustomersArriveLater(t *testing.T) {
	shop := projectionstest.NewShop(3)
	shop.Random(5, 3, 10)
	var orders, others []eventstore.Envelope
	for _, e := range shop.Events {
		if e.StreamType == "order" {
			orders = append(orders, e)
		} else {
			others = append(others, e)
		}
	}
	env := projectionstest.New(t, 2)
	env.StartWorker(t, projections.Orders)
	reader, err := projections.NewReader(env.ES, env.Config)
	if err != nil {
		t.Fatal(err)
	}
	env.Produce(t, orders...)
	env.WaitCaughtUp(t, projections.Orders)
	o, err := reader.Order(context.Background(), shop.Orders[0])
	if err != nil || o.Customer != nil {
		t.Fatalf("before its references, order = %+v, %v; want it without customer", o, err)
	}

	env.Produce(t, others...)
	env.WaitCaughtUp(t, projections.Orders)
	docs := env.Snapshot(t, env.Config.Alias(projections.Orders))
	want := project(t, 1, shop.Events, 1)[projections.Orders]
	if diff := projectionstest.Diff(want, docs); diff != "" {
		t.Errorf("orders joined late differ from orders joined in order:\n%s", diff)
	}
}

// TestAWorkerWakesTheReadsWaitingForWhatItStores: with Config.Changes shared by a worker and
// a Reader, a read watching an order is woken once the worker has stored the order, which is
// then readable; a document never stored wakes nobody.
func TestAWorkerWakesTheReadsWaitingForWhatItStores(t *testing.T) {
	shop := projectionstest.NewShop(12)
	shop.Random(3, 3, 5)
	env := projectionstest.New(t, 2)
	env.Config.Changes = projections.NewChanges()
	reader, err := projections.NewReader(env.ES, env.Config)
	if err != nil {
		t.Fatal(err)
	}
	changed, stop := reader.Watch(projections.Orders, shop.Orders[0])
	defer stop()
	never, stopNever := reader.Watch(projections.Orders, uuid.NewString())
	defer stopNever()
	env.StartWorker(t, projections.Orders)
	env.Produce(t, shop.Events...)
	select {
	case <-changed:
	case <-time.After(time.Minute):
		t.Fatal("the read watching an order was not woken within a minute of its events")
	}
	if _, err := reader.Order(context.Background(), shop.Orders[0]); err != nil {
		t.Fatalf("woken, but the order is not readable: %v", err)
	}
	env.WaitCaughtUp(t, projections.Orders)
	select {
	case <-never:
		t.Error("a read watching a document never stored was woken")
	default:
	}
}

// TestAWorkerWhoseCachedDocumentIsStaleLosesNoJoin: a worker applies an order's next event to
// the document it cached when it wrote it. Here another writer (a second worker repairing
// joins) completed the stored order behind its back; the worker's write from the stale copy
// must not leave the customer out: the worker joins what the copy lacks from the index.
func TestAWorkerWhoseCachedDocumentIsStaleLosesNoJoin(t *testing.T) {
	shop := projectionstest.NewShop(11)
	product := shop.Product("SKU-9", "Teapot", 1500, 10)
	customer := shop.Customer("Ada Lovelace", "ada@example.com", 100_000)
	id := shop.Place(customer, order.Line{ProductID: product, Quantity: 1})
	var placed, confirmed []eventstore.Envelope
	for _, e := range shop.Events {
		if e.StreamType == order.AggregateType || e.StreamType == inventory.ProductAggregateType {
			placed = append(placed, e)
		}
	}
	shop.Confirm(id)
	for _, e := range shop.Events[len(placed)+2:] { // after the customer's two events
		if e.StreamType == order.AggregateType {
			confirmed = append(confirmed, e)
		}
	}

	env := projectionstest.New(t, 1)
	env.StartWorker(t, projections.Orders)
	reader := newReader(t, env)
	env.Produce(t, placed...)
	env.WaitCaughtUp(t, projections.Orders)
	o, err := reader.Order(context.Background(), id)
	if err != nil || o.Customer != nil {
		t.Fatalf("order before its customer = %+v, %v; want it without customer", o, err)
	}

	// Another writer stores the customer's reference and the order joined with it.
	alias := env.Config.Alias(projections.Orders)
	index(t, env, alias, "account-"+customer, 1,
		`{"kind":"customer_ref","ref":{"name":"Ada Lovelace","email":"ada@example.com"},"version":1}`)
	res, err := env.ES.Get(alias, id)
	if err != nil {
		t.Fatal(err)
	}
	var stored struct {
		Version int64          `json:"_version"`
		Source  map[string]any `json:"_source"`
	}
	if err := json.NewDecoder(res.Body).Decode(&stored); err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	stored.Source["customer"] = map[string]any{"name": "Ada Lovelace", "email": "ada@example.com"}
	stored.Source["missing_refs"] = []string{}
	joined, err := json.Marshal(stored.Source)
	if err != nil {
		t.Fatal(err)
	}
	index(t, env, alias, id, stored.Version+1, string(joined))

	env.Produce(t, confirmed...)
	env.WaitCaughtUp(t, projections.Orders)
	o, err = reader.Order(context.Background(), id)
	if err != nil || o.Status != "confirmed" || o.Customer == nil || o.Customer.Name != "Ada Lovelace" {
		t.Fatalf("order after its confirmation = %+v (customer %+v), %v; want it confirmed with its customer", o, o.Customer, err)
	}
}

// index writes a document with an external version, as a worker does.
func index(t testing.TB, env *projectionstest.Env, index, id string, version int64, source string) {
	t.Helper()
	res, err := env.ES.Index(index, strings.NewReader(source), env.ES.Index.WithDocumentID(id),
		env.ES.Index.WithVersion(int(version)), env.ES.Index.WithVersionType("external"))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.IsError() {
		t.Fatalf("index %s: %s", id, res)
	}
}
