package inventory

import (
	"fmt"
	"slices"

	"github.com/shopflow/shopflow/domain"
)

// ReservationAggregateType names the OrderReservation stream type, for
// stream ids and topics.
const ReservationAggregateType = "order_reservation"

// ReservationStatus is the order-level outcome of a reservation.
type ReservationStatus string

// Reservation statuses.
const (
	// ReservationNone: nothing happened for the order yet.
	ReservationNone ReservationStatus = "none"
	// ReservationReserved: every line is held.
	ReservationReserved ReservationStatus = "reserved"
	// ReservationFailed: nothing was held (final).
	ReservationFailed ReservationStatus = "failed"
	// ReservationReleased: the held lines went back to stock, or the order
	// was closed before anything was held (final).
	ReservationReleased ReservationStatus = "released"
)

// OrderReservation is the order-level reservation aggregate; its stream id
// is the order id. Get one with [LoadOrderReservation]. Not safe for
// concurrent use.
type OrderReservation struct {
	root       domain.Root
	status     ReservationStatus
	customerID string
	lines      []ReservedLine
	totalCents int64
	currency   string
	reason     Reason
}

// LoadOrderReservation rehydrates the reservation of an order from its
// stream's events, oldest first, without running any command validation. An
// empty history gives a new reservation in status ReservationNone. It returns
// an error wrapping domain.ErrInvalidHistory or domain.ErrUnknownEventType
// for a stream that is not a valid reservation history of orderID.
func LoadOrderReservation(orderID string, history []domain.Event) (*OrderReservation, error) {
	r := &OrderReservation{status: ReservationNone}
	r.root.SetID(orderID)
	if err := r.root.Load(history, r.apply); err != nil {
		return nil, fmt.Errorf("load reservation of order %s: %w", orderID, err)
	}
	return r, nil
}

// ID returns the order id.
func (r *OrderReservation) ID() string { return r.root.ID() }

// Version returns the stream version including recorded changes (see domain.Root.Version).
func (r *OrderReservation) Version() int64 { return r.root.Version() }

// CommittedVersion returns the expected version for appending Changes.
func (r *OrderReservation) CommittedVersion() int64 { return r.root.CommittedVersion() }

// Changes returns the events recorded since loading, oldest first.
func (r *OrderReservation) Changes() []domain.Event { return r.root.Changes() }

// MarkCommitted forgets the recorded changes after a successful append.
func (r *OrderReservation) MarkCommitted() { r.root.MarkCommitted() }

// Status returns the reservation's outcome so far.
func (r *OrderReservation) Status() ReservationStatus { return r.status }

// CustomerID returns the ordering customer ("" if nothing was reserved or failed).
func (r *OrderReservation) CustomerID() string { return r.customerID }

// Lines returns a copy of the reserved lines (kept after a release).
func (r *OrderReservation) Lines() []ReservedLine { return slices.Clone(r.lines) }

// TotalCents returns the reserved lines' total.
func (r *OrderReservation) TotalCents() int64 { return r.totalCents }

// Currency returns the total's currency.
func (r *OrderReservation) Currency() string { return r.currency }

// FailureReason returns why the reservation failed ("" unless it failed).
func (r *OrderReservation) FailureReason() Reason { return r.reason }

// ProductIDs returns the ids of the reserved products, the ones
// [OrderReservation.Release] needs.
func (r *OrderReservation) ProductIDs() []string {
	ids := make([]string, len(r.lines))
	for i, l := range r.lines {
		ids[i] = l.ProductID
	}
	return ids
}

// apply is the only code that changes an OrderReservation's state. On error
// the aggregate is discarded.
func (r *OrderReservation) apply(e domain.Event) error {
	switch e := e.(type) {
	case OrderStockReserved:
		r.status, r.customerID, r.totalCents, r.currency = ReservationReserved, e.CustomerID, e.Total.AmountCents, e.Total.Currency
		r.lines = slices.Clone(e.Lines)
		return r.owns(e.OrderID)
	case OrderStockReservationFailed:
		r.status, r.customerID, r.reason = ReservationFailed, e.CustomerID, e.Reason
		return r.owns(e.OrderID)
	case OrderStockReleased:
		r.status = ReservationReleased
		return r.owns(e.OrderID)
	default:
		return fmt.Errorf("order reservation: %w %q", domain.ErrUnknownEventType, e.EventType())
	}
}

// owns checks that an event's order id is this reservation's.
func (r *OrderReservation) owns(orderID string) error {
	if orderID != r.root.ID() {
		return fmt.Errorf("%w: event for order %s in reservation stream of order %s",
			domain.ErrInvalidHistory, orderID, r.root.ID())
	}
	return nil
}
