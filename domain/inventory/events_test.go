package inventory

import (
	"reflect"
	"slices"
	"testing"

	"github.com/shopflow/shopflow/domain"
)

// TestEventsJSONContract round-trips every event through the registry and
// pins its JSON form: these payloads are stored forever and published.
func TestEventsJSONContract(t *testing.T) {
	r := domain.NewRegistry()
	Register(r)
	tests := []struct {
		event domain.Event
		json  string
	}{
		{ProductRegistered{ProductID: "p1", SKU: "S-1", Name: "Anvil", Description: "Heavy", PriceCents: 1999, Currency: "EUR", InitialStock: 3},
			`{"product_id":"p1","sku":"S-1","name":"Anvil","description":"Heavy","price_cents":1999,"currency":"EUR","initial_stock":3}`},
		{StockAdded{ProductID: "p1", Quantity: 4},
			`{"product_id":"p1","quantity":4}`},
		{StockReserved{ProductID: "p1", OrderID: "o1", Quantity: 2, UnitPriceCents: 1999},
			`{"product_id":"p1","order_id":"o1","quantity":2,"unit_price_cents":1999}`},
		{StockReservationFailed{ProductID: "p1", OrderID: "o1", Quantity: 9, Available: 2, Reason: ReasonInsufficientStock},
			`{"product_id":"p1","order_id":"o1","quantity":9,"available":2,"reason":"insufficient_stock"}`},
		{StockReleased{ProductID: "p1", OrderID: "o1", Quantity: 2},
			`{"product_id":"p1","order_id":"o1","quantity":2}`},
		{OrderStockReserved{OrderID: "o1", CustomerID: "c1", Lines: []ReservedLine{{ProductID: "p1", SKU: "S-1", Name: "Anvil", Quantity: 2, UnitPriceCents: 1999}}, TotalCents: 3998, Currency: "EUR"},
			`{"order_id":"o1","customer_id":"c1","lines":[{"product_id":"p1","sku":"S-1","name":"Anvil","quantity":2,"unit_price_cents":1999}],"total_cents":3998,"currency":"EUR"}`},
		{OrderStockReservationFailed{OrderID: "o1", CustomerID: "c1", Reason: ReasonUnknownProduct, ProductIDs: []string{"p9"}},
			`{"order_id":"o1","customer_id":"c1","reason":"unknown_product","product_ids":["p9"]}`},
		{OrderStockReleased{OrderID: "o1", Lines: []Line{{ProductID: "p1", Quantity: 2}}},
			`{"order_id":"o1","lines":[{"product_id":"p1","quantity":2}]}`},
		{OrderStockReleased{OrderID: "o1", Lines: []Line{}},
			`{"order_id":"o1","lines":[]}`},
	}
	for _, tt := range tests {
		t.Run(tt.event.EventType(), func(t *testing.T) {
			name, payload, err := domain.Encode(tt.event)
			if err != nil {
				t.Fatal(err)
			}
			if name != tt.event.EventType() || string(payload) != tt.json {
				t.Errorf("Encode = %s %s\n want %s", name, payload, tt.json)
			}
			back, err := r.Decode(name, payload)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(back, tt.event) {
				t.Errorf("Decode = %#v, want %#v", back, tt.event)
			}
		})
	}
}

func TestRegisterNames(t *testing.T) {
	r := domain.NewRegistry()
	Register(r)
	want := []string{"OrderStockReleased", "OrderStockReservationFailed", "OrderStockReserved",
		"ProductRegistered", "StockAdded", "StockReleased", "StockReservationFailed", "StockReserved"}
	if got := r.Types(); !slices.Equal(got, want) {
		t.Errorf("Types = %v, want %v", got, want)
	}
}
