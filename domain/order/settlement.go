package order

import (
	"fmt"
	"slices"

	"github.com/shopflow/shopflow/domain"
)

// SettlementAggregateType is the stream type of an order's settlement: one stream per
// order, "order_settlement-<order id>", in the orders database. It holds what the orders
// context learnt from the other contexts before it could confirm the order. Confirming
// needs both the priced lines (inventory's OrderStockReserved) and the capture (payments'
// PaymentCaptured); they come from different topics, in either order, so the first to
// arrive is recorded here and the second confirms the order.
//
// Its events are published to the orders topic like every event of the orders database:
// consumers of that topic must ignore stream types and event types they do not know.
const SettlementAggregateType = "order_settlement"

// Event types of the settlement stream. Stable: never rename them.
const (
	TypeSettlementPriced = "OrderSettlementPriced"
	TypeSettlementPaid   = "OrderSettlementPaid"
)

// SettlementPriced records the lines inventory reserved an order at, while its payment is
// not captured yet. Schema version 2 carries the total as one money object, like
// OrderConfirmed; version 1 is upcast.
type SettlementPriced struct {
	OrderID string       `json:"order_id"`
	Lines   []PricedLine `json:"lines"`
	Total   domain.Money `json:"total"`
}

// SchemaVersion returns 2: the total became a money object.
func (SettlementPriced) SchemaVersion() int { return 2 }

// SettlementPaid records that the order's payment was captured before its priced lines
// arrived.
type SettlementPaid struct {
	OrderID     string `json:"order_id"`
	AmountCents int64  `json:"amount_cents"`
}

// EventType returns TypeSettlementPriced.
func (SettlementPriced) EventType() string { return TypeSettlementPriced }

// EventType returns TypeSettlementPaid.
func (SettlementPaid) EventType() string { return TypeSettlementPaid }

// RegisterSettlement adds the settlement event types to r (see domain.Registry.Register).
func RegisterSettlement(r *domain.Registry) {
	domain.RegisterEvent[SettlementPriced](r, upcastTotal)
	domain.RegisterEvent[SettlementPaid](r)
}

// Settlement is the orders context's record of what it learnt about one order from the
// other contexts. Not safe for concurrent use.
type Settlement struct {
	root   domain.Root
	priced *SettlementPriced
	paid   *SettlementPaid
}

// LoadSettlement rehydrates the settlement of an order; an empty history is a new one. It
// returns an error wrapping domain.ErrInvalidHistory or domain.ErrUnknownEventType for a
// stream that is not a settlement of orderID.
func LoadSettlement(orderID string, history []domain.Event) (*Settlement, error) {
	s := &Settlement{}
	s.root.SetID(orderID)
	if err := s.root.Load(history, s.apply); err != nil {
		return nil, fmt.Errorf("load settlement of order %s: %w", orderID, err)
	}
	return s, nil
}

// Priced returns the priced lines recorded while the payment was not captured, and false
// if none are.
func (s *Settlement) Priced() (SettlementPriced, bool) {
	if s.priced == nil {
		return SettlementPriced{}, false
	}
	p := *s.priced
	p.Lines = slices.Clone(p.Lines)
	return p, true
}

// Paid returns the capture recorded before the priced lines arrived, and false if none is.
func (s *Settlement) Paid() (SettlementPaid, bool) {
	if s.paid == nil {
		return SettlementPaid{}, false
	}
	return *s.paid, true
}

// ID returns the order's id.
func (s *Settlement) ID() string { return s.root.ID() }

// Version returns the settlement stream's version, recorded changes included.
func (s *Settlement) Version() int64 { return s.root.Version() }

// CommittedVersion returns the version the settlement was loaded or last committed at.
func (s *Settlement) CommittedVersion() int64 { return s.root.CommittedVersion() }

// Changes returns the events recorded since the last commit.
func (s *Settlement) Changes() []domain.Event { return s.root.Changes() }

// MarkCommitted marks the recorded changes as stored.
func (s *Settlement) MarkCommitted() { s.root.MarkCommitted() }

// StockReserved settles inventory's reservation of pending order o at lines: it confirms
// o if the payment was captured first, else records the priced lines. A second
// reservation changes nothing. A capture of another amount than the reserved total is an
// error: the contexts disagree, and no retry can fix it.
func (s *Settlement) StockReserved(o *Order, lines []PricedLine, totalCents int64, currency string) error {
	switch {
	case s.priced != nil:
		return nil
	case s.paid == nil:
		s.root.Record(SettlementPriced{OrderID: s.ID(), Lines: lines, Total: domain.Money{AmountCents: totalCents, Currency: currency}}, s.apply)
		return nil
	}
	return confirmAt(o, lines, totalCents, currency, s.paid.AmountCents)
}

// PaymentCaptured settles the capture of amountCents for pending order o: it confirms o if
// its priced lines are known, else records the capture. A second capture changes nothing.
// See StockReserved for the error.
func (s *Settlement) PaymentCaptured(o *Order, amountCents int64) error {
	switch {
	case s.paid != nil:
		return nil
	case s.priced == nil:
		s.root.Record(SettlementPaid{OrderID: s.ID(), AmountCents: amountCents}, s.apply)
		return nil
	}
	return confirmAt(o, s.priced.Lines, s.priced.Total.AmountCents, s.priced.Total.Currency, amountCents)
}

// confirmAt confirms o at the priced lines, if the captured amount is their total.
func confirmAt(o *Order, lines []PricedLine, totalCents int64, currency string, capturedCents int64) error {
	if capturedCents != totalCents {
		return fmt.Errorf("confirm order %s: captured %d cents, reserved total %d", o.ID(), capturedCents, totalCents)
	}
	return o.Confirm(lines, currency)
}

// apply is the only code that changes a settlement.
func (s *Settlement) apply(e domain.Event) error {
	var orderID string
	switch e := e.(type) {
	case SettlementPriced:
		e.Lines = slices.Clone(e.Lines)
		s.priced, orderID = &e, e.OrderID
	case SettlementPaid:
		s.paid, orderID = &e, e.OrderID
	default:
		return fmt.Errorf("settlement: %w %q", domain.ErrUnknownEventType, e.EventType())
	}
	if orderID != s.ID() {
		return fmt.Errorf("%w: event for order %s in settlement stream of order %s", domain.ErrInvalidHistory, orderID, s.ID())
	}
	return nil
}
