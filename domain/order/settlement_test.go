package order

import (
	"errors"
	"testing"

	"github.com/shopflow/shopflow/domain"
)

// The reservation and the capture arrive in either order: the first is recorded, the
// second confirms the order at the priced lines, and duplicates change nothing.
func TestSettlementConfirmsOnTheSecondFact(t *testing.T) {
	const total = 2050 // testPriced: 2 × 1000 + 1 × 50
	for _, reservedFirst := range []bool{true, false} {
		o := newOrder(t)
		s, err := LoadSettlement(orderID, nil)
		if err != nil {
			t.Fatal(err)
		}
		reserve := func() error { return s.StockReserved(o, testPriced(), total, "EUR") }
		capture := func() error { return s.PaymentCaptured(o, total) }
		first, second := capture, reserve
		if reservedFirst {
			first, second = reserve, capture
		}
		if err := first(); err != nil || o.Status() != StatusPending || len(s.Changes()) != 1 {
			t.Fatalf("first fact (reserved first: %v): %v, order %s, %d changes", reservedFirst, err, o.Status(), len(s.Changes()))
		}
		if err := first(); err != nil || len(s.Changes()) != 1 {
			t.Fatalf("duplicate first fact: %v, %d changes", err, len(s.Changes()))
		}
		if err := second(); err != nil || o.Status() != StatusConfirmed || o.TotalCents() != total {
			t.Fatalf("second fact: %v, order %s total %d", err, o.Status(), o.TotalCents())
		}
		replayed, err := LoadSettlement(orderID, s.Changes())
		if err != nil || replayed.Version() != 1 {
			t.Fatalf("replay: %v, version %d", err, replayed.Version())
		}
	}
}

// A capture of another amount than the reserved total cannot confirm the order.
func TestSettlementRefusesAnotherAmount(t *testing.T) {
	o := newOrder(t)
	s, _ := LoadSettlement(orderID, nil)
	if err := s.PaymentCaptured(o, 999); err != nil {
		t.Fatal(err)
	}
	if err := s.StockReserved(o, testPriced(), 2050, "EUR"); err == nil || o.Status() != StatusPending {
		t.Fatalf("mismatched amounts: %v, order %s", err, o.Status())
	}
}

// A settlement stream holding another order's event is not a valid history.
func TestSettlementHistoryOfAnotherOrder(t *testing.T) {
	_, err := LoadSettlement(orderID, []domain.Event{SettlementPaid{OrderID: "other", AmountCents: 1}})
	if !errors.Is(err, domain.ErrInvalidHistory) {
		t.Fatalf("LoadSettlement: %v, want ErrInvalidHistory", err)
	}
}
