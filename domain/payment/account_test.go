package payment

import (
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/shopflow/shopflow/domain"
	"github.com/shopflow/shopflow/domain/domaintest"
)

const (
	customer = "c-1"
	order1   = "o-1"
	order2   = "o-2"
)

// newAccount opens a committed account with the given balance.
func newAccount(t testing.TB, balance int64) *Account {
	t.Helper()
	a, err := Open(customer, "Ada Lovelace", "ada@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if balance > 0 {
		if err := a.Deposit(balance); err != nil {
			t.Fatal(err)
		}
	}
	a.MarkCommitted()
	return a
}

// wantChanges fails unless the aggregate recorded exactly want.
func wantChanges(t testing.TB, a interface{ Changes() []domain.Event }, want ...domain.Event) {
	t.Helper()
	got := a.Changes()
	if len(got) == 0 && len(want) == 0 {
		return
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("changes = %#v\n   want %#v", got, want)
	}
}

// fieldsOf returns the invalid field names of a validation error, or fails.
func fieldsOf(t testing.TB, err error) []string {
	t.Helper()
	var ve *domain.ValidationError
	if !errors.As(err, &ve) || !errors.Is(err, domain.ErrValidation) {
		t.Fatalf("error %v is not a *domain.ValidationError", err)
	}
	var fields []string
	for _, f := range ve.Fields {
		fields = append(fields, f.Field)
	}
	return fields
}

// balance fails unless the account's balance is want.
func balance(t testing.TB, a *Account, want int64) {
	t.Helper()
	if a.BalanceCents() != want {
		t.Errorf("balance = %d, want %d", a.BalanceCents(), want)
	}
}

func TestOpen(t *testing.T) {
	a, err := Open(customer, "Ada Lovelace", "ada@example.com")
	if err != nil {
		t.Fatal(err)
	}
	wantChanges(t, a, AccountOpened{CustomerID: customer, Name: "Ada Lovelace", Email: "ada@example.com"})
	if a.ID() != customer || a.Name() != "Ada Lovelace" || a.Email() != "ada@example.com" ||
		a.BalanceCents() != 0 || a.Version() != 1 || a.CommittedVersion() != 0 {
		t.Errorf("state = %+v", a)
	}
}

