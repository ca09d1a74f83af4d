package order

import (
	"time"

	"github.com/shopflow/shopflow/domain"
)

// Stable event type names. They are stored with every event and published to
// Kafka: never rename them.
const (
	TypeOrderPlaced    = "OrderPlaced"
	TypeOrderConfirmed = "OrderConfirmed"
	TypeOrderRejected  = "OrderRejected"
	TypeOrderCancelled = "OrderCancelled"
)

// Line is one ordered product and quantity.
type Line struct {
	ProductID string `json:"product_id"`
	Quantity  int64  `json:"quantity"`
}

// PricedLine is an ordered line with the catalog data and unit price the
// inventory context reserved it at.
type PricedLine struct {
	ProductID      string `json:"product_id"`
	SKU            string `json:"sku"`
	Name           string `json:"name"`
	Quantity       int64  `json:"quantity"`
	UnitPriceCents int64  `json:"unit_price_cents"`
}

// OrderPlaced records that a customer placed an order; it creates the stream
// and the order is pending.
type OrderPlaced struct {
	OrderID    string    `json:"order_id"`
	CustomerID string    `json:"customer_id"`
	Lines      []Line    `json:"lines"`
	PlacedAt   time.Time `json:"placed_at"`
}

// OrderConfirmed records that stock was reserved and payment captured; the
// order is confirmed at the given prices.
//
// Schema version 2 carries the total as one money object ("total":
// {"amount_cents", "currency"}); version 1 carried "total_cents" and
// "currency" side by side, and is upcast (see Register).
type OrderConfirmed struct {
	OrderID string       `json:"order_id"`
	Lines   []PricedLine `json:"lines"`
	Total   domain.Money `json:"total"`
}

// SchemaVersion returns 2: the total became a money object.
func (OrderConfirmed) SchemaVersion() int { return 2 }

// upcastTotal migrates version 1 of OrderConfirmed and OrderSettlementPriced
// ("total_cents" and "currency") to version 2 ("total").
var upcastTotal = domain.NestMoney("total_cents", "currency", "total")

// OrderRejected records that a pending order could not be fulfilled.
// Reason is one of the Reason constants.
type OrderRejected struct {
	OrderID    string `json:"order_id"`
	CustomerID string `json:"customer_id"`
	Reason     Reason `json:"reason"`
}

// OrderCancelled records that the customer cancelled the order.
// PreviousStatus is pending or confirmed; confirmed means the payment had
// been captured (but a pending order may have a capture in flight, so
// payments must compensate either way). Reason is optional free text.
type OrderCancelled struct {
	OrderID        string `json:"order_id"`
	CustomerID     string `json:"customer_id"`
	PreviousStatus Status `json:"previous_status"`
	Reason         string `json:"reason,omitempty"`
}

// EventType returns TypeOrderPlaced.
func (OrderPlaced) EventType() string { return TypeOrderPlaced }

// EventType returns TypeOrderConfirmed.
func (OrderConfirmed) EventType() string { return TypeOrderConfirmed }

// EventType returns TypeOrderRejected.
func (OrderRejected) EventType() string { return TypeOrderRejected }

// EventType returns TypeOrderCancelled.
func (OrderCancelled) EventType() string { return TypeOrderCancelled }

// Register adds the orders context's event types to r, with the upcasters of
// their older schema versions. It panics if one is
// already registered (see domain.Registry.Register).
func Register(r *domain.Registry) {
	domain.RegisterEvent[OrderPlaced](r)
	domain.RegisterEvent[OrderConfirmed](r, upcastTotal)
	domain.RegisterEvent[OrderRejected](r)
	domain.RegisterEvent[OrderCancelled](r)
}
