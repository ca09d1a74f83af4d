package payment

import (
	"errors"
	"reflect"
	"testing"

	"github.com/shopflow/shopflow/domain"
)

func TestLoadRebuildsSameState(t *testing.T) {
	a, err := Open(customer, "Ada", "ada@example.com")
	if err != nil {
		t.Fatal(err)
	}
	_ = a.Deposit(1000)
	payments := map[string]*OrderPayment{}
	for _, id := range []string{order1, order2, "o-3", "o-4"} {
		payments[id] = newPayment(t, id)
	}
	_ = payments[order1].Capture(a, 300)
	_ = payments[order2].Capture(a, 5000)
	_ = payments["o-3"].Capture(a, 100)
	_ = payments[order1].Refund(a)
	_ = payments["o-4"].Refund(a)
	history := a.Changes()
	a.MarkCommitted()
	loaded, err := Load(history)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(loaded, a) {
		t.Errorf("loaded %+v\n  want %+v", loaded, a)
	}
	if loaded.Version() != 8 || loaded.CommittedVersion() != 8 || len(loaded.Changes()) != 0 {
		t.Errorf("version %d/%d, changes %v", loaded.Version(), loaded.CommittedVersion(), loaded.Changes())
	}
	for id, p := range payments {
		history := p.Changes()
		p.MarkCommitted()
		if loaded, err := LoadOrderPayment(id, history); err != nil || !reflect.DeepEqual(loaded, p) {
			t.Errorf("payment of %s loaded %+v, %v\n  want %+v", id, loaded, err, p)
		}
	}
	if p := payments[order2].Payment(); p.State != PaymentStateDeclined || p.Reason != ReasonInsufficientFunds {
		t.Errorf("payment of order2 = %+v", p)
	}
}

// TestLoadDoesNotValidate loads history that commands would refuse.
func TestLoadDoesNotValidate(t *testing.T) {
	a, err := Load([]domain.Event{
		AccountOpened{CustomerID: customer, Name: "", Email: "not an email"},
		PaymentCaptured{CustomerID: customer, OrderID: order1, AmountCents: 500}, // more than the balance
		FundsDeposited{CustomerID: customer, AmountCents: -3},
	})
	if err != nil {
		t.Fatal(err)
	}
	balance(t, a, -503)
}

func TestLoadErrors(t *testing.T) {
	opened := AccountOpened{CustomerID: customer, Name: "Ada", Email: "ada@example.com"}
	tests := []struct {
		name    string
		history []domain.Event
		want    error
	}{
		{"empty", nil, domain.ErrNotFound},
		{"no creation event", []domain.Event{FundsDeposited{CustomerID: customer, AmountCents: 1}}, domain.ErrInvalidHistory},
		{"decline of unknown customer", []domain.Event{DeclineUnknownCustomer(customer, order1)}, domain.ErrInvalidHistory},
		{"opened twice", []domain.Event{opened, opened}, domain.ErrInvalidHistory},
		{"deposit elsewhere", []domain.Event{opened, FundsDeposited{CustomerID: "x"}}, domain.ErrInvalidHistory},
		{"capture elsewhere", []domain.Event{opened, PaymentCaptured{CustomerID: "x"}}, domain.ErrInvalidHistory},
		{"decline elsewhere", []domain.Event{opened, PaymentDeclined{CustomerID: "x"}}, domain.ErrInvalidHistory},
		{"refund elsewhere", []domain.Event{opened, PaymentRefunded{CustomerID: "x"}}, domain.ErrInvalidHistory},
		{"foreign event", []domain.Event{opened, foreignEvent{}}, domain.ErrUnknownEventType},
		{"records moved elsewhere", []domain.Event{opened, PaymentRecordsMoved{CustomerID: "x"}}, domain.ErrInvalidHistory},
		{"order payment event", []domain.Event{opened, OrderPaymentCaptured{CustomerID: customer}}, domain.ErrUnknownEventType},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := Load(tt.history)
			if a != nil || !errors.Is(err, tt.want) {
				t.Errorf("Load = %v, %v; want %v", a, err, tt.want)
			}
		})
	}
}

type foreignEvent struct{}

func (foreignEvent) EventType() string { return "SomethingElse" }
