package inventory

import (
	"testing"

	"github.com/shopflow/shopflow/domain"
	"github.com/shopflow/shopflow/domain/domaintest"
)

// TestEventsJSONContract round-trips every event through the registry and
// pins its JSON form: these payloads are stored forever and published.
func TestEventsJSONContract(t *testing.T) {
	domaintest.CheckContracts(t, Register, []domaintest.Contract{
		{Event: ProductRegistered{ProductID: "p1", SKU: "S-1", Name: "Anvil", Description: "Heavy", PriceCents: 1999, Currency: "EUR", InitialStock: 3},
			JSON: `{"product_id":"p1","sku":"S-1","name":"Anvil","description":"Heavy","price_cents":1999,"currency":"EUR","initial_stock":3}`},
		{Event: StockAdded{ProductID: "p1", Quantity: 4},
			JSON: `{"product_id":"p1","quantity":4}`},
		{Event: StockReserved{ProductID: "p1", OrderID: "o1", Quantity: 2, UnitPriceCents: 1999},
			JSON: `{"product_id":"p1","order_id":"o1","quantity":2,"unit_price_cents":1999}`},
		{Event: StockReservationFailed{ProductID: "p1", OrderID: "o1", Quantity: 9, Available: 2, Reason: ReasonInsufficientStock},
			JSON: `{"product_id":"p1","order_id":"o1","quantity":9,"available":2,"reason":"insufficient_stock"}`},
		{Event: StockReleased{ProductID: "p1", OrderID: "o1", Quantity: 2},
			JSON: `{"product_id":"p1","order_id":"o1","quantity":2}`},
		{Event: OrderStockReserved{OrderID: "o1", CustomerID: "c1", Lines: []ReservedLine{{ProductID: "p1", SKU: "S-1", Name: "Anvil", Quantity: 2, UnitPriceCents: 1999}}, Total: domain.Money{AmountCents: 3998, Currency: "EUR"}},
			JSON: `{"order_id":"o1","customer_id":"c1","lines":[{"product_id":"p1","sku":"S-1","name":"Anvil","quantity":2,"unit_price_cents":1999}],"total":{"amount_cents":3998,"currency":"EUR"}}`,
			V1:   `{"order_id":"o1","customer_id":"c1","lines":[{"product_id":"p1","sku":"S-1","name":"Anvil","quantity":2,"unit_price_cents":1999}],"total_cents":3998,"currency":"EUR"}`},
		{Event: OrderStockReservationFailed{OrderID: "o1", CustomerID: "c1", Reason: ReasonUnknownProduct, ProductIDs: []string{"p9"}},
			JSON: `{"order_id":"o1","customer_id":"c1","reason":"unknown_product","product_ids":["p9"]}`},
		{Event: OrderStockReleased{OrderID: "o1", Lines: []Line{{ProductID: "p1", Quantity: 2}}},
			JSON: `{"order_id":"o1","lines":[{"product_id":"p1","quantity":2}]}`},
		{Event: OrderStockReleased{OrderID: "o1", Lines: []Line{}},
			JSON: `{"order_id":"o1","lines":[]}`},
	})
}

func TestRegisterNames(t *testing.T) {
	domaintest.CheckTypes(t, Register, []string{"OrderStockReleased", "OrderStockReservationFailed", "OrderStockReserved",
		"ProductRegistered", "StockAdded", "StockReleased", "StockReservationFailed", "StockReserved"})
}
