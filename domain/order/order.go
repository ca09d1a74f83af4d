package order

import (
	"fmt"
	"slices"
	"time"

	"github.com/shopflow/shopflow/domain"
)

// AggregateType names the Order stream type, for stream ids and topics.
const AggregateType = "order"

// Status is an order's lifecycle state.
type Status string

// Order statuses.
const (
	StatusPending   Status = "pending"
	StatusConfirmed Status = "confirmed"
	StatusRejected  Status = "rejected"
	StatusCancelled Status = "cancelled"
)

// IsFinal reports whether no further transition is possible (rejected or cancelled).
func (s Status) IsFinal() bool { return s == StatusRejected || s == StatusCancelled }

// Reason is why an order was rejected. Its values mirror the failure reasons
// of the inventory and payments contexts, plus the saga's timeout.
type Reason string

// Rejection reasons.
const (
	ReasonInsufficientStock Reason = "insufficient_stock"
	ReasonUnknownProduct    Reason = "unknown_product"
	ReasonCurrencyMismatch  Reason = "currency_mismatch"
	ReasonInsufficientFunds Reason = "insufficient_funds"
	ReasonUnknownCustomer   Reason = "unknown_customer"
	ReasonTimeout           Reason = "timeout"
)

// Valid reports whether r is one of the rejection reasons.
func (r Reason) Valid() bool {
	switch r {
	case ReasonInsufficientStock, ReasonUnknownProduct, ReasonCurrencyMismatch,
		ReasonInsufficientFunds, ReasonUnknownCustomer, ReasonTimeout:
		return true
	}
	return false
}

// ErrNotCancellable is returned by Cancel for a rejected order.
var ErrNotCancellable = &domain.RuleError{
	Code:    "order_not_cancellable",
	Message: "only a pending or confirmed order can be cancelled",
}

// Order is the order aggregate. Create one with [Place] or rehydrate it with
// [Load]; the zero value is not usable. Not safe for concurrent use.
type Order struct {
	root         domain.Root
	customerID   string
	lines        []Line
	placedAt     time.Time
	status       Status
	priced       []PricedLine
	totalCents   int64
	currency     string
	rejectReason Reason
	cancelReason string
}

// Load rehydrates an order from its stream's events, oldest first, without
// running any command validation. It returns an error wrapping
// domain.ErrNotFound for an empty history, and one wrapping
// domain.ErrInvalidHistory or domain.ErrUnknownEventType for a stream that
// is not a valid order history.
func Load(history []domain.Event) (*Order, error) {
	if len(history) == 0 {
		return nil, fmt.Errorf("order: %w", domain.ErrNotFound)
	}
	o := &Order{}
	if err := o.root.Load(history, o.apply); err != nil {
		return nil, fmt.Errorf("load order: %w", err)
	}
	return o, nil
}

// ID returns the order id.
func (o *Order) ID() string { return o.root.ID() }

// Version returns the stream version including recorded changes (see domain.Root.Version).
func (o *Order) Version() int64 { return o.root.Version() }

// CommittedVersion returns the expected version for appending Changes.
func (o *Order) CommittedVersion() int64 { return o.root.CommittedVersion() }

// Changes returns the events recorded since loading, oldest first.
func (o *Order) Changes() []domain.Event { return o.root.Changes() }

// MarkCommitted forgets the recorded changes after a successful append.
func (o *Order) MarkCommitted() { o.root.MarkCommitted() }

// CustomerID returns the id of the customer who placed the order.
func (o *Order) CustomerID() string { return o.customerID }

// Status returns the lifecycle status.
func (o *Order) Status() Status { return o.status }

// Lines returns a copy of the ordered lines, in placement order.
func (o *Order) Lines() []Line { return slices.Clone(o.lines) }

// PlacedAt returns when the order was placed (UTC).
func (o *Order) PlacedAt() time.Time { return o.placedAt }

// PricedLines returns a copy of the confirmed priced lines (nil unless the
// order was confirmed; kept after a cancellation).
func (o *Order) PricedLines() []PricedLine { return slices.Clone(o.priced) }

// TotalCents returns the confirmed total (0 unless the order was confirmed).
func (o *Order) TotalCents() int64 { return o.totalCents }

// Currency returns the confirmed total's currency ("" unless confirmed).
func (o *Order) Currency() string { return o.currency }

// RejectReason returns why the order was rejected ("" unless rejected).
func (o *Order) RejectReason() Reason { return o.rejectReason }

// CancelReason returns the free-text cancellation reason, if any.
func (o *Order) CancelReason() string { return o.cancelReason }

// apply is the only code that changes an Order's state.
func (o *Order) apply(e domain.Event) error {
	if p, ok := e.(OrderPlaced); ok {
		if o.root.ID() != "" {
			return fmt.Errorf("%w: order %s placed twice", domain.ErrInvalidHistory, o.root.ID())
		}
		o.root.SetID(p.OrderID)
		o.customerID, o.placedAt, o.status = p.CustomerID, p.PlacedAt, StatusPending
		o.lines = slices.Clone(p.Lines)
		return nil
	}
	if o.root.ID() == "" {
		return fmt.Errorf("%w: %s before %s", domain.ErrInvalidHistory, e.EventType(), TypeOrderPlaced)
	}
	return o.applyChange(e)
}

// applyChange applies the events that follow OrderPlaced. On error the
// aggregate is discarded (Load fails, Record panics), so the order of the
// state change and the ownership check does not matter.
func (o *Order) applyChange(e domain.Event) error {
	switch e := e.(type) {
	case OrderConfirmed:
		o.status, o.totalCents, o.currency = StatusConfirmed, e.Total.AmountCents, e.Total.Currency
		o.priced = slices.Clone(e.Lines)
		return o.owns(e.OrderID)
	case OrderRejected:
		o.status, o.rejectReason = StatusRejected, e.Reason
		return o.owns(e.OrderID)
	case OrderCancelled:
		o.status, o.cancelReason = StatusCancelled, e.Reason
		return o.owns(e.OrderID)
	default:
		return fmt.Errorf("order: %w %q", domain.ErrUnknownEventType, e.EventType())
	}
}

// owns checks that an event's order id is this order's.
func (o *Order) owns(orderID string) error {
	if orderID != o.root.ID() {
		return fmt.Errorf("%w: event for order %s in stream of order %s",
			domain.ErrInvalidHistory, orderID, o.root.ID())
	}
	return nil
}
