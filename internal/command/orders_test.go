package command_test

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/shopflow/shopflow/domain"
	"github.com/shopflow/shopflow/domain/order"
	"github.com/shopflow/shopflow/eventstore"
	"github.com/shopflow/shopflow/internal/command"
)

// placeOrder places a one-line order and returns its id.
func placeOrder(t testing.TB, store command.EventStore) string {
	t.Helper()
	h := must(command.NewPlaceOrderHandler(store, command.Config{}))(t)
	cmd := command.PlaceOrder{CustomerID: uuid.NewString(), Lines: []order.Line{{ProductID: uuid.NewString(), Quantity: 1}}}
	return must(h.Handle(ctx(t), cmd, command.Options{}))(t).ID
}

func TestPlaceOrder(t *testing.T) {
	d := newDB(t)
	placedAt := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	h := must(command.NewPlaceOrderHandler(d.store, command.Config{Now: func() time.Time { return placedAt }}))(t)
	customer, product := uuid.NewString(), uuid.New()
	cmd := command.PlaceOrder{CustomerID: customer, Lines: []order.Line{{ProductID: toUpper(product.String()), Quantity: 3}}}

	res := must(h.Handle(ctx(t), cmd, command.Options{}))(t)
	if res.StreamID != "order-"+res.ID || res.Version != 1 || res.Status != "pending" {
		t.Fatalf("result = %+v", res)
	}
	repo := must(command.NewRepository(d.store, command.OrderType(), command.Config{}))(t)
	o := must(repo.Load(ctx(t), res.ID))(t)
	want := []order.Line{{ProductID: product.String(), Quantity: 3}}
	if o.CustomerID() != customer || !slices.Equal(o.Lines(), want) || !o.PlacedAt().Equal(placedAt) {
		t.Errorf("order = %s %v %v", o.CustomerID(), o.Lines(), o.PlacedAt())
	}
}

func TestPlaceOrderReportsEveryField(t *testing.T) {
	d := newDB(t)
	h := must(command.NewPlaceOrderHandler(d.store, command.Config{}))(t)
	p := uuid.NewString()
	cmd := command.PlaceOrder{CustomerID: "c-1", Lines: []order.Line{
		{ProductID: p, Quantity: 1},
		{ProductID: "nope", Quantity: 0},
		{ProductID: p, Quantity: 1},
		{ProductID: "", Quantity: order.MaxLineQuantity + 1},
	}}
	_, err := h.Handle(ctx(t), cmd, command.Options{})
	wantFields(t, err, "customer_id", "lines[1].product_id", "lines[1].quantity", "lines[2].product_id",
		"lines[3].product_id", "lines[3].quantity")
	_, err = h.Handle(ctx(t), command.PlaceOrder{}, command.Options{})
	wantFields(t, err, "customer_id", "lines")
	if n := d.countEvents(t); n != 0 {
		t.Errorf("%d events stored", n)
	}
}

func TestCancelOrder(t *testing.T) {
	d := newDB(t)
	h := must(command.NewCancelOrderHandler(d.store, command.Config{}))(t)

	t.Run("pending", func(t *testing.T) {
		id := placeOrder(t, d.store)
		res := must(h.Handle(ctx(t), command.CancelOrder{OrderID: id, Reason: "changed my mind"}, command.Options{}))(t)
		if res.Version != 2 || res.Status != "cancelled" {
			t.Errorf("result = %+v", res)
		}
		again := must(h.Handle(ctx(t), command.CancelOrder{OrderID: id}, command.Options{}))(t)
		if again != res {
			t.Errorf("second cancel = %+v, want %+v", again, res)
		}
		if got := d.eventTypes(t, res.StreamID); !slices.Equal(got, []string{order.TypeOrderPlaced, order.TypeOrderCancelled}) {
			t.Errorf("events = %v", got)
		}
	})
	t.Run("rejected", func(t *testing.T) {
		id := placeOrder(t, d.store)
		payload := []byte(`{"order_id":"` + id + `","customer_id":"c","reason":"timeout"}`)
		must(d.store.Append(ctx(t), "order-"+id, "order", 1, eventstore.EventData{Type: order.TypeOrderRejected, Payload: payload}))(t)
		_, err := h.Handle(ctx(t), command.CancelOrder{OrderID: id}, command.Options{})
		var rule *domain.RuleError
		if !errors.Is(err, order.ErrNotCancellable) || !errors.As(err, &rule) || rule.Code != "order_not_cancellable" {
			t.Errorf("err = %v", err)
		}
	})
	t.Run("invalid", func(t *testing.T) {
		_, err := h.Handle(ctx(t), command.CancelOrder{OrderID: "x"}, command.Options{})
		wantFields(t, err, "order_id")
		long := make([]byte, order.MaxCancelReason+1)
		for i := range long {
			long[i] = 'a'
		}
		_, err = h.Handle(ctx(t), command.CancelOrder{OrderID: placeOrder(t, d.store), Reason: string(long)}, command.Options{})
		wantFields(t, err, "reason")
	})
	t.Run("not found", func(t *testing.T) {
		if _, err := h.Handle(ctx(t), command.CancelOrder{OrderID: uuid.NewString()}, command.Options{}); !errors.Is(err, domain.ErrNotFound) {
			t.Errorf("err = %v", err)
		}
	})
}
