package payment

import (
	"fmt"

	"github.com/shopflow/shopflow/domain"
)

// AggregateType names the Account stream type, for stream ids and topics.
const AggregateType = "account"

// PaymentState is what an account did for one order.
type PaymentState string

// Payment states.
const (
	PaymentStateCaptured PaymentState = "captured"
	PaymentStateDeclined PaymentState = "declined"
	PaymentStateRefunded PaymentState = "refunded"
)

// Payment is an account's record of one order.
type Payment struct {
	// AmountCents is the captured (and, once refunded, refunded) amount;
	// 0 when declined.
	AmountCents int64
	State       PaymentState
	// Reason is set when the payment was declined.
	Reason Reason
}

// Account is the customer account aggregate; its id is the customer id.
// Create one with [Open] or rehydrate it with [Load]; the zero value is not
// usable. Not safe for concurrent use.
type Account struct {
	root     domain.Root
	name     string
	email    string
	balance  int64
	payments map[string]Payment // by order id
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

// Name returns the customer's name.
func (a *Account) Name() string { return a.name }

// Email returns the customer's email address.
func (a *Account) Email() string { return a.email }

// BalanceCents returns the available balance in minor units.
func (a *Account) BalanceCents() int64 { return a.balance }

// Payment returns what the account did for an order, if anything.
func (a *Account) Payment(orderID string) (Payment, bool) {
	p, ok := a.payments[orderID]
	return p, ok
}

// apply is the only code that changes an Account's state.
func (a *Account) apply(e domain.Event) error {
	if o, ok := e.(AccountOpened); ok {
		if a.root.ID() != "" {
			return fmt.Errorf("%w: account %s opened twice", domain.ErrInvalidHistory, a.root.ID())
		}
		a.root.SetID(o.CustomerID)
		a.name, a.email = o.Name, o.Email
		a.payments = make(map[string]Payment)
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
	case PaymentCaptured:
		a.balance -= e.AmountCents
		a.payments[e.OrderID] = Payment{AmountCents: e.AmountCents, State: PaymentStateCaptured}
		return a.owns(e.CustomerID)
	case PaymentDeclined:
		a.payments[e.OrderID] = Payment{State: PaymentStateDeclined, Reason: e.Reason}
		return a.owns(e.CustomerID)
	case PaymentRefunded:
		a.balance += e.AmountCents
		a.payments[e.OrderID] = Payment{AmountCents: e.AmountCents, State: PaymentStateRefunded}
		return a.owns(e.CustomerID)
	default:
		return fmt.Errorf("account: %w %q", domain.ErrUnknownEventType, e.EventType())
	}
}

// owns checks that an event's customer id is this account's.
func (a *Account) owns(customerID string) error {
	if customerID != a.root.ID() {
		return fmt.Errorf("%w: event for customer %s in stream of customer %s",
			domain.ErrInvalidHistory, customerID, a.root.ID())
	}
	return nil
}
