package order

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
		{OrderPlaced{OrderID: "o1", CustomerID: "c1", Lines: []Line{{ProductID: "p1", Quantity: 2}}, PlacedAt: placedAt},
			`{"order_id":"o1","customer_id":"c1","lines":[{"product_id":"p1","quantity":2}],"placed_at":"2025-03-01T12:30:00.123456789Z"}`},
		{OrderConfirmed{OrderID: "o1", Lines: []PricedLine{{ProductID: "p1", SKU: "S", Name: "N", Quantity: 2, UnitPriceCents: 150}}, TotalCents: 300, Currency: "EUR"},
			`{"order_id":"o1","lines":[{"product_id":"p1","sku":"S","name":"N","quantity":2,"unit_price_cents":150}],"total_cents":300,"currency":"EUR"}`},
		{OrderRejected{OrderID: "o1", CustomerID: "c1", Reason: ReasonTimeout},
			`{"order_id":"o1","customer_id":"c1","reason":"timeout"}`},
		{OrderCancelled{OrderID: "o1", CustomerID: "c1", PreviousStatus: StatusConfirmed, Reason: "late"},
			`{"order_id":"o1","customer_id":"c1","previous_status":"confirmed","reason":"late"}`},
		{OrderCancelled{OrderID: "o1", CustomerID: "c1", PreviousStatus: StatusPending},
			`{"order_id":"o1","customer_id":"c1","previous_status":"pending"}`},
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
	want := []string{"OrderCancelled", "OrderConfirmed", "OrderPlaced", "OrderRejected"}
	if got := r.Types(); !slices.Equal(got, want) {
		t.Errorf("Types = %v, want %v", got, want)
	}
}
