package command

import (
	"context"

	"github.com/shopflow/shopflow/domain"
	"github.com/shopflow/shopflow/domain/payment"
)

// AccountType describes how customer accounts are stored: stream
// "account-<customer id>" of the payments database, kept between commands and snapshotted
// (schema payment.AccountSnapshotVersion).
func AccountType() AggregateType[*payment.Account] {
	return AggregateType[*payment.Account]{
		Name:     payment.AggregateType,
		Register: payment.Register,
		Load: func(_ string, history []domain.Event) (*payment.Account, error) {
			return payment.Load(history)
		},
		Advance: (*payment.Account).Advance,
		Unique: func(a *payment.Account) []UniqueField {
			return []UniqueField{{Field: "email", Value: normalForm(a.Email())}}
		},
		Snapshot: &SnapshotCodec[*payment.Account]{
			SchemaVersion: payment.AccountSnapshotVersion,
			Encode:        (*payment.Account).Snapshot,
			Restore:       payment.Restore,
		},
	}
}

// OrderPaymentType describes how order payments are stored: stream
// "order_payment-<order id>" of the payments database, appended in the same transaction as
// the account it charges or refunds. A missing stream loads as a new payment (state none),
// never as not found.
func OrderPaymentType() AggregateType[*payment.OrderPayment] {
	return AggregateType[*payment.OrderPayment]{
		Name:     payment.OrderPaymentAggregateType,
		Register: payment.Register,
		Load:     payment.LoadOrderPayment,
		Status: func(p *payment.OrderPayment) string {
			return string(p.Payment().State)
		},
	}
}

// OpenAccount registers a customer, with an account of zero balance, under a new id.
// Emails are unique, ignoring case and surrounding white space.
type OpenAccount struct {
	Name  string
	Email string
}

// OpenAccountHandler handles OpenAccount.
type OpenAccountHandler struct {
	accounts *Repository[*payment.Account]
}

// NewOpenAccountHandler returns a handler appending to the payments database's store.
func NewOpenAccountHandler(store EventStore, cfg Config) (*OpenAccountHandler, error) {
	accounts, err := NewRepository(store, AccountType(), cfg)
	if err != nil {
		return nil, err
	}
	return &OpenAccountHandler{accounts: accounts}, nil
}

// Handle opens the account under a new UUIDv7 (the customer id) and returns it with
// version 1. Errors: *domain.ValidationError listing every invalid field; *TakenError when
// another customer has the email; store errors.
func (h *OpenAccountHandler) Handle(ctx context.Context, cmd OpenAccount, opts Options) (Result, error) {
	id, err := NewID()
	if err != nil {
		return Result{}, err
	}
	a, err := payment.Open(id, cmd.Name, cmd.Email)
	if err != nil {
		return Result{}, err
	}
	return h.accounts.Create(ctx, a, opts)
}

// DepositFunds adds AmountCents to a customer's balance.
type DepositFunds struct {
	CustomerID  string
	AmountCents int64
}

// DepositFundsHandler handles DepositFunds.
type DepositFundsHandler struct {
	accounts *Repository[*payment.Account]
}

// NewDepositFundsHandler returns a handler appending to the payments database's store.
func NewDepositFundsHandler(store EventStore, cfg Config) (*DepositFundsHandler, error) {
	accounts, err := NewRepository(store, AccountType(), cfg)
	if err != nil {
		return nil, err
	}
	return &DepositFundsHandler{accounts: accounts}, nil
}

// Handle deposits the amount, retrying on concurrent changes, and returns the account's
// new version. Errors: *domain.ValidationError (customer_id not a UUID, amount_cents out
// of range), *NotFoundError, payment.ErrBalanceLimit, eventstore.ErrVersionConflict after
// the last attempt, store errors.
func (h *DepositFundsHandler) Handle(ctx context.Context, cmd DepositFunds, opts Options) (Result, error) {
	var v domain.ValidationError
	id := checkID(&v, "customer_id", cmd.CustomerID)
	v.Check(id != "", "customer_id", "is required")
	if err := v.Err(); err != nil {
		return Result{}, err
	}
	return h.accounts.Update(ctx, id, func(a *payment.Account) error {
		return a.Deposit(cmd.AmountCents)
	}, opts)
}