func TestOpenValidation(t *testing.T) {
	long := strings.Repeat("a", MaxEmail-len("@example.com")+1) + "@example.com"
	tests := []struct {
		name, id, customerName, email string
		want                          []string
	}{
		{"missing id", "", "Ada", "ada@example.com", []string{"customer_id"}},
		{"blank name", customer, " \t", "ada@example.com", []string{"name"}},
		{"name too long", customer, strings.Repeat("n", MaxName+1), "ada@example.com", []string{"name"}},
		{"empty email", customer, "Ada", "", []string{"email"}},
		{"no at", customer, "Ada", "ada.example.com", []string{"email"}},
		{"two ats", customer, "Ada", "ada@ex@ample.com", []string{"email"}},
		{"no local part", customer, "Ada", "@example.com", []string{"email"}},
		{"no domain", customer, "Ada", "ada@", []string{"email"}},
		{"space", customer, "Ada", "ada lovelace@example.com", []string{"email"}},
		{"trailing newline", customer, "Ada", "ada@example.com\n", []string{"email"}},
		{"control character", customer, "Ada", "ada\x00@example.com", []string{"email"}},
		{"email too long", customer, "Ada", long, []string{"email"}},
		{"everything wrong", "", "", "nope", []string{"customer_id", "name", "email"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := Open(tt.id, tt.customerName, tt.email)
			if a != nil {
				t.Error("Open returned an account with an error")
			}
			if got := fieldsOf(t, err); !slices.Equal(got, tt.want) {
				t.Errorf("fields = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestOpenAcceptsLimits(t *testing.T) {
	email := strings.Repeat("a", MaxEmail-len("@example.com")) + "@example.com"
	if _, err := Open(customer, strings.Repeat("ñ", MaxName), email); err != nil {
		t.Errorf("at the limits: %v", err)
	}
	if _, err := Open(customer, "A", "a@b"); err != nil {
		t.Errorf("shortest plausible email: %v", err)
	}
}

func TestDeposit(t *testing.T) {
	t.Run("adds", func(t *testing.T) {
		a := newAccount(t, 100)
		if err := a.Deposit(250); err != nil {
			t.Fatal(err)
		}
		wantChanges(t, a, FundsDeposited{CustomerID: customer, AmountCents: 250})
		balance(t, a, 350)
	})
	for _, amount := range []int64{0, -1, MaxDepositCents + 1} {
		t.Run("invalid amount", func(t *testing.T) {
			a := newAccount(t, 100)
			if got := fieldsOf(t, a.Deposit(amount)); !slices.Equal(got, []string{"amount_cents"}) {
				t.Errorf("Deposit(%d): fields = %v", amount, got)
			}
			wantChanges(t, a)
			balance(t, a, 100)
		})
	}
	t.Run("balance limit", func(t *testing.T) {
		a := newAccount(t, 0)
		for range MaxBalanceCents / MaxDepositCents {
			if err := a.Deposit(MaxDepositCents); err != nil {
				t.Fatal(err)
			}
		}
		a.MarkCommitted()
		err := a.Deposit(1)
		var re *domain.RuleError
		if !errors.Is(err, ErrBalanceLimit) || !errors.As(err, &re) || re.Code != "balance_limit_exceeded" {
			t.Errorf("err = %v, want ErrBalanceLimit", err)
		}
		wantChanges(t, a)
		balance(t, a, MaxBalanceCents)
	})
}

// An account loaded from part of its history and advanced by the rest equals the account
// loaded from all of it; advancing with uncommitted changes is refused.
func TestAdvanceEqualsLoadingTheWholeHistory(t *testing.T) {
	history := []domain.Event{
		AccountOpened{CustomerID: customer, Name: "Ada", Email: "ada@example.com"},
		FundsDeposited{CustomerID: customer, AmountCents: 1000},
		PaymentCaptured{CustomerID: customer, OrderID: order1, AmountCents: 300},
		PaymentDeclined{CustomerID: customer, OrderID: order2, Reason: ReasonInsufficientFunds},
		PaymentRefunded{CustomerID: customer, OrderID: order1, AmountCents: 300},
		PaymentRecordsMoved{CustomerID: customer},
		PaymentCaptured{CustomerID: customer, OrderID: "o-3", AmountCents: 100},
	}
	domaintest.CheckAdvance(t, history, Load, (*Account).Advance, func(a *Account) error { return a.Deposit(1) })
}

func TestOpenSealedRecordsOnlySealedValuesAndForgetClearsThem(t *testing.T) {
	seal := func(field, value string) (string, error) { return "sealed(" + field + ")", nil }
	if _, err := OpenSealed("c1", " ", "nope", seal); err == nil {
		t.Fatal("OpenSealed accepted a blank name and a bad email: validation must see the clear values")
	}
	a, err := OpenSealed("c1", "Ada", "ada@example.com", seal)
	if err != nil {
		t.Fatal(err)
	}
	opened := a.Changes()[0].(AccountOpened)
	if opened.Name != "sealed(name)" || opened.Email != "sealed(email)" || a.Name() != "sealed(name)" {
		t.Fatalf("recorded %+v, account name %q: want the sealed values only", opened, a.Name())
	}
	a.MarkCommitted()
	if err := a.Deposit(500); err != nil {
		t.Fatal(err)
	}
	if !a.Forget() || a.Forget() {
		t.Fatal("Forget must record once, then nothing")
	}
	if a.Name() != "" || a.Email() != "" || !a.Forgotten() || a.BalanceCents() != 500 {
		t.Fatalf("after Forget: name %q email %q forgotten %v balance %d", a.Name(), a.Email(), a.Forgotten(), a.BalanceCents())
	}
	history := append([]domain.Event{opened}, a.Changes()...)
	b, err := Load(history)
	if err != nil || !b.Forgotten() || b.Email() != "" || b.BalanceCents() != 500 {
		t.Fatalf("reloaded: %v forgotten %v email %q balance %d", err, b != nil && b.Forgotten(), b.Email(), b.BalanceCents())
	}
	state, err := b.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	r, err := Restore("c1", b.Version(), state)
	if err != nil || !r.Forgotten() || r.Forgotten() != b.Forgotten() || r.Name() != "" {
		t.Fatalf("restored from snapshot: %v forgotten %v", err, r != nil && r.Forgotten())
	}
}
