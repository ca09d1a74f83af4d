package order

import (
	"fmt"
	"time"

	"github.com/shopflow/shopflow/domain"
)

// Limits of an order.
const (
	// MaxLines is the largest number of lines in one order.
	MaxLines = domain.MaxOrderLines
	// MaxLineQuantity is the largest quantity of one line.
	MaxLineQuantity = domain.MaxLineQuantity
	// MaxCancelReason is the longest cancellation reason, in characters.
	MaxCancelReason = 500
)

// Place creates a pending order, recording [OrderPlaced]. placedAt is stored
// in UTC. It returns a *domain.ValidationError listing every invalid field:
// order_id and customer_id must be non-empty; lines must hold 1 to MaxLines
// lines with a non-empty product_id, a quantity from 1 to MaxLineQuantity,
// and no product twice; placed_at must be set.
func Place(orderID, customerID string, lines []Line, placedAt time.Time) (*Order, error) {
	var v domain.ValidationError
	v.Check(orderID != "", "order_id", "is required")
	v.Check(customerID != "", "customer_id", "is required")
	v.Check(!placedAt.IsZero(), "placed_at", "is required")
	checkLines(&v, lines)
	if err := v.Err(); err != nil {
		return nil, err
	}
	o := &Order{}
	o.root.Record(OrderPlaced{
		OrderID:    orderID,
		CustomerID: customerID,
		Lines:      append([]Line(nil), lines...),
		PlacedAt:   placedAt.UTC(),
	}, o.apply)
	return o, nil
}

// checkLines validates the lines of a new order.
func checkLines(v *domain.ValidationError, lines []Line) {
	switch {
	case len(lines) == 0:
		v.Add("lines", "must contain at least one line")
	case len(lines) > MaxLines:
		v.Add("lines", fmt.Sprintf("must contain at most %d lines", MaxLines))
	}
	seen := make(map[string]bool, len(lines))
	for i, l := range lines {
		field := fmt.Sprintf("lines[%d].", i)
		v.Check(l.ProductID != "", field+"product_id", "is required")
		v.Check(!seen[l.ProductID] || l.ProductID == "", field+"product_id", "duplicates an earlier line")
		v.Check(l.Quantity > 0, field+"quantity", "must be greater than 0")
		v.Check(l.Quantity <= MaxLineQuantity, field+"quantity",
			fmt.Sprintf("must be at most %d", MaxLineQuantity))
		seen[l.ProductID] = true
	}
}

// Confirm confirms a pending order at the reserved prices, recording
// [OrderConfirmed] with the total. The saga calls it on PaymentCaptured.
//
// If the order is not pending it records nothing and returns nil: a
// duplicate or late message (the order may have been cancelled or timed out
// meanwhile; payments then refunds, see the package documentation).
// Otherwise it returns a *domain.ValidationError unless currency is an ISO
// code and lines price exactly the placed lines (same products and
// quantities, in any order) with a SKU, a name and a unit price from 0 to
// domain.MaxPriceCents.
func (o *Order) Confirm(lines []PricedLine, currency string) error {
	if o.status != StatusPending {
		return nil
	}
	var v domain.ValidationError
	v.Check(domain.IsCurrency(currency), "currency", "must be 3 upper-case letters (ISO 4217)")
	ordered := o.checkPricedLines(&v, lines)
	if err := v.Err(); err != nil {
		return err
	}
	var total int64
	for _, l := range ordered {
		total += l.Quantity * l.UnitPriceCents // bounded by MaxLines, MaxLineQuantity, MaxPriceCents
	}
	o.root.Record(OrderConfirmed{OrderID: o.ID(), Lines: ordered, Total: domain.Money{AmountCents: total, Currency: currency}}, o.apply)
	return nil
}

// checkPricedLines validates priced lines against the placed lines and
// returns them in placement order.
func (o *Order) checkPricedLines(v *domain.ValidationError, lines []PricedLine) []PricedLine {
	byProduct := make(map[string]PricedLine, len(lines))
	for i, l := range lines {
		field := fmt.Sprintf("lines[%d].", i)
		_, dup := byProduct[l.ProductID]
		v.Check(!dup, field+"product_id", "duplicates an earlier line")
		v.Required(field+"sku", l.SKU, 64)
		v.Required(field+"name", l.Name, 200)
		v.Check(l.UnitPriceCents >= 0 && l.UnitPriceCents <= domain.MaxPriceCents,
			field+"unit_price_cents", fmt.Sprintf("must be from 0 to %d", domain.MaxPriceCents))
		byProduct[l.ProductID] = l
	}
	v.Check(len(lines) == len(o.lines), "lines", "must price every placed line exactly once")
	ordered := make([]PricedLine, 0, len(o.lines))
	for _, placed := range o.lines {
		l, ok := byProduct[placed.ProductID]
		if !ok || l.Quantity != placed.Quantity {
			v.Add("lines", fmt.Sprintf("must price product %s with quantity %d", placed.ProductID, placed.Quantity))
			continue
		}
		ordered = append(ordered, l)
	}
	return ordered
}

// Reject rejects a pending order, recording [OrderRejected]. The saga calls
// it on a stock or payment failure, or when the order times out.
//
// If the order is not pending it records nothing and returns nil (duplicate
// or late message). Otherwise it returns a *domain.ValidationError if reason
// is not one of the Reason constants.
func (o *Order) Reject(reason Reason) error {
	if o.status != StatusPending {
		return nil
	}
	if !reason.Valid() {
		var v domain.ValidationError
		v.Add("reason", fmt.Sprintf("unknown rejection reason %q", reason))
		return v.Err()
	}
	o.root.Record(OrderRejected{OrderID: o.ID(), CustomerID: o.customerID, Reason: reason}, o.apply)
	return nil
}

// Cancel cancels a pending or confirmed order, recording [OrderCancelled]
// with the status it had. reason is optional free text of at most
// MaxCancelReason characters (else *domain.ValidationError).
//
// Cancelling a cancelled order records nothing and returns nil, so a
// retried request succeeds. Cancelling a rejected order returns
// [ErrNotCancellable].
func (o *Order) Cancel(reason string) error {
	switch o.status {
	case StatusCancelled:
		return nil
	case StatusRejected:
		return fmt.Errorf("cancel order %s: %w", o.ID(), ErrNotCancellable)
	}
	var v domain.ValidationError
	v.MaxLen("reason", reason, MaxCancelReason)
	if err := v.Err(); err != nil {
		return err
	}
	o.root.Record(OrderCancelled{
		OrderID: o.ID(), CustomerID: o.customerID, PreviousStatus: o.status, Reason: reason,
	}, o.apply)
	return nil
}
