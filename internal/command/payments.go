package command

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/shopflow/shopflow/domain"
	"github.com/shopflow/shopflow/domain/payment"
	"github.com/shopflow/shopflow/internal/pii"
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
		// The email's claim (see emailClaim) is made by OpenAccountHandler: the account
		// holds the email sealed.
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
	keys     pii.Keys
}

// NewOpenAccountHandler returns a handler appending to the payments database's store,
// sealing personal data under keys of cfg.Keys (nil: in clear).
func NewOpenAccountHandler(store EventStore, cfg Config) (*OpenAccountHandler, error) {
	accounts, err := NewRepository(store, AccountType(), cfg)
	if err != nil {
		return nil, err
	}
	return &OpenAccountHandler{accounts: accounts, keys: cfg.Keys}, nil
}

// Handle opens the account under a new UUIDv7 (the customer id) and returns it with
// version 1. With a key store, it first creates the customer's key and records name and
// email sealed under it (the key of an email already taken is destroyed again; after other failures, whose outcome may be unknown, it stays, no one's). Errors:
// *domain.ValidationError listing every invalid field; *TakenError when another customer
// has the email; key store and event store errors.
func (h *OpenAccountHandler) Handle(ctx context.Context, cmd OpenAccount, opts Options) (Result, error) {
	id, err := NewID()
	if err != nil {
		return Result{}, err
	}
	if _, err := payment.Open(id, cmd.Name, cmd.Email); err != nil {
		return Result{}, err // invalid: no key is created for it
	}
	seal, err := h.sealer(ctx, id)
	if err != nil {
		return Result{}, err
	}
	a, err := payment.OpenSealed(id, cmd.Name, cmd.Email, seal)
	if err == nil {
		opts.claims = []UniqueField{emailClaim(cmd.Email)}
		var res Result
		if res, err = h.accounts.Create(ctx, a, opts); err == nil {
			return res, nil
		}
	}
	if te := (*TakenError)(nil); errors.As(err, &te) {
		te.Value = normalForm(cmd.Email) // the caller's own input, not the digest
		if h.keys != nil {               // nothing was written: the key is no one's
			err = errors.Join(err, h.keys.Destroy(context.WithoutCancel(ctx), id))
		}
	}
	return Result{}, err
}

// sealer creates customer id's key and returns the Sealer of its personal fields; nil
// without a key store.
func (h *OpenAccountHandler) sealer(ctx context.Context, id string) (payment.Sealer, error) {
	if h.keys == nil {
		return nil, nil
	}
	key, err := h.keys.Create(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("open account %s: %w", id, err)
	}
	return func(field, value string) (string, error) { return pii.Seal(key, id, field, value) }, nil
}

// emailClaim is the unique claim of an email: the SHA-256 digest (hex) of its normal form,
// so that the claims table holds no address in clear (migration 0006 converted the claims
// made before).
func emailClaim(email string) UniqueField {
	sum := sha256.Sum256([]byte(normalForm(email)))
	return UniqueField{Field: "email", Value: hex.EncodeToString(sum[:])}
}

// ForgetCustomer forgets a customer's personal data (GDPR art. 17).
type ForgetCustomer struct {
	CustomerID string
}

// ForgetCustomerHandler handles ForgetCustomer.
type ForgetCustomerHandler struct {
	accounts *Repository[*payment.Account]
	keys     pii.Keys
}

// NewForgetCustomerHandler returns a handler appending to the payments database's store
// and destroying keys of cfg.Keys, which is required.
func NewForgetCustomerHandler(store EventStore, cfg Config) (*ForgetCustomerHandler, error) {
	if cfg.Keys == nil {
		return nil, errors.New("command: ForgetCustomer needs Config.Keys")
	}
	accounts, err := NewRepository(store, AccountType(), cfg)
	if err != nil {
		return nil, err
	}
	return &ForgetCustomerHandler{accounts: accounts, keys: cfg.Keys}, nil
}

// Handle destroys the customer's key, then appends CustomerForgotten to the account's
// stream and releases the email's unique claim in the same transaction, and returns the
// account's version. Forgetting a forgotten customer destroys nothing more and appends
// nothing: it returns the current version. A failure after the key is destroyed is
// repaired by calling Handle again. Errors: *domain.ValidationError (customer_id not a
// UUID), *NotFoundError, key store and event store errors.
func (h *ForgetCustomerHandler) Handle(ctx context.Context, cmd ForgetCustomer, opts Options) (Result, error) {
	var v domain.ValidationError
	id := checkID(&v, "customer_id", cmd.CustomerID)
	v.Check(id != "", "customer_id", "is required")
	if err := v.Err(); err != nil {
		return Result{}, err
	}
	opts.release = []string{"email"}
	return h.accounts.Update(ctx, id, func(a *payment.Account) error {
		if err := h.keys.Destroy(ctx, id); err != nil {
			return fmt.Errorf("forget customer %s: %w", id, err)
		}
		a.Forget()
		return nil
	}, opts)
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
