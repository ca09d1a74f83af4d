package command_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/shopflow/shopflow/domain/order"
	"github.com/shopflow/shopflow/eventstore"
	"github.com/shopflow/shopflow/internal/command"
)

func TestStreamID(t *testing.T) {
	if got := command.StreamID("order", "0190"); got != "order-0190" {
		t.Errorf("StreamID = %q", got)
	}
}

func TestParseID(t *testing.T) {
	tests := map[string]string{
		"0190a7d4-3c5e-7c3a-9f1e-2b4c6d8e0f12":  "0190a7d4-3c5e-7c3a-9f1e-2b4c6d8e0f12",
		"0190A7D4-3C5E-7C3A-9F1E-2B4C6D8E0F12":  "0190a7d4-3c5e-7c3a-9f1e-2b4c6d8e0f12",
		"0190a7d43c5e7c3a9f1e2b4c6d8e0f12":      "",
		"{0190a7d4-3c5e-7c3a-9f1e-2b4c6d8e0f1}": "",
		"0190a7d4-3c5e-7c3a-9f1e-2b4c6d8e0f1g":  "",
		"":                                      "",
	}
	for in, want := range tests {
		got, ok := command.ParseID(in)
		if got != want || ok != (want != "") {
			t.Errorf("ParseID(%q) = %q, %v; want %q", in, got, ok, want)
		}
	}
}

// TestOptionsShareTheTransaction checks that the inbox entry and the idempotency record
// commit with the events, and that a duplicate of either writes nothing.
func TestOptionsShareTheTransaction(t *testing.T) {
	d := newDB(t)
	id := registerProduct(t, d.store, widget)
	h := must(command.NewRestockProductHandler(d.store, command.Config{}))(t)
	restock := command.RestockProduct{ProductID: id, Quantity: 1}

	t.Run("inbox", func(t *testing.T) {
		opts := command.Options{Inbox: &command.InboxEntry{Consumer: "saga", MessageID: "m-1"}}
		res := must(h.Handle(ctx(t), restock, opts))(t)
		if _, err := h.Handle(ctx(t), restock, opts); !errors.Is(err, eventstore.ErrAlreadyProcessed) {
			t.Errorf("duplicate message: err = %v", err)
		}
		if v := loadProduct(t, d.store, id).Version(); v != res.Version {
			t.Errorf("version = %d after the duplicate, want %d", v, res.Version)
		}
	})
	t.Run("idempotency", func(t *testing.T) {
		var calls []command.Result
		opts := command.Options{Idempotency: func(res command.Result) (*command.IdempotencyRecord, error) {
			calls = append(calls, res)
			return &command.IdempotencyRecord{Key: "k-1", RequestHash: []byte{1}, Status: 200, Response: []byte(`{"v":1}`)}, nil
		}}
		res := must(h.Handle(ctx(t), restock, opts))(t)
		if len(calls) != 1 || calls[0] != res {
			t.Errorf("Idempotency called with %+v, result %+v", calls, res)
		}
		rec := must(d.store.Idempotency(ctx(t), "k-1"))(t)
		if rec.Status != 200 || !bytes.Equal(rec.RequestHash, []byte{1}) {
			t.Errorf("record = %+v", rec)
		}
		if _, err := h.Handle(ctx(t), restock, opts); !errors.Is(err, eventstore.ErrIdempotencyKeyExists) {
			t.Errorf("same key: err = %v", err)
		}
		if v := loadProduct(t, d.store, id).Version(); v != res.Version {
			t.Errorf("version = %d after the duplicate, want %d", v, res.Version)
		}
	})
	t.Run("no event still records the key", func(t *testing.T) {
		cancel := must(command.NewCancelOrderHandler(d.store, command.Config{}))(t)
		orderID := placeOrder(t, d.store)
		must(cancel.Handle(ctx(t), command.CancelOrder{OrderID: orderID}, command.Options{}))(t)
		opts := command.Options{Idempotency: func(command.Result) (*command.IdempotencyRecord, error) {
			return &command.IdempotencyRecord{Key: "k-2", RequestHash: []byte{2}, Status: 202, Response: []byte(`{}`)}, nil
		}}
		must(cancel.Handle(ctx(t), command.CancelOrder{OrderID: orderID}, opts))(t)
		must(d.store.Idempotency(ctx(t), "k-2"))(t)
	})
}

// loads records the afterVersion of every Load a repository sends to the store.
type loads struct {
	command.EventStore
	mu    sync.Mutex
	after []int64
}

func (l *loads) Load(ctx context.Context, streamID string, after int64) ([]eventstore.RecordedEvent, error) {
	l.mu.Lock()
	l.after = append(l.after, after)
	l.mu.Unlock()
	return l.EventStore.Load(ctx, streamID, after)
}

