package inventory

import "github.com/shopflow/shopflow/domain"

// Stable event type names. They are stored with every event and published to
// Kafka: never rename them.
const (
	TypeProductRegistered      = "ProductRegistered"
	TypeStockAdded             = "StockAdded"
	TypeStockReserved          = "StockReserved"
	TypeStockReservationFailed = "StockReservationFailed"
	TypeStockReleased          = "StockReleased"

	TypeOrderStockReserved          = "OrderStockReserved"
	TypeOrderStockReservationFailed = "OrderStockReservationFailed"
	TypeOrderStockReleased          = "OrderStockReleased"
)

// Reason is why stock could not be reserved for an order.
type Reason string

// Reservation failure reasons; the orders context rejects with the same values.
const (
	ReasonInsufficientStock Reason = "insufficient_stock"
	ReasonUnknownProduct    Reason = "unknown_product"
	ReasonCurrencyMismatch  Reason = "currency_mismatch"
)

// ProductRegistered records a new product in the catalog; it creates the
// product's stream.
type ProductRegistered struct {
	ProductID    string `json:"product_id"`
	SKU          string `json:"sku"`
	Name         string `json:"name"`
	Description  string `json:"description"`
	PriceCents   int64  `json:"price_cents"`
	Currency     string `json:"currency"`
	InitialStock int64  `json:"initial_stock"`
}

// StockAdded records a restock: Quantity more units available.
type StockAdded struct {
	ProductID string `json:"product_id"`
	Quantity  int64  `json:"quantity"`
}

// StockReserved records that Quantity units moved from available to reserved
// for an order, at the product's price then.
type StockReserved struct {
	ProductID      string `json:"product_id"`
	OrderID        string `json:"order_id"`
	Quantity       int64  `json:"quantity"`
	UnitPriceCents int64  `json:"unit_price_cents"`
}

// StockReservationFailed records that the product could not reserve Quantity
// units for an order (only Available were free). Stock is unchanged.
type StockReservationFailed struct {
	ProductID string `json:"product_id"`
	OrderID   string `json:"order_id"`
	Quantity  int64  `json:"quantity"`
	Available int64  `json:"available"`
	Reason    Reason `json:"reason"`
}

// StockReleased records that an order's reservation of Quantity units went
// back to available.
type StockReleased struct {
	ProductID string `json:"product_id"`
	OrderID   string `json:"order_id"`
	Quantity  int64  `json:"quantity"`
}

// Line is one requested product and quantity of an order.
type Line struct {
	ProductID string `json:"product_id"`
	Quantity  int64  `json:"quantity"`
}

// ReservedLine is a reserved order line with the catalog data and unit price
// it was reserved at.
type ReservedLine struct {
	ProductID      string `json:"product_id"`
	SKU            string `json:"sku"`
	Name           string `json:"name"`
	Quantity       int64  `json:"quantity"`
	UnitPriceCents int64  `json:"unit_price_cents"`
}

// OrderStockReserved records that every line of an order was reserved; the
// payments context charges the customer Total.
//
// Schema version 2 carries the total as one money object ("total":
// {"amount_cents", "currency"}); version 1 carried "total_cents" and
// "currency" side by side, and is upcast (see Register).
type OrderStockReserved struct {
	OrderID    string         `json:"order_id"`
	CustomerID string         `json:"customer_id"`
	Lines      []ReservedLine `json:"lines"`
	Total      domain.Money   `json:"total"`
}

// SchemaVersion returns 2: the total became a money object.
func (OrderStockReserved) SchemaVersion() int { return 2 }

// OrderStockReservationFailed records that an order's lines could not all be
// reserved, so none was. ProductIDs lists the products at fault.
type OrderStockReservationFailed struct {
	OrderID    string   `json:"order_id"`
	CustomerID string   `json:"customer_id"`
	Reason     Reason   `json:"reason"`
	ProductIDs []string `json:"product_ids"`
}

// OrderStockReleased records that an order's reservation ended: Lines went
// back to stock. Lines is empty when the release came before any
// reservation, which then closes the order's reservation for good.
type OrderStockReleased struct {
	OrderID string `json:"order_id"`
	Lines   []Line `json:"lines"`
}

// EventType returns TypeProductRegistered.
func (ProductRegistered) EventType() string { return TypeProductRegistered }

// EventType returns TypeStockAdded.
func (StockAdded) EventType() string { return TypeStockAdded }

// EventType returns TypeStockReserved.
func (StockReserved) EventType() string { return TypeStockReserved }

// EventType returns TypeStockReservationFailed.
func (StockReservationFailed) EventType() string { return TypeStockReservationFailed }

// EventType returns TypeStockReleased.
func (StockReleased) EventType() string { return TypeStockReleased }

// EventType returns TypeOrderStockReserved.
func (OrderStockReserved) EventType() string { return TypeOrderStockReserved }

// EventType returns TypeOrderStockReservationFailed.
func (OrderStockReservationFailed) EventType() string { return TypeOrderStockReservationFailed }

// EventType returns TypeOrderStockReleased.
func (OrderStockReleased) EventType() string { return TypeOrderStockReleased }

// upcastTotal migrates a version 1 OrderStockReserved ("total_cents" and
// "currency") to version 2 ("total").
var upcastTotal = domain.NestMoney("total_cents", "currency", "total")

// Register adds the inventory context's event types to r, with the upcasters of
// their older schema versions. It panics if one
// is already registered (see domain.Registry.Register).
func Register(r *domain.Registry) {
	domain.RegisterEvent[ProductRegistered](r)
	domain.RegisterEvent[StockAdded](r)
	domain.RegisterEvent[StockReserved](r)
	domain.RegisterEvent[StockReservationFailed](r)
	domain.RegisterEvent[StockReleased](r)
	domain.RegisterEvent[OrderStockReserved](r, upcastTotal)
	domain.RegisterEvent[OrderStockReservationFailed](r)
	domain.RegisterEvent[OrderStockReleased](r)
}
