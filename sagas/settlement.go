package sagas

import (
	"fmt"
	"slices"

	"github.com/shopflow/shopflow/domain"
	"github.com/shopflow/shopflow/domain/order"
	"github.com/shopflow/shopflow/internal/command"
)

// SettlementStreamType is the stream type of the orders context's saga state: one stream
// per order, "order_settlement-<order id>" in the orders database, holding what the orders
// reactor learnt from the other contexts before it could confirm the order. Confirming
// needs both the priced lines (inventory's OrderStockReserved) and the capture (payments'
// PaymentCaptured); the two come from different topics, in either order, so the first to
// arrive is recorded here, in the same transaction as its inbox entry, and the second
// confirms the order.
//
// Its events are published to the orders topic like every event of the orders database:
// consumers of that topic must ignore stream types and event types they do not know.
const SettlementStreamType = "order_settlement"

// Event types of the settlement stream. Stable: never rename them.
const (
	TypeSettlementPriced = "OrderSettlementPriced"
	TypeSettlementPaid   = "OrderSettlementPaid"
)

// SettlementPriced records the lines inventory reserved an order at, while its payment is
// not captured yet.
type SettlementPriced struct {
	OrderID    string             `json:"order_id"`
	Lines      []order.PricedLine `json:"lines"`
	TotalCents int64              `json:"total_cents"`
	Currency   string             `json:"currency"`
}

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
	domain.RegisterEvent[SettlementPriced](r)
	domain.RegisterEvent[SettlementPaid](r)
}

// settlement is the orders reactor's state of one order. Not safe for concurrent use.
type settlement struct {
	root   domain.Root
	priced *SettlementPriced
	paid   *SettlementPaid
}

// loadSettlement rehydrates the settlement of an order; an empty history is a new one.
func loadSettlement(orderID string, history []domain.Event) (*settlement, error) {
	s := &settlement{}
	s.root.SetID(orderID)
	if err := s.root.Load(history, s.apply); err != nil {
		return nil, fmt.Errorf("load settlement of order %s: %w", orderID, err)
	}
	return s, nil
}

func (s *settlement) ID() string              { return s.root.ID() }
func (s *settlement) Version() int64          { return s.root.Version() }
func (s *settlement) CommittedVersion() int64 { return s.root.CommittedVersion() }
func (s *settlement) Changes() []domain.Event { return s.root.Changes() }
func (s *settlement) MarkCommitted()          { s.root.MarkCommitted() }

// price records the priced lines once.
func (s *settlement) price(lines []order.PricedLine, totalCents int64, currency string) {
	if s.priced == nil {
		s.root.Record(SettlementPriced{OrderID: s.ID(), Lines: lines, TotalCents: totalCents, Currency: currency}, s.apply)
	}
}

// pay records the capture once.
func (s *settlement) pay(amountCents int64) {
	if s.paid == nil {
		s.root.Record(SettlementPaid{OrderID: s.ID(), AmountCents: amountCents}, s.apply)
	}
}

// apply is the only code that changes a settlement.
func (s *settlement) apply(e domain.Event) error {
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

// settlementType describes how settlements are stored.
func settlementType() command.AggregateType[*settlement] {
	return command.AggregateType[*settlement]{
		Name: SettlementStreamType, Register: RegisterSettlement, Load: loadSettlement,
	}
}
