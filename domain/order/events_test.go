package order

import (
	"testing"

	"github.com/shopflow/shopflow/domain"
	"github.com/shopflow/shopflow/domain/domaintest"
)

// TestEventsJSONContract round-trips every event through the registry and
// pins its JSON form: these payloads are stored forever and published.
func TestEventsJSONContract(t *testing.T) {
	domaintest.CheckContracts(t, Register, []domaintest.Contract{
		{Event: OrderPlaced{OrderID: "o1", CustomerID: "c1", Lines: []Line{{ProductID: "p1", Quantity: 2}}, PlacedAt: placedAt},
			JSON: `{"order_id":"o1","customer_id":"c1","lines":[{"product_id":"p1","quantity":2}],"placed_at":"2025-03-01T12:30:00.123456789Z"}`},
		{Event: OrderConfirmed{OrderID: "o1", Lines: []PricedLine{{ProductID: "p1", SKU: "S", Name: "N", Quantity: 2, UnitPriceCents: 150}}, Total: domain.Money{AmountCents: 300, Currency: "EUR"}},
			JSON: `{"order_id":"o1","lines":[{"product_id":"p1","sku":"S","name":"N","quantity":2,"unit_price_cents":150}],"total":{"amount_cents":300,"currency":"EUR"}}`,
			V1:   `{"order_id":"o1","lines":[{"product_id":"p1","sku":"S","name":"N","quantity":2,"unit_price_cents":150}],"total_cents":300,"currency":"EUR"}`},
		{Event: OrderRejected{OrderID: "o1", CustomerID: "c1", Reason: ReasonTimeout},
			JSON: `{"order_id":"o1","customer_id":"c1","reason":"timeout"}`},
		{Event: OrderCancelled{OrderID: "o1", CustomerID: "c1", PreviousStatus: StatusConfirmed, Reason: "late"},
			JSON: `{"order_id":"o1","customer_id":"c1","previous_status":"confirmed","reason":"late"}`},
		{Event: OrderCancelled{OrderID: "o1", CustomerID: "c1", PreviousStatus: StatusPending},
			JSON: `{"order_id":"o1","customer_id":"c1","previous_status":"pending"}`},
	})
}

func TestRegisterNames(t *testing.T) {
	domaintest.CheckTypes(t, Register, []string{"OrderCancelled", "OrderConfirmed", "OrderPlaced", "OrderRejected"})
}

// TestSettlementEventsJSONContract pins the settlement stream's events, and the version 1
// form of SettlementPriced its upcaster migrates.
func TestSettlementEventsJSONContract(t *testing.T) {
	domaintest.CheckContracts(t, RegisterSettlement, []domaintest.Contract{
		{Event: SettlementPriced{OrderID: "o1", Lines: []PricedLine{{ProductID: "p1", SKU: "S", Name: "N", Quantity: 2, UnitPriceCents: 150}}, Total: domain.Money{AmountCents: 300, Currency: "EUR"}},
			JSON: `{"order_id":"o1","lines":[{"product_id":"p1","sku":"S","name":"N","quantity":2,"unit_price_cents":150}],"total":{"amount_cents":300,"currency":"EUR"}}`,
			V1:   `{"order_id":"o1","lines":[{"product_id":"p1","sku":"S","name":"N","quantity":2,"unit_price_cents":150}],"total_cents":300,"currency":"EUR"}`},
		{Event: SettlementPaid{OrderID: "o1", AmountCents: 300},
			JSON: `{"order_id":"o1","amount_cents":300}`},
	})
}
