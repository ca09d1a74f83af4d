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

// wantChanges fails unless the account recorded exactly want.
func wantChanges(t testing.TB, a *Account, want ...domain.Event) {
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

func TestCapture(t *testing.T) {
	tests := []struct {
		name    string
		balance int64
		amount  int64
		want    domain.Event
		after   int64
	}{
		{"enough funds", 1000, 400, PaymentCaptured{CustomerID: customer, OrderID: order1, AmountCents: 400}, 600},
		{"exact balance", 400, 400, PaymentCaptured{CustomerID: customer, OrderID: order1, AmountCents: 400}, 0},
		{"free order", 0, 0, PaymentCaptured{CustomerID: customer, OrderID: order1, AmountCents: 0}, 0},
		{"insufficient funds", 399, 400, PaymentDeclined{CustomerID: customer, OrderID: order1, Reason: ReasonInsufficientFunds}, 399},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := newAccount(t, tt.balance)
			if err := a.Capture(order1, tt.amount); err != nil {
				t.Fatal(err)
			}
			wantChanges(t, a, tt.want)
			balance(t, a, tt.after)
		})
	}
	t.Run("invalid input", func(t *testing.T) {
		a := newAccount(t, 1000)
		if got := fieldsOf(t, a.Capture("", -1)); !slices.Equal(got, []string{"order_id", "amount_cents"}) {
			t.Errorf("fields = %v", got)
		}
		wantChanges(t, a)
	})
}

// TestCaptureOncePerOrder covers duplicate and late capture requests: once
// the account handled the order, nothing is recorded and no money moves.
func TestCaptureOncePerOrder(t *testing.T) {
	firsts := map[string]func(*Account){
		"captured": func(a *Account) { _ = a.Capture(order1, 100) },
		"declined": func(a *Account) { _ = a.Capture(order1, 1_000_000) },
		"refunded": func(a *Account) { _ = a.Capture(order1, 100); _ = a.Refund(order1) },
		"closed":   func(a *Account) { _ = a.Refund(order1) },
	}
	for name, first := range firsts {
		t.Run(name, func(t *testing.T) {
			a := newAccount(t, 1000)
			first(a)
			a.MarkCommitted()
			before := a.BalanceCents()
			if err := a.Capture(order1, 100); err != nil {
				t.Fatal(err)
			}
			wantChanges(t, a)
			balance(t, a, before)
		})
	}
}

func TestRefund(t *testing.T) {
	t.Run("captured payment in full", func(t *testing.T) {
		a := newAccount(t, 1000)
		_ = a.Capture(order1, 300)
		_ = a.Capture(order2, 200)
		a.MarkCommitted()
		if err := a.Refund(order1); err != nil {
			t.Fatal(err)
		}
		wantChanges(t, a, PaymentRefunded{CustomerID: customer, OrderID: order1, AmountCents: 300})
		balance(t, a, 800)
		if p, _ := a.Payment(order1); p != (Payment{AmountCents: 300, State: PaymentStateRefunded}) {
			t.Errorf("payment = %+v", p)
		}
	})
	t.Run("refund may exceed the deposit limit", func(t *testing.T) {
		a := newAccount(t, 100)
		_ = a.Capture(order1, 100)
		for range MaxBalanceCents / MaxDepositCents {
			_ = a.Deposit(MaxDepositCents)
		}
		a.MarkCommitted()
		if err := a.Refund(order1); err != nil {
			t.Fatal(err)
		}
		balance(t, a, MaxBalanceCents+100)
	})
	t.Run("before capture closes the order", func(t *testing.T) {
		a := newAccount(t, 1000)
		if err := a.Refund(order1); err != nil {
			t.Fatal(err)
		}
		wantChanges(t, a, PaymentDeclined{CustomerID: customer, OrderID: order1, Reason: ReasonOrderClosed})
		balance(t, a, 1000)
		if p, _ := a.Payment(order1); p != (Payment{State: PaymentStateDeclined, Reason: ReasonOrderClosed}) {
			t.Errorf("payment = %+v", p)
		}
	})
	t.Run("missing order id", func(t *testing.T) {
		a := newAccount(t, 1000)
		if got := fieldsOf(t, a.Refund("")); !slices.Equal(got, []string{"order_id"}) {
			t.Errorf("fields = %v", got)
		}
		wantChanges(t, a)
	})
}

// TestRefundOncePerOrder covers duplicate compensation messages.
func TestRefundOncePerOrder(t *testing.T) {
	firsts := map[string]func(*Account){
		"refunded": func(a *Account) { _ = a.Capture(order1, 100); _ = a.Refund(order1) },
		"declined": func(a *Account) { _ = a.Capture(order1, 1_000_000) },
		"closed":   func(a *Account) { _ = a.Refund(order1) },
	}
	for name, first := range firsts {
		t.Run(name, func(t *testing.T) {
			a := newAccount(t, 1000)
			first(a)
			a.MarkCommitted()
			if err := a.Refund(order1); err != nil {
				t.Fatal(err)
			}
			wantChanges(t, a)
			balance(t, a, 1000)
		})
	}
}

// TestMoneyIsConserved runs a mixed sequence, with duplicates and reordered
// compensations, and checks deposits = balance + captured - refunded.
func TestMoneyIsConserved(t *testing.T) {
	a := newAccount(t, 0)
	steps := []func() error{
		func() error { return a.Deposit(1000) },
		func() error { return a.Capture("o-a", 400) },
		func() error { return a.Capture("o-a", 400) }, // duplicate
		func() error { return a.Capture("o-b", 700) }, // declined
		func() error { return a.Refund("o-c") },       // cancel before capture
		func() error { return a.Capture("o-c", 100) }, // late capture: ignored
		func() error { return a.Capture("o-d", 600) },
		func() error { return a.Refund("o-a") },
		func() error { return a.Refund("o-a") }, // duplicate
		func() error { return a.Deposit(50) },
	}
	for i, step := range steps {
		if err := step(); err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		if a.BalanceCents() < 0 {
			t.Fatalf("step %d: negative balance %d", i, a.BalanceCents())
		}
	}
	var deposited, captured, refunded int64
	for _, e := range a.Changes() {
		switch e := e.(type) {
		case FundsDeposited:
			deposited += e.AmountCents
		case PaymentCaptured:
			captured += e.AmountCents
		case PaymentRefunded:
			refunded += e.AmountCents
		}
	}
	if deposited != a.BalanceCents()+captured-refunded || a.BalanceCents() != 450 {
		t.Errorf("deposited %d, balance %d, captured %d, refunded %d", deposited, a.BalanceCents(), captured, refunded)
	}
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
	}
	domaintest.CheckAdvance(t, history, Load, (*Account).Advance, func(a *Account) error { return a.Deposit(1) })
}
