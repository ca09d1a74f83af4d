package payment

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"testing"

	"github.com/shopflow/shopflow/domain"
)

// newPayment returns the empty payment of an order.
func newPayment(t testing.TB, orderID string) *OrderPayment {
	t.Helper()
	p, err := LoadOrderPayment(orderID, nil)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// movedAccount returns a committed account with the given balance whose payment records
// moved already, so that its payment commands record only the payment events.
func movedAccount(t testing.TB, balance int64) *Account {
	t.Helper()
	a, err := Load([]domain.Event{
		AccountOpened{CustomerID: customer, Name: "Ada Lovelace", Email: "ada@example.com"},
		FundsDeposited{CustomerID: customer, AmountCents: balance},
		PaymentRecordsMoved{CustomerID: customer},
	})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// committed marks both aggregates committed.
func committed(a *Account, p *OrderPayment) {
	a.MarkCommitted()
	p.MarkCommitted()
}

func TestCapture(t *testing.T) {
	tests := []struct {
		name    string
		balance int64
		amount  int64
		want    domain.Event
		order   domain.Event
		after   int64
	}{
		{"enough funds", 1000, 400, PaymentCaptured{CustomerID: customer, OrderID: order1, AmountCents: 400},
			OrderPaymentCaptured{OrderID: order1, CustomerID: customer, AmountCents: 400}, 600},
		{"exact balance", 400, 400, PaymentCaptured{CustomerID: customer, OrderID: order1, AmountCents: 400},
			OrderPaymentCaptured{OrderID: order1, CustomerID: customer, AmountCents: 400}, 0},
		{"free order", 0, 0, PaymentCaptured{CustomerID: customer, OrderID: order1, AmountCents: 0},
			OrderPaymentCaptured{OrderID: order1, CustomerID: customer, AmountCents: 0}, 0},
		{"insufficient funds", 399, 400, PaymentDeclined{CustomerID: customer, OrderID: order1, Reason: ReasonInsufficientFunds},
			OrderPaymentDeclined{OrderID: order1, CustomerID: customer, Reason: ReasonInsufficientFunds}, 399},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, p := movedAccount(t, tt.balance), newPayment(t, order1)
			if err := p.Capture(a, tt.amount); err != nil {
				t.Fatal(err)
			}
			wantChanges(t, a, tt.want)
			if !reflect.DeepEqual(p.Changes(), []domain.Event{tt.order}) {
				t.Errorf("order payment changes = %#v, want %#v", p.Changes(), tt.order)
			}
			balance(t, a, tt.after)
		})
	}
	t.Run("invalid input", func(t *testing.T) {
		a, p := movedAccount(t, 1000), newPayment(t, "")
		if got := fieldsOf(t, p.Capture(a, -1)); !slices.Equal(got, []string{"order_id", "amount_cents"}) {
			t.Errorf("fields = %v", got)
		}
		wantChanges(t, a)
	})
}

// The first payment of an account that still remembers payments itself records
// PaymentRecordsMoved before it, once; the account then keeps nothing per order.
func TestFirstPaymentMovesTheRecords(t *testing.T) {
	a := newAccount(t, 1000)
	p1, p2 := newPayment(t, order1), newPayment(t, order2)
	_ = p1.Capture(a, 100)
	_ = p2.Refund(a)
	wantChanges(t, a,
		PaymentRecordsMoved{CustomerID: customer},
		PaymentCaptured{CustomerID: customer, OrderID: order1, AmountCents: 100},
		PaymentDeclined{CustomerID: customer, OrderID: order2, Reason: ReasonOrderClosed})
	if _, ok := a.legacyPayment(order1); ok || a.legacy != nil {
		t.Errorf("the account remembers orders: %v", a.legacy)
	}
}

