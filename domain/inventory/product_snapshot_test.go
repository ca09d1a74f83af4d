package inventory

import (
	"errors"
	"testing"

	"github.com/shopflow/shopflow/domain"
	"github.com/shopflow/shopflow/domain/domaintest"
)

// A product restored from a snapshot of any prefix of its history and advanced by the rest
// equals the product loaded from the whole history.
func TestRestoreProductAndAdvanceEqualsLoad(t *testing.T) {
	history := []domain.Event{
		ProductRegistered{ProductID: productA, SKU: "S", Name: "N", Description: "D", PriceCents: 100, Currency: "EUR", InitialStock: 5},
		StockReserved{ProductID: productA, OrderID: order1, Quantity: 2, UnitPriceCents: 100},
		StockAdded{ProductID: productA, Quantity: 3},
		StockReleased{ProductID: productA, OrderID: order1, Quantity: 2},
		StockReservationFailed{ProductID: productA, OrderID: order2, Quantity: 99},
		StockReserved{ProductID: productA, OrderID: order2, Quantity: 4, UnitPriceCents: 100},
	}
	domaintest.CheckSnapshot(t, productA, history, LoadProduct, RestoreProduct)
}

func TestProductSnapshotNeedsCommittedState(t *testing.T) {
	p := newProduct(t, productA, 100, 5)
	_ = p.AddStock(1)
	if _, err := p.Snapshot(); err == nil {
		t.Error("snapshot of a product with uncommitted changes")
	}
}

func TestRestoreProductErrors(t *testing.T) {
	state, err := newProduct(t, productA, 100, 5).Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	tests := map[string]struct {
		id      string
		version int64
		state   []byte
	}{
		"not json":     {productA, 3, []byte("{")},
		"no id":        {"", 3, state},
		"version zero": {productA, 0, state},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			p, err := RestoreProduct(tt.id, tt.version, tt.state)
			if p != nil || !errors.Is(err, domain.ErrInvalidHistory) {
				t.Errorf("RestoreProduct = %v, %v; want ErrInvalidHistory", p, err)
			}
		})
	}
}
