package payment

import (
	"fmt"
	"strings"
	"unicode"

	"github.com/shopflow/shopflow/domain"
)

// Limits of accounts.
const (
	MaxName = 200
	// MaxEmail is in bytes, as in RFC 5321.
	MaxEmail = 254
	// MaxDepositCents is the largest single deposit.
	MaxDepositCents int64 = 1_000_000_000_000
	// MaxBalanceCents is the largest balance deposits may reach (refunds may
	// exceed it: they only give back money that was there).
	MaxBalanceCents int64 = 1_000_000_000_000_000
)

// ErrBalanceLimit is returned by Deposit when the balance would exceed MaxBalanceCents.
var ErrBalanceLimit = &domain.RuleError{
	Code:    "balance_limit_exceeded",
	Message: fmt.Sprintf("a balance holds at most %d cents", MaxBalanceCents),
}

// Open opens a customer account with a zero balance, recording
// [AccountOpened]. It returns a *domain.ValidationError listing every
// invalid field: customer_id non-empty; name non-blank, at most MaxName
// characters; email at most MaxEmail bytes (RFC 5321), with exactly one "@", text
// on both sides and no white space or control characters. Email uniqueness
// spans accounts and is not checked here.
func Open(customerID, name, email string) (*Account, error) {
	return OpenSealed(customerID, name, email, nil)
}

// Sealer encrypts the personal field ("name", "email") of the account being opened;
// it must bind the value to the customer id and the field.
type Sealer func(field, value string) (string, error)

// Personal fields of an account, as a Sealer is given them.
const (
	FieldName  = "name"
	FieldEmail = "email"
)

// OpenSealed is Open with the name and email recorded as seal returns them (nil: as
// given): validation sees the clear values, the event and the account only the sealed
// ones. An error of seal is returned as is, wrapped.
func OpenSealed(customerID, name, email string, seal Sealer) (*Account, error) {
	var v domain.ValidationError
	v.Check(customerID != "", "customer_id", "is required")
	v.Required("name", name, MaxName)
	v.Check(plausibleEmail(email), "email", fmt.Sprintf("must be an email address of at most %d bytes", MaxEmail))
	if err := v.Err(); err != nil {
		return nil, err
	}
	if seal != nil {
		var err error
		if name, err = seal(FieldName, name); err != nil {
			return nil, fmt.Errorf("open account %s: seal name: %w", customerID, err)
		}
		if email, err = seal(FieldEmail, email); err != nil {
			return nil, fmt.Errorf("open account %s: seal email: %w", customerID, err)
		}
	}
	a := &Account{}
	a.root.Record(AccountOpened{CustomerID: customerID, Name: name, Email: email}, a.apply)
	return a, nil
}

// Forget records [CustomerForgotten] unless the customer is forgotten already, and
// reports whether it did. The caller destroys the customer's key.
func (a *Account) Forget() bool {
	if a.forgotten {
		return false
	}
	a.root.Record(CustomerForgotten{CustomerID: a.ID()}, a.apply)
	return true
}

// plausibleEmail reports whether s looks like an email address. Deliverability
// is the only real check; this one catches typos.
func plausibleEmail(s string) bool {
	local, domainPart, ok := strings.Cut(s, "@")
	return ok && len(s) <= MaxEmail && local != "" && domainPart != "" &&
		!strings.Contains(domainPart, "@") &&
		!strings.ContainsFunc(s, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) })
}

// Deposit adds amountCents to the balance, recording [FundsDeposited].
// amountCents must be from 1 to MaxDepositCents (else
// *domain.ValidationError) and the balance may not exceed MaxBalanceCents
// (else [ErrBalanceLimit]).
func (a *Account) Deposit(amountCents int64) error {
	if amountCents <= 0 || amountCents > MaxDepositCents {
		var v domain.ValidationError
		v.Add("amount_cents", fmt.Sprintf("must be from 1 to %d", MaxDepositCents))
		return v.Err()
	}
	if amountCents > MaxBalanceCents-a.balance {
		return fmt.Errorf("deposit to account %s: %w", a.ID(), ErrBalanceLimit)
	}
	a.root.Record(FundsDeposited{CustomerID: a.ID(), AmountCents: amountCents}, a.apply)
	return nil
}