// TestCaptureOncePerOrder covers duplicate and late capture requests: once the order was
// handled, nothing is recorded and no money moves.
func TestCaptureOncePerOrder(t *testing.T) {
	firsts := map[string]func(*Account, *OrderPayment){
		"captured": func(a *Account, p *OrderPayment) { _ = p.Capture(a, 100) },
		"declined": func(a *Account, p *OrderPayment) { _ = p.Capture(a, 1_000_000) },
		"refunded": func(a *Account, p *OrderPayment) { _ = p.Capture(a, 100); _ = p.Refund(a) },
		"closed":   func(a *Account, p *OrderPayment) { _ = p.Refund(a) },
	}
	for name, first := range firsts {
		t.Run(name, func(t *testing.T) {
			a, p := movedAccount(t, 1000), newPayment(t, order1)
			first(a, p)
			committed(a, p)
			before := a.BalanceCents()
			if err := p.Capture(a, 100); err != nil {
				t.Fatal(err)
			}
			wantChanges(t, a)
			wantChanges(t, p)
			balance(t, a, before)
		})
	}
}

func TestRefund(t *testing.T) {
	t.Run("captured payment in full", func(t *testing.T) {
		a, p1, p2 := movedAccount(t, 1000), newPayment(t, order1), newPayment(t, order2)
		_ = p1.Capture(a, 300)
		_ = p2.Capture(a, 200)
		committed(a, p1)
		if err := p1.Refund(a); err != nil {
			t.Fatal(err)
		}
		wantChanges(t, a, PaymentRefunded{CustomerID: customer, OrderID: order1, AmountCents: 300})
		wantChanges(t, p1, OrderPaymentRefunded{OrderID: order1, CustomerID: customer, AmountCents: 300})
		balance(t, a, 800)
		if got := p1.Payment(); got != (Payment{AmountCents: 300, State: PaymentStateRefunded}) {
			t.Errorf("payment = %+v", got)
		}
	})
	t.Run("refund may exceed the deposit limit", func(t *testing.T) {
		a, p := movedAccount(t, 100), newPayment(t, order1)
		_ = p.Capture(a, 100)
		for range MaxBalanceCents / MaxDepositCents {
			_ = a.Deposit(MaxDepositCents)
		}
		committed(a, p)
		if err := p.Refund(a); err != nil {
			t.Fatal(err)
		}
		balance(t, a, MaxBalanceCents+100)
	})
	t.Run("before capture closes the order", func(t *testing.T) {
		a, p := movedAccount(t, 1000), newPayment(t, order1)
		if err := p.Refund(a); err != nil {
			t.Fatal(err)
		}
		wantChanges(t, a, PaymentDeclined{CustomerID: customer, OrderID: order1, Reason: ReasonOrderClosed})
		balance(t, a, 1000)
		if got := p.Payment(); got != (Payment{State: PaymentStateDeclined, Reason: ReasonOrderClosed}) {
			t.Errorf("payment = %+v", got)
		}
	})
	t.Run("missing order id", func(t *testing.T) {
		a := movedAccount(t, 1000)
		if got := fieldsOf(t, newPayment(t, "").Refund(a)); !slices.Equal(got, []string{"order_id"}) {
			t.Errorf("fields = %v", got)
		}
		wantChanges(t, a)
	})
	t.Run("to another account", func(t *testing.T) {
		a, p := movedAccount(t, 1000), newPayment(t, order1)
		_ = p.Capture(a, 300)
		committed(a, p)
		other, _ := Load([]domain.Event{AccountOpened{CustomerID: "c-2", Name: "Bob", Email: "bob@example.com"}})
		if err := p.Refund(other); !errors.Is(err, ErrOtherAccount) {
			t.Errorf("err = %v, want ErrOtherAccount", err)
		}
		wantChanges(t, other)
		wantChanges(t, p)
	})
}

// TestRefundOncePerOrder covers duplicate compensation messages.
func TestRefundOncePerOrder(t *testing.T) {
	firsts := map[string]func(*Account, *OrderPayment){
		"refunded": func(a *Account, p *OrderPayment) { _ = p.Capture(a, 100); _ = p.Refund(a) },
		"declined": func(a *Account, p *OrderPayment) { _ = p.Capture(a, 1_000_000) },
		"closed":   func(a *Account, p *OrderPayment) { _ = p.Refund(a) },
	}
	for name, first := range firsts {
		t.Run(name, func(t *testing.T) {
			a, p := movedAccount(t, 1000), newPayment(t, order1)
			first(a, p)
			committed(a, p)
			if err := p.Refund(a); err != nil {
				t.Fatal(err)
			}
			wantChanges(t, a)
			wantChanges(t, p)
			balance(t, a, 1000)
		})
	}
}

