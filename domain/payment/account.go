package payment

import (
	"fmt"

	"github.com/shopflow/shopflow/domain"
)

// AggregateType names the Account stream type, for stream ids and topics.
const AggregateType = "account"

// PaymentState is what the payments context did for one order.
type PaymentState string

// Payment states.
const (
	// PaymentStateNone: nothing yet (an order's payment stream that is still empty).
	PaymentStateNone     PaymentState = "none"
	PaymentStateCaptured PaymentState = "captured"
	PaymentStateDeclined PaymentState = "declined"
	PaymentStateRefunded PaymentState = "refunded"
)

// Payment is what the payments context did for one order.
type Payment struct {
	// AmountCents is the captured (and, once refunded, refunded) amount;
	// 0 when declined.
	AmountCents int64        `json:"amount_cents"`
	State       PaymentState `json:"state"`
	// Reason is set when the payment was declined.
	Reason Reason `json:"reason,omitempty"`
}

// Account is the customer account aggregate; its id is the customer id.
// Create one with [Open], rehydrate it with [Load] or restore it from a
// snapshot with [Restore]; the zero value is not usable. Not safe for
// concurrent use.
//
// Its state is bounded: profile and balance. Which orders were captured,
// declined or refunded is kept in each order's payment stream
// ([OrderPayment]), which charges and refunds the account. Only the payment
// events recorded before the account's [PaymentRecordsMoved] event — by
// releases of Shopflow that kept payments in the account, so their orders
// have no payment stream — are remembered by the account itself, per order:
// that legacy part never grows.
type Account struct {
	root domain.Root
	// name and email are as AccountOpened recorded them: sealed (or, for accounts opened
	// before sealing, clear); empty once forgotten.
	name      string
	email     string
	forgotten bool
	balance   int64
	// moved is set by PaymentRecordsMoved: later payment events are remembered by the
	// orders' payment streams, not here.
	moved  bool
	legacy map[string]Payment // by order id, payments recorded before moved
}

// Load rehydrates an account from its stream's events, oldest first, without
// running any command validation. It returns an error wrapping
// domain.ErrNotFound for an empty history (the saga then uses
// [DeclineUnknownCustomer]), and one wrapping domain.ErrInvalidHistory or
// domain.ErrUnknownEventType for a stream that is not a valid account history.
func Load(history []domain.Event) (*Account, error) {
	if len(history) == 0 {
		return nil, fmt.Errorf("account: %w", domain.ErrNotFound)
	}
	a := &Account{}
	if err := a.root.Load(history, a.apply); err != nil {
		return nil, fmt.Errorf("load account: %w", err)
	}
	return a, nil
}

// Advance applies the events recorded in the account's stream after its version, oldest
// first, as Load does: an account kept from an earlier load catches up with its stream
// instead of being rehydrated from the start. The account must have no uncommitted changes;
// after an error it must be discarded.
func (a *Account) Advance(history []domain.Event) error {
	if len(a.root.Changes()) > 0 {
		return fmt.Errorf("account %s: advance with uncommitted changes", a.root.ID())
	}
	if err := a.root.Load(history, a.apply); err != nil {
		return fmt.Errorf("advance account: %w", err)
	}
	return nil
}

// ID returns the customer id.
func (a *Account) ID() string { return a.root.ID() }

// Version returns the stream version including recorded changes (see domain.Root.Version).
func (a *Account) Version() int64 { return a.root.Version() }

// CommittedVersion returns the expected version for appending Changes.
func (a *Account) CommittedVersion() int64 { return a.root.CommittedVersion() }

// Changes returns the events recorded since loading, oldest first.
func (a *Account) Changes() []domain.Event { return a.root.Changes() }

// MarkCommitted forgets the recorded changes after a successful append.
func (a *Account) MarkCommitted() { a.root.MarkCommitted() }

// Name returns the customer's name as recorded: sealed (see [OpenSealed]) or, for an
// account opened before sealing, clear; empty once the customer is forgotten.
func (a *Account) Name() string { return a.name }

// Email returns the customer's email address as recorded, like Name.
func (a *Account) Email() string { return a.email }

// Forgotten reports whether the customer was forgotten ([CustomerForgotten]).
func (a *Account) Forgotten() bool { return a.forgotten }

// BalanceCents returns the available balance in minor units.
func (a *Account) BalanceCents() int64 { return a.balance }

// legacyPayment returns what the account did for an order before its payment records
// moved to the orders' payment streams, if anything.
func (a *Account) legacyPayment(orderID string) (Payment, bool) {
	p, ok := a.legacy[orderID]
	return p, ok
}

// recordPayment records a payment event, after PaymentRecordsMoved if the account has not
// recorded that yet: a payment recorded from now on is remembered by its order's stream.
func (a *Account) recordPayment(e domain.Event) {
	if !a.moved {
		a.root.Record(PaymentRecordsMoved{CustomerID: a.ID()}, a.apply)
	}
	a.root.Record(e, a.apply)
}

// apply is the only code that changes an Account's state.
func (a *Account) apply(e domain.Event) error {
	if o, ok := e.(AccountOpened); ok {
		if a.root.ID() != "" {
			return fmt.Errorf("%w: account %s opened twice", domain.ErrInvalidHistory, a.root.ID())
		}
		a.root.SetID(o.CustomerID)
		a.name, a.email = o.Name, o.Email
		return nil
	}
	if a.root.ID() == "" {
		return fmt.Errorf("%w: %s before %s", domain.ErrInvalidHistory, e.EventType(), TypeAccountOpened)
	}
	return a.applyChange(e)
}

// applyChange applies the events that follow AccountOpened. On error the
// aggregate is discarded, so the order of the state change and the
// ownership check does not matter.
func (a *Account) applyChange(e domain.Event) error {
	switch e := e.(type) {
	case FundsDeposited:
		a.balance += e.AmountCents
		return a.owns(e.CustomerID)
	case PaymentRecordsMoved:
		a.moved = true
		return a.owns(e.CustomerID)
	case CustomerForgotten:
		a.name, a.email, a.forgotten = "", "", true
		return a.owns(e.CustomerID)
	case PaymentCaptured:
		a.balance -= e.AmountCents
		a.remember(e.OrderID, Payment{AmountCents: e.AmountCents, State: PaymentStateCaptured})
		return a.owns(e.CustomerID)
	case PaymentDeclined:
		a.remember(e.OrderID, Payment{State: PaymentStateDeclined, Reason: e.Reason})
		return a.owns(e.CustomerID)
	case PaymentRefunded:
		a.balance += e.AmountCents
		a.remember(e.OrderID, Payment{AmountCents: e.AmountCents, State: PaymentStateRefunded})
		return a.owns(e.CustomerID)
	default:
		return fmt.Errorf("account: %w %q", domain.ErrUnknownEventType, e.EventType())
	}
}

// remember keeps what a payment event of an order did, if the account still remembers
// payments itself (before PaymentRecordsMoved).
func (a *Account) remember(orderID string, p Payment) {
	if a.moved {
		return
	}
	if a.legacy == nil {
		a.legacy = make(map[string]Payment)
	}
	a.legacy[orderID] = p
}

// owns checks that an event's customer id is this account's.
func (a *Account) owns(customerID string) error {
	if customerID != a.root.ID() {
		return fmt.Errorf("%w: event for customer %s in stream of customer %s",
			domain.ErrInvalidHistory, customerID, a.root.ID())
	}
	return nil
}
