package order

import (
	"errors"
	"reflect"
	"testing"

	"github.com/shopflow/shopflow/domain"
)

// TestLoadRebuildsSameState replays the events of every command path and
// compares the rehydrated order with the one that recorded them.
func TestLoadRebuildsSameState(t *testing.T) {
	paths := map[string]func(*Order) error{
		"placed":              func(*Order) error { return nil },
		"confirmed":           func(o *Order) error { return o.Confirm(testPriced(), "EUR") },
		"rejected":            func(o *Order) error { return o.Reject(ReasonInsufficientStock) },
		"cancelled pending":   func(o *Order) error { return o.Cancel("oops") },
		"cancelled confirmed": func(o *Order) error { _ = o.Confirm(testPriced(), "EUR"); return o.Cancel("") },
	}
	for name, run := range paths {
		t.Run(name, func(t *testing.T) {
			o, err := Place(orderID, customerID, testLines(), placedAt)
			if err != nil {
				t.Fatal(err)
			}
			if err := run(o); err != nil {
				t.Fatal(err)
			}
			history := o.Changes()
			o.MarkCommitted()
			loaded, err := Load(history)
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if !reflect.DeepEqual(loaded, o) {
				t.Errorf("loaded %+v\n  want %+v", loaded, o)
			}
			if loaded.Version() != int64(len(history)) || loaded.CommittedVersion() != loaded.Version() ||
				len(loaded.Changes()) != 0 {
				t.Errorf("loaded version %d/%d with %d changes", loaded.Version(), loaded.CommittedVersion(), len(loaded.Changes()))
			}
		})
	}
}

// TestLoadDoesNotValidate loads history that today's commands would refuse:
// history is fact, rules may have changed since it was recorded.
func TestLoadDoesNotValidate(t *testing.T) {
	history := []domain.Event{
		OrderPlaced{OrderID: orderID, CustomerID: "", Lines: []Line{{ProductID: productA, Quantity: -5}, {ProductID: productA, Quantity: 0}}},
		OrderRejected{OrderID: orderID, Reason: "a reason retired long ago"},
		OrderCancelled{OrderID: orderID, Reason: string(make([]byte, 10*MaxCancelReason))},
		OrderConfirmed{OrderID: orderID, Lines: nil, Total: domain.Money{AmountCents: -1, Currency: "euros"}},
	}
	o, err := Load(history)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if o.Status() != StatusConfirmed || o.TotalCents() != -1 || o.RejectReason() != "a reason retired long ago" ||
		len(o.Lines()) != 2 || o.Version() != 4 {
		t.Errorf("state = %+v", o)
	}
}

func TestLoadErrors(t *testing.T) {
	placed := OrderPlaced{OrderID: orderID, CustomerID: customerID, Lines: testLines(), PlacedAt: placedAt}
	tests := []struct {
		name    string
		history []domain.Event
		want    error
	}{
		{"empty", nil, domain.ErrNotFound},
		{"no creation event", []domain.Event{OrderRejected{OrderID: orderID}}, domain.ErrInvalidHistory},
		{"placed twice", []domain.Event{placed, placed}, domain.ErrInvalidHistory},
		{"confirmed for another order", []domain.Event{placed, OrderConfirmed{OrderID: "other"}}, domain.ErrInvalidHistory},
		{"rejected for another order", []domain.Event{placed, OrderRejected{OrderID: "other"}}, domain.ErrInvalidHistory},
		{"cancelled for another order", []domain.Event{placed, OrderCancelled{OrderID: "other"}}, domain.ErrInvalidHistory},
		{"foreign event type", []domain.Event{placed, foreignEvent{}}, domain.ErrUnknownEventType},
		{"pointer event", []domain.Event{placed, &OrderRejected{OrderID: orderID}}, domain.ErrUnknownEventType},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, err := Load(tt.history)
			if o != nil || !errors.Is(err, tt.want) {
				t.Errorf("Load = %v, %v; want error %v", o, err, tt.want)
			}
		})
	}
}

type foreignEvent struct{}

func (foreignEvent) EventType() string { return "SomethingElse" }
