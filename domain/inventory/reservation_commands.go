package inventory

import (
	"errors"
	"fmt"

	"github.com/shopflow/shopflow/domain"
)

// ErrMissingProduct is returned (wrapped) by Release when a reserved
// product is not in the products map: load every id of ProductIDs.
var ErrMissingProduct = errors.New("reserved product not loaded")

// Reserve reserves every line of the order on the given products, all or
// nothing (see the package documentation for the saga's steps). products
// maps product id to the loaded aggregate; an id that is absent or nil is an
// unknown product.
//
// If the order already has an outcome it records nothing and returns nil.
// Otherwise it returns a *domain.ValidationError unless customerID is
// non-empty and lines hold 1 to domain.MaxOrderLines lines with a non-empty
// product_id, a quantity from 1 to domain.MaxLineQuantity and no product
// twice. Then it records exactly one of:
//   - [OrderStockReservationFailed] reason unknown_product, listing the
//     unknown products; no product changes;
//   - reason currency_mismatch, listing the products whose currency differs
//     from the first line's; no product changes;
//   - reason insufficient_stock, listing the short products, each of which
//     records [StockReservationFailed]; no stock moves;
//   - [OrderStockReserved], each product recording [StockReserved].
//
// The caller must append the changes of r and of every product in one
// transaction: r is what remembers that the order was handled (products keep
// nothing per order), so appending a product's changes without r's would let
// a redelivered OrderPlaced reserve again. On an error the caller must append
// nothing.
func (r *OrderReservation) Reserve(customerID string, lines []Line, products map[string]*Product) error {
	if r.status != ReservationNone {
		return nil
	}
	if err := checkReserveInput(customerID, lines); err != nil {
		return err
	}
	if ids := unknownProducts(lines, products); len(ids) > 0 {
		r.fail(customerID, ReasonUnknownProduct, ids)
		return nil
	}
	if ids := otherCurrencies(lines, products); len(ids) > 0 {
		r.fail(customerID, ReasonCurrencyMismatch, ids)
		return nil
	}
	if ids := r.recordShortages(lines, products); len(ids) > 0 {
		r.fail(customerID, ReasonInsufficientStock, ids)
		return nil
	}
	r.reserveAll(customerID, lines, products)
	return nil
}

// checkReserveInput validates the order lines given to Reserve.
func checkReserveInput(customerID string, lines []Line) error {
	var v domain.ValidationError
	v.Check(customerID != "", "customer_id", "is required")
	v.Check(len(lines) > 0 && len(lines) <= domain.MaxOrderLines,
		"lines", fmt.Sprintf("must contain 1 to %d lines", domain.MaxOrderLines))
	seen := make(map[string]bool, len(lines))
	for i, l := range lines {
		field := fmt.Sprintf("lines[%d].", i)
		v.Check(l.ProductID != "" && !seen[l.ProductID], field+"product_id", "is required and unique")
		v.Check(l.Quantity > 0 && l.Quantity <= domain.MaxLineQuantity,
			field+"quantity", fmt.Sprintf("must be from 1 to %d", domain.MaxLineQuantity))
		seen[l.ProductID] = true
	}
	return v.Err()
}

// unknownProducts returns the ids of lines whose product is not loaded.
func unknownProducts(lines []Line, products map[string]*Product) []string {
	var ids []string
	for _, l := range lines {
		if products[l.ProductID] == nil {
			ids = append(ids, l.ProductID)
		}
	}
	return ids
}

// otherCurrencies returns the ids of lines priced in another currency than
// the first line.
func otherCurrencies(lines []Line, products map[string]*Product) []string {
	var ids []string
	currency := products[lines[0].ProductID].Currency()
	for _, l := range lines[1:] {
		if products[l.ProductID].Currency() != currency {
			ids = append(ids, l.ProductID)
		}
	}
	return ids
}

// recordShortages makes every product short of stock record
// StockReservationFailed and returns their ids.
func (r *OrderReservation) recordShortages(lines []Line, products map[string]*Product) []string {
	var ids []string
	for _, l := range lines {
		p := products[l.ProductID]
		if p.CanReserve(l.Quantity) != nil {
			ids = append(ids, l.ProductID)
			p.reserve(r.ID(), l.Quantity) // records the failure
		}
	}
	return ids
}

// reserveAll reserves every line (all are known to be available) and
// records OrderStockReserved.
func (r *OrderReservation) reserveAll(customerID string, lines []Line, products map[string]*Product) {
	reserved := make([]ReservedLine, 0, len(lines))
	var total int64
	for _, l := range lines {
		p := products[l.ProductID]
		p.reserve(r.ID(), l.Quantity)
		reserved = append(reserved, ReservedLine{
			ProductID: p.ID(), SKU: p.SKU(), Name: p.Name(), Quantity: l.Quantity, UnitPriceCents: p.PriceCents(),
		})
		total += l.Quantity * p.PriceCents() // bounded by the domain limits
	}
	r.root.Record(OrderStockReserved{
		OrderID: r.ID(), CustomerID: customerID, Lines: reserved,
		Total: domain.Money{AmountCents: total, Currency: products[lines[0].ProductID].Currency()},
	}, r.apply)
}

// fail records OrderStockReservationFailed.
func (r *OrderReservation) fail(customerID string, reason Reason, productIDs []string) {
	r.root.Record(OrderStockReservationFailed{
		OrderID: r.ID(), CustomerID: customerID, Reason: reason, ProductIDs: productIDs,
	}, r.apply)
}

// Release ends the order's reservation, recording [OrderStockReleased] and,
// on each reserved product, [StockReleased]. products maps product id to the
// loaded aggregate and must hold every id of [OrderReservation.ProductIDs]
// (else an error wrapping [ErrMissingProduct], nothing recorded). A product
// holding fewer reserved units than the order reserved on it gives an error
// wrapping domain.ErrInvalidHistory (its stream and the reservation's were not
// appended together), nothing recorded.
//
// If nothing was reserved yet it records OrderStockReleased with no lines,
// closing the reservation so a late Reserve does nothing. If the reservation
// failed or was released already it records nothing and returns nil. The
// caller must append the changes of r and of every product in one
// transaction.
func (r *OrderReservation) Release(products map[string]*Product) error {
	switch r.status {
	case ReservationFailed, ReservationReleased:
		return nil
	case ReservationNone:
		r.root.Record(OrderStockReleased{OrderID: r.ID(), Lines: []Line{}}, r.apply)
		return nil
	}
	for _, l := range r.lines {
		p := products[l.ProductID]
		if p == nil {
			return fmt.Errorf("release order %s: product %s: %w", r.ID(), l.ProductID, ErrMissingProduct)
		}
		if p.Reserved() < l.Quantity {
			return fmt.Errorf("release order %s: product %s holds %d reserved units, not the %d reserved: %w",
				r.ID(), p.ID(), p.Reserved(), l.Quantity, domain.ErrInvalidHistory)
		}
	}
	released := make([]Line, len(r.lines))
	for i, l := range r.lines {
		products[l.ProductID].release(r.ID(), l.Quantity)
		released[i] = Line{ProductID: l.ProductID, Quantity: l.Quantity}
	}
	r.root.Record(OrderStockReleased{OrderID: r.ID(), Lines: released}, r.apply)
	return nil
}
