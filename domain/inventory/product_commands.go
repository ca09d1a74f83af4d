package inventory

import (
	"fmt"

	"github.com/shopflow/shopflow/domain"
)

// Limits of the catalog and of stock.
const (
	MaxSKU         = 64
	MaxName        = 200
	MaxDescription = 5000
	// MaxStock is the largest number of units a product may hold
	// (available plus reserved).
	MaxStock int64 = 1_000_000_000_000
)

// Rule errors of the inventory context.
var (
	// ErrStockLimit is returned when a restock would exceed MaxStock units.
	ErrStockLimit = &domain.RuleError{Code: "stock_limit_exceeded", Message: fmt.Sprintf("a product holds at most %d units", MaxStock)}
	// ErrInsufficientStock is returned by CanReserve when fewer units are available.
	ErrInsufficientStock = &domain.RuleError{Code: string(ReasonInsufficientStock), Message: "not enough stock available"}
)

// NewProduct is the input of [RegisterProduct], the API's product request.
type NewProduct struct {
	SKU          string
	Name         string
	Description  string
	PriceCents   int64
	Currency     string
	InitialStock int64
}

// RegisterProduct adds a product to the catalog, recording [ProductRegistered].
// It returns a *domain.ValidationError listing every invalid field:
// product_id non-empty; sku and name non-blank, at most MaxSKU and MaxName
// characters; description at most MaxDescription; price_cents from 0 to
// domain.MaxPriceCents; currency three upper-case letters; initial_stock
// from 0 to MaxStock. SKU uniqueness is not checked here (it spans products:
// enforce it in the store or read side).
func RegisterProduct(productID string, n NewProduct) (*Product, error) {
	var v domain.ValidationError
	v.Check(productID != "", "product_id", "is required")
	v.Required("sku", n.SKU, MaxSKU)
	v.Required("name", n.Name, MaxName)
	v.MaxLen("description", n.Description, MaxDescription)
	v.Check(n.PriceCents >= 0 && n.PriceCents <= domain.MaxPriceCents,
		"price_cents", fmt.Sprintf("must be from 0 to %d", domain.MaxPriceCents))
	v.Check(domain.IsCurrency(n.Currency), "currency", "must be 3 upper-case letters (ISO 4217)")
	v.Check(n.InitialStock >= 0 && n.InitialStock <= MaxStock,
		"initial_stock", fmt.Sprintf("must be from 0 to %d", MaxStock))
	if err := v.Err(); err != nil {
		return nil, err
	}
	p := &Product{}
	p.root.Record(ProductRegistered{
		ProductID: productID, SKU: n.SKU, Name: n.Name, Description: n.Description,
		PriceCents: n.PriceCents, Currency: n.Currency, InitialStock: n.InitialStock,
	}, p.apply)
	return p, nil
}

// AddStock restocks quantity units, recording [StockAdded]. quantity must be
// greater than 0 (else *domain.ValidationError); the product's units may not
// exceed MaxStock (else [ErrStockLimit]).
func (p *Product) AddStock(quantity int64) error {
	if quantity <= 0 {
		return quantityError()
	}
	if quantity > MaxStock-p.available-p.reserved {
		return fmt.Errorf("restock product %s: %w", p.ID(), ErrStockLimit)
	}
	p.root.Record(StockAdded{ProductID: p.ID(), Quantity: quantity}, p.apply)
	return nil
}

// CanReserve reports whether quantity units are available now: nil, a
// *domain.ValidationError if quantity is not greater than 0, or an error
// wrapping [ErrInsufficientStock]. It records nothing.
func (p *Product) CanReserve(quantity int64) error {
	if quantity <= 0 {
		return quantityError()
	}
	if quantity > p.available {
		return fmt.Errorf("product %s: %d requested, %d available: %w", p.ID(), quantity, p.available, ErrInsufficientStock)
	}
	return nil
}

// reserve holds quantity units (at least 1) for an order at the current
// price, recording [StockReserved]; if fewer units are available it records
// [StockReservationFailed] instead and holds nothing. It does not remember the
// order: [OrderReservation.Reserve], its only caller, reserves an order once.
func (p *Product) reserve(orderID string, quantity int64) {
	if quantity > p.available {
		p.root.Record(StockReservationFailed{
			ProductID: p.ID(), OrderID: orderID, Quantity: quantity,
			Available: p.available, Reason: ReasonInsufficientStock,
		}, p.apply)
		return
	}
	p.root.Record(StockReserved{
		ProductID: p.ID(), OrderID: orderID, Quantity: quantity, UnitPriceCents: p.priceCents,
	}, p.apply)
}

// release returns quantity reserved units of an order to available, recording
// [StockReleased]. [OrderReservation.Release], its only caller, knows the
// order's reserved quantity and releases it once.
func (p *Product) release(orderID string, quantity int64) {
	p.root.Record(StockReleased{ProductID: p.ID(), OrderID: orderID, Quantity: quantity}, p.apply)
}

// quantityError is the validation error of a non-positive quantity.
func quantityError() error {
	var v domain.ValidationError
	v.Add("quantity", "must be greater than 0")
	return v.Err()
}