// A repository keeps the aggregates it stored and, next time, reads only the events after
// their version, including those another process appended meanwhile: the state it returns
// is the stream's, and commands on both sides still conflict and retry as without it.
func TestKeptAggregatesReadOnlyTheNewEvents(t *testing.T) {
	d := newDB(t)
	id := registerProduct(t, d.store, widget)
	store := &loads{EventStore: d.store}
	// 20 concurrent commands on one stream all land when each may try 20 times.
	here := must(command.NewRestockProductHandler(store, command.Config{MaxAttempts: 20}))(t)
	elsewhere := must(command.NewRestockProductHandler(d.store, command.Config{MaxAttempts: 20, CacheSize: -1}))(t)

	must(here.Handle(ctx(t), command.RestockProduct{ProductID: id, Quantity: 1}, command.Options{}))(t) // v2, kept
	must(elsewhere.Handle(ctx(t), command.RestockProduct{ProductID: id, Quantity: 2}, command.Options{}))(t)
	res := must(here.Handle(ctx(t), command.RestockProduct{ProductID: id, Quantity: 4}, command.Options{}))(t)
	wantVersion(t, res, 4)
	if want := []int64{0, 2}; !slices.Equal(store.after, want) {
		t.Errorf("loads read after versions %v, want %v (the whole stream once, then what followed v2)", store.after, want)
	}
	if p := loadProduct(t, d.store, id); p.Available() != widget.InitialStock+7 || p.Version() != 4 {
		t.Errorf("product = %d available at v%d, want %d at v4", p.Available(), p.Version(), widget.InitialStock+7)
	}

	// Both sides restock concurrently: every command lands once, kept or not.
	var wg sync.WaitGroup
	for i := range 20 {
		h := here
		if i%2 == 1 {
			h = elsewhere
		}
		wg.Go(func() {
			if _, err := h.Handle(ctx(t), command.RestockProduct{ProductID: id, Quantity: 1}, command.Options{}); err != nil {
				t.Errorf("restock: %v", err)
			}
		})
	}
	wg.Wait()
	if p := loadProduct(t, d.store, id); p.Available() != widget.InitialStock+27 || p.Version() != 24 {
		t.Errorf("after 20 concurrent restocks product = %d available at v%d, want %d at v24", p.Available(), p.Version(), widget.InitialStock+27)
	}
}

// Aggregates are rehydrated from upcast payloads, with the upcasters the domain registers:
// an OrderConfirmed an older release stored at schema version 1 ("total_cents" and
// "currency" side by side) confirms the order at its total. And the events a repository
// appends carry their type's current schema version.
func TestLoadUpcastsOldEvents(t *testing.T) {
	d := newDB(t)
	orders := must(command.NewRepository(d.store, command.OrderType(), command.Config{}))(t)
	id := uuid.NewString()
	placed := must(order.Place(id, uuid.NewString(), []order.Line{{ProductID: "p1", Quantity: 2}}, time.Now()))(t)
	must(orders.Create(ctx(t), placed, command.Options{}))(t)
	v1 := `{"order_id":"` + id + `","lines":[{"product_id":"p1","sku":"S","name":"N","quantity":2,"unit_price_cents":150}],"total_cents":300,"currency":"EUR"}`
	must(d.store.Append(ctx(t), command.StreamID(order.AggregateType, id), order.AggregateType, 1,
		eventstore.EventData{Type: order.TypeOrderConfirmed, SchemaVersion: 1, Payload: json.RawMessage(v1)}))(t)
	o := must(orders.Load(ctx(t), id))(t)
	if o.Status() != order.StatusConfirmed || o.TotalCents() != 300 || o.Currency() != "EUR" {
		t.Errorf("order loaded from a v1 OrderConfirmed: %s, %d %s; want confirmed, 300 EUR", o.Status(), o.TotalCents(), o.Currency())
	}

	id2 := uuid.NewString()
	o2 := must(order.Place(id2, uuid.NewString(), []order.Line{{ProductID: "p1", Quantity: 2}}, time.Now()))(t)
	if err := o2.Confirm([]order.PricedLine{{ProductID: "p1", SKU: "S", Name: "N", Quantity: 2, UnitPriceCents: 150}}, "EUR"); err != nil {
		t.Fatal(err)
	}
	must(orders.Create(ctx(t), o2, command.Options{}))(t)
	stored := must(d.store.Load(ctx(t), command.StreamID(order.AggregateType, id2), 0))(t)
	for _, e := range stored {
		want := map[string]int{order.TypeOrderPlaced: 1, order.TypeOrderConfirmed: 2}[e.Type]
		if e.SchemaVersion != want {
			t.Errorf("%s stored at schema version %d, want %d", e.Type, e.SchemaVersion, want)
		}
	}
	if len(stored) != 2 || !strings.Contains(string(stored[1].Payload), `"total":{"amount_cents":300,"currency":"EUR"}`) {
		t.Errorf("stored %d events, last %s", len(stored), stored[len(stored)-1].Payload)
	}
}
