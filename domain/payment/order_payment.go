package payment

import (
	"errors"
	"fmt"

	"github.com/shopflow/shopflow/domain"
)

// OrderPaymentAggregateType names the OrderPayment stream type, for stream ids:
// "order_payment-<order id>" in the payments database.
const OrderPaymentAggregateType = "order_payment"

// ErrOtherAccount is returned (wrapped) by [OrderPayment.Refund] when the order was paid
// from another account than the one given.
var ErrOtherAccount = errors.New("order paid from another account")

// OrderPayment is the payment of one order; its stream id is the order id. It remembers
// what the payments context did for the order, so that each order is charged at most once
// and refunded at most once, and it charges and refunds the customer's [Account], which
// keeps only its balance. Get one with [LoadOrderPayment]. Not safe for concurrent use.
type OrderPayment struct {
	root       domain.Root
	customerID string
	payment    Payment
}

// LoadOrderPayment rehydrates the payment of an order from its stream's events, oldest
// first, without running any command validation. An empty history gives a new payment in
// state PaymentStateNone. It returns an error wrapping domain.ErrInvalidHistory or
// domain.ErrUnknownEventType for a stream that is not a valid payment history of orderID.
func LoadOrderPayment(orderID string, history []domain.Event) (*OrderPayment, error) {
	p := &OrderPayment{payment: Payment{State: PaymentStateNone}}
	p.root.SetID(orderID)
	if err := p.root.Load(history, p.apply); err != nil {
		return nil, fmt.Errorf("load payment of order %s: %w", orderID, err)
	}
	return p, nil
}

// ID returns the order id.
func (p *OrderPayment) ID() string { return p.root.ID() }

// Version returns the stream version including recorded changes (see domain.Root.Version).
func (p *OrderPayment) Version() int64 { return p.root.Version() }

// CommittedVersion returns the expected version for appending Changes.
func (p *OrderPayment) CommittedVersion() int64 { return p.root.CommittedVersion() }

// Changes returns the events recorded since loading, oldest first.
func (p *OrderPayment) Changes() []domain.Event { return p.root.Changes() }

// MarkCommitted forgets the recorded changes after a successful append.
func (p *OrderPayment) MarkCommitted() { p.root.MarkCommitted() }

// Payment returns what was done for the order; its State is PaymentStateNone while
// nothing was.
func (p *OrderPayment) Payment() Payment { return p.payment }

// CustomerID returns the customer whose account was charged or declined ("" while
// nothing was done).
func (p *OrderPayment) CustomerID() string { return p.customerID }

// Capture charges the order's amount to the account: PaymentCaptured on the account and
// [OrderPaymentCaptured] here, or PaymentDeclined{insufficient_funds} and
// [OrderPaymentDeclined] if the balance is smaller (a fact, not an error). A zero amount (an
// order of free products) is captured. If the order was handled already (captured,
// declined or refunded, here or, for orders paid before per-order payment streams, in the
// account's own record) it records nothing and returns nil. The order id must be non-empty
// and amountCents not negative (else *domain.ValidationError).
//
// The caller must append the changes of p and of the account in one transaction.
func (p *OrderPayment) Capture(a *Account, amountCents int64) error {
	var v domain.ValidationError
	v.Check(p.ID() != "", "order_id", "is required")
	v.Check(amountCents >= 0, "amount_cents", "must not be negative")
	if err := v.Err(); err != nil {
		return err
	}
	if _, handled := p.handled(a); handled {
		return nil
	}
	if amountCents > a.BalanceCents() {
		p.decline(a, ReasonInsufficientFunds)
		return nil
	}
	a.recordPayment(PaymentCaptured{CustomerID: a.ID(), OrderID: p.ID(), AmountCents: amountCents})
	p.root.Record(OrderPaymentCaptured{OrderID: p.ID(), CustomerID: a.ID(), AmountCents: amountCents}, p.apply)
	return nil
}

