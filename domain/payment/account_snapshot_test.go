package payment

import (
	"errors"
	"testing"

	"github.com/shopflow/shopflow/domain"
	"github.com/shopflow/shopflow/domain/domaintest"
)

// An account restored from a snapshot of any prefix of its history (legacy payments, the
// move, later payments) and advanced by the rest equals the account loaded from all of it.
func TestRestoreAndAdvanceEqualsLoad(t *testing.T) {
	history := append(legacyHistory(),
		PaymentRecordsMoved{CustomerID: customer},
		PaymentRefunded{CustomerID: customer, OrderID: "o-captured", AmountCents: 300},
		FundsDeposited{CustomerID: customer, AmountCents: 50},
		PaymentCaptured{CustomerID: customer, OrderID: "o-new", AmountCents: 70},
	)
	domaintest.CheckSnapshot(t, customer, history, Load, Restore)
}

func TestAccountSnapshotNeedsCommittedState(t *testing.T) {
	a := newAccount(t, 100)
	_ = a.Deposit(1)
	if _, err := a.Snapshot(); err == nil {
		t.Error("snapshot of an account with uncommitted changes")
	}
}

func TestRestoreErrors(t *testing.T) {
	state, err := newAccount(t, 100).Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	tests := map[string]struct {
		id      string
		version int64
		state   []byte
	}{
		"not json":     {customer, 3, []byte("[")},
		"no id":        {"", 3, state},
		"version zero": {customer, 0, state},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			a, err := Restore(tt.id, tt.version, tt.state)
			if a != nil || !errors.Is(err, domain.ErrInvalidHistory) {
				t.Errorf("Restore = %v, %v; want ErrInvalidHistory", a, err)
			}
		})
	}
}