// TestLegacyPaymentsAreHonoured loads an account whose history predates per-order payment
// streams: its orders have no payment stream, and the account's own record of them still
// refuses a second charge and a second refund.
func TestLegacyPaymentsAreHonoured(t *testing.T) {
	legacy := func(t testing.TB) *Account {
		a, err := Load(legacyHistory())
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	for _, id := range []string{"o-captured", "o-declined", "o-closed", "o-refunded"} {
		t.Run("capture again "+id, func(t *testing.T) {
			a, p := legacy(t), newPayment(t, id)
			if err := p.Capture(a, 100); err != nil {
				t.Fatal(err)
			}
			wantChanges(t, a)
			wantChanges(t, p)
		})
	}
	for _, id := range []string{"o-declined", "o-closed", "o-refunded"} {
		t.Run("refund "+id, func(t *testing.T) {
			a, p := legacy(t), newPayment(t, id)
			if err := p.Refund(a); err != nil {
				t.Fatal(err)
			}
			wantChanges(t, a)
			wantChanges(t, p)
		})
	}
	t.Run("refund the capture once", func(t *testing.T) {
		a, p := legacy(t), newPayment(t, "o-captured")
		if err := p.Refund(a); err != nil {
			t.Fatal(err)
		}
		wantChanges(t, a, PaymentRecordsMoved{CustomerID: customer},
			PaymentRefunded{CustomerID: customer, OrderID: "o-captured", AmountCents: 300})
		wantChanges(t, p, OrderPaymentRefunded{OrderID: "o-captured", CustomerID: customer, AmountCents: 300})
		balance(t, a, 1000)
		// Reloaded, the account still remembers the capture; the order's stream now
		// says refunded, and wins.
		accountHistory, paymentHistory := append(legacyHistory(), a.Changes()...), p.Changes()
		a2, err := Load(accountHistory)
		if err != nil {
			t.Fatal(err)
		}
		p2, err := LoadOrderPayment("o-captured", paymentHistory)
		if err != nil {
			t.Fatal(err)
		}
		if err := p2.Refund(a2); err != nil {
			t.Fatal(err)
		}
		if err := p2.Capture(a2, 300); err != nil {
			t.Fatal(err)
		}
		wantChanges(t, a2)
		wantChanges(t, p2)
		balance(t, a2, 1000)
	})
}

// legacyHistory is the history of an account from before per-order payment streams.
func legacyHistory() []domain.Event {
	return []domain.Event{
		AccountOpened{CustomerID: customer, Name: "Ada", Email: "ada@example.com"},
		FundsDeposited{CustomerID: customer, AmountCents: 1000},
		PaymentCaptured{CustomerID: customer, OrderID: "o-captured", AmountCents: 300},
		PaymentDeclined{CustomerID: customer, OrderID: "o-declined", Reason: ReasonInsufficientFunds},
		PaymentDeclined{CustomerID: customer, OrderID: "o-closed", Reason: ReasonOrderClosed},
		PaymentCaptured{CustomerID: customer, OrderID: "o-refunded", AmountCents: 200},
		PaymentRefunded{CustomerID: customer, OrderID: "o-refunded", AmountCents: 200},
	}
}

// TestAccountStateIsBounded charges and refunds a thousand orders and expects, besides its
// version, the very state of an account that only saw deposits of the same balance: nothing
// per order. The orders' payment streams remember them.
func TestAccountStateIsBounded(t *testing.T) {
	busy := newAccount(t, 1_000_000)
	for i := range 1000 {
		p := newPayment(t, fmt.Sprintf("o-%d", i))
		if err := p.Capture(busy, 100); err != nil {
			t.Fatal(err)
		}
		if i%2 == 0 {
			if err := p.Refund(busy); err != nil {
				t.Fatal(err)
			}
		}
	}
	busy.MarkCommitted()
	quiet := newAccount(t, busy.BalanceCents())
	quiet.root, quiet.moved = busy.root, true
	if !reflect.DeepEqual(busy, quiet) {
		t.Errorf("after 1000 orders the account is %+v,\n   one that only saw deposits %+v", busy, quiet)
	}
}

// TestMoneyIsConserved runs a mixed sequence, with duplicates and reordered compensations,
// and checks deposits = balance + captured - refunded.
func TestMoneyIsConserved(t *testing.T) {
	a := newAccount(t, 0)
	payments := map[string]*OrderPayment{}
	pay := func(id string) *OrderPayment {
		if payments[id] == nil {
			payments[id] = newPayment(t, id)
		}
		return payments[id]
	}
	steps := []func() error{
		func() error { return a.Deposit(1000) },
		func() error { return pay("o-a").Capture(a, 400) },
		func() error { return pay("o-a").Capture(a, 400) }, // duplicate
		func() error { return pay("o-b").Capture(a, 700) }, // declined
		func() error { return pay("o-c").Refund(a) },       // cancel before capture
		func() error { return pay("o-c").Capture(a, 100) }, // late capture: ignored
		func() error { return pay("o-d").Capture(a, 600) },
		func() error { return pay("o-a").Refund(a) },
		func() error { return pay("o-a").Refund(a) }, // duplicate
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

func TestLoadOrderPaymentErrors(t *testing.T) {
	tests := []struct {
		name  string
		event domain.Event
		want  error
	}{
		{"captured for another order", OrderPaymentCaptured{OrderID: order2}, domain.ErrInvalidHistory},
		{"declined for another order", OrderPaymentDeclined{OrderID: order2}, domain.ErrInvalidHistory},
		{"refunded for another order", OrderPaymentRefunded{OrderID: order2}, domain.ErrInvalidHistory},
		{"account event", PaymentCaptured{OrderID: order1}, domain.ErrUnknownEventType},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := LoadOrderPayment(order1, []domain.Event{tt.event})
			if p != nil || !errors.Is(err, tt.want) {
				t.Errorf("LoadOrderPayment = %v, %v; want %v", p, err, tt.want)
			}
		})
	}
}

// The order of a customer without an account is declined in its own payment stream, once;
// its history loads as declined, and a capture afterwards (an account with that id
// appeared) charges nothing.
func TestDeclineUnknownCustomer(t *testing.T) {
	p := newPayment(t, order1)
	if err := p.DeclineUnknownCustomer(customer); err != nil {
		t.Fatal(err)
	}
	changes := p.Changes()
	if len(changes) != 2 || changes[0].EventType() != TypePaymentDeclined || changes[1].EventType() != TypeOrderPaymentDeclined {
		t.Fatalf("changes = %+v", changes)
	}
	p.MarkCommitted()
	if err := p.DeclineUnknownCustomer(customer); err != nil || len(p.Changes()) != 0 {
		t.Fatalf("second decline: %v, %d changes", err, len(p.Changes()))
	}
	loaded, err := LoadOrderPayment(order1, changes)
	if err != nil || loaded.Payment().State != PaymentStateDeclined || loaded.Payment().Reason != ReasonUnknownCustomer {
		t.Fatalf("loaded: %+v, %v", loaded.Payment(), err)
	}
	a := movedAccount(t, 1000)
	if err := loaded.Capture(a, 400); err != nil || len(loaded.Changes()) != 0 || a.BalanceCents() != 1000 {
		t.Fatalf("capture after the decline: %v, %d changes, balance %d", err, len(loaded.Changes()), a.BalanceCents())
	}
	var v *domain.ValidationError
	if err := newPayment(t, order1).DeclineUnknownCustomer(""); !errors.As(err, &v) {
		t.Fatalf("empty customer: %v, want a validation error", err)
	}
}

// A payment stream holds PaymentDeclined only for an unknown customer.
func TestPaymentStreamRefusesOtherDeclines(t *testing.T) {
	_, err := LoadOrderPayment(order1, []domain.Event{PaymentDeclined{CustomerID: customer, OrderID: order1, Reason: ReasonInsufficientFunds}})
	if !errors.Is(err, domain.ErrInvalidHistory) {
		t.Fatalf("LoadOrderPayment: %v, want ErrInvalidHistory", err)
	}
}