// Refund compensates a cancelled or timed-out order. A captured payment is refunded in
// full: PaymentRefunded on the account and [OrderPaymentRefunded] here. An order never
// handled is closed: PaymentDeclined{order_closed} and [OrderPaymentDeclined], so a capture
// request arriving later is ignored. A declined or refunded order records nothing and
// returns nil. The order id must be non-empty (else *domain.ValidationError); a payment
// captured from another account gives an error wrapping [ErrOtherAccount].
//
// The caller must append the changes of p and of the account in one transaction.
func (p *OrderPayment) Refund(a *Account) error {
	if p.ID() == "" {
		var v domain.ValidationError
		v.Add("order_id", "is required")
		return v.Err()
	}
	pay, handled := p.handled(a)
	switch {
	case !handled:
		p.decline(a, ReasonOrderClosed)
	case pay.State != PaymentStateCaptured:
	case p.customerID != "" && p.customerID != a.ID():
		return fmt.Errorf("refund order %s to account %s: captured from %s: %w", p.ID(), a.ID(), p.customerID, ErrOtherAccount)
	default:
		a.recordPayment(PaymentRefunded{CustomerID: a.ID(), OrderID: p.ID(), AmountCents: pay.AmountCents})
		p.root.Record(OrderPaymentRefunded{OrderID: p.ID(), CustomerID: a.ID(), AmountCents: pay.AmountCents}, p.apply)
	}
	return nil
}

// DeclineUnknownCustomer declines the order of a customer who has no account. Both facts
// go to this stream, as there is no account stream to hold the first:
// PaymentDeclined{unknown_customer} (see [DeclineUnknownCustomer]), which the other
// contexts react to, and [OrderPaymentDeclined]. Recorded here, the decline also refuses a
// capture for the order should an account with that id appear later. An order handled
// already records nothing and returns nil. The order and customer ids must be non-empty
// (else *domain.ValidationError).
func (p *OrderPayment) DeclineUnknownCustomer(customerID string) error {
	var v domain.ValidationError
	v.Check(p.ID() != "", "order_id", "is required")
	v.Check(customerID != "", "customer_id", "is required")
	if err := v.Err(); err != nil {
		return err
	}
	if p.payment.State != PaymentStateNone {
		return nil
	}
	p.root.Record(DeclineUnknownCustomer(customerID, p.ID()), p.apply)
	p.root.Record(OrderPaymentDeclined{OrderID: p.ID(), CustomerID: customerID, Reason: ReasonUnknownCustomer}, p.apply)
	return nil
}

// handled returns what was done for the order: this stream's state, or else what the
// account remembers of it from before per-order payment streams.
func (p *OrderPayment) handled(a *Account) (Payment, bool) {
	if p.payment.State != PaymentStateNone {
		return p.payment, true
	}
	return a.legacyPayment(p.ID())
}

// decline records PaymentDeclined on the account and OrderPaymentDeclined here.
func (p *OrderPayment) decline(a *Account, reason Reason) {
	a.recordPayment(PaymentDeclined{CustomerID: a.ID(), OrderID: p.ID(), Reason: reason})
	p.root.Record(OrderPaymentDeclined{OrderID: p.ID(), CustomerID: a.ID(), Reason: reason}, p.apply)
}

// apply is the only code that changes an OrderPayment's state. On error the aggregate is
// discarded.
func (p *OrderPayment) apply(e domain.Event) error {
	switch e := e.(type) {
	case OrderPaymentCaptured:
		p.customerID, p.payment = e.CustomerID, Payment{AmountCents: e.AmountCents, State: PaymentStateCaptured}
		return p.owns(e.OrderID)
	case OrderPaymentDeclined:
		p.customerID, p.payment = e.CustomerID, Payment{State: PaymentStateDeclined, Reason: e.Reason}
		return p.owns(e.OrderID)
	case OrderPaymentRefunded:
		p.customerID, p.payment = e.CustomerID, Payment{AmountCents: e.AmountCents, State: PaymentStateRefunded}
		return p.owns(e.OrderID)
	case PaymentDeclined: // only DeclineUnknownCustomer's, with the OrderPaymentDeclined after it
		if e.Reason != ReasonUnknownCustomer {
			return fmt.Errorf("%w: PaymentDeclined{%s} in the payment stream of order %s", domain.ErrInvalidHistory, e.Reason, e.OrderID)
		}
		return p.owns(e.OrderID)
	default:
		return fmt.Errorf("order payment: %w %q", domain.ErrUnknownEventType, e.EventType())
	}
}

// owns checks that an event's order id is this payment's.
func (p *OrderPayment) owns(orderID string) error {
	if orderID != p.root.ID() {
		return fmt.Errorf("%w: event for order %s in payment stream of order %s",
			domain.ErrInvalidHistory, orderID, p.root.ID())
	}
	return nil
}
