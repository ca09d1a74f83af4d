package inventory

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/shopflow/shopflow/domain"
	"github.com/shopflow/shopflow/domain/domaintest"
)

const (
	productA = "p-a"
	productB = "p-b"
	productC = "p-c"
	order1   = "o-1"
	order2   = "o-2"
	customer = "c-1"
)

func validNew() NewProduct {
	return NewProduct{SKU: "ANV-1", Name: "Anvil", Description: "Heavy.", PriceCents: 1999, Currency: "EUR", InitialStock: 10}
}

// newProduct registers a committed product with the given price and stock.
func newProduct(t testing.TB, id string, price, stock int64) *Product {
	t.Helper()
	n := validNew()
	n.SKU, n.Name, n.PriceCents, n.InitialStock = "SKU-"+id, "Name "+id, price, stock
	p, err := RegisterProduct(id, n)
	if err != nil {
		t.Fatalf("RegisterProduct: %v", err)
	}
	p.MarkCommitted()
	return p
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

// stock fails unless the product has the given available and reserved units.
func stock(t testing.TB, p *Product, available, reserved int64) {
	t.Helper()
	if p.Available() != available || p.Reserved() != reserved {
		t.Errorf("product %s stock = %d available / %d reserved, want %d / %d",
			p.ID(), p.Available(), p.Reserved(), available, reserved)
	}
}

func TestRegisterProduct(t *testing.T) {
	p, err := RegisterProduct(productA, validNew())
	if err != nil {
		t.Fatal(err)
	}
	wantChanges(t, p, ProductRegistered{ProductID: productA, SKU: "ANV-1", Name: "Anvil", Description: "Heavy.",
		PriceCents: 1999, Currency: "EUR", InitialStock: 10})
	if p.ID() != productA || p.SKU() != "ANV-1" || p.Name() != "Anvil" || p.Description() != "Heavy." ||
		p.PriceCents() != 1999 || p.Currency() != "EUR" || p.Version() != 1 || p.CommittedVersion() != 0 {
		t.Errorf("state = %+v", p)
	}
	stock(t, p, 10, 0)
}

func TestRegisterProductValidation(t *testing.T) {
	with := func(change func(*NewProduct)) NewProduct { n := validNew(); change(&n); return n }
	tests := []struct {
		name string
		id   string
		in   NewProduct
		want []string
	}{
		{"missing id", "", validNew(), []string{"product_id"}},
		{"blank sku and name", productA, with(func(n *NewProduct) { n.SKU, n.Name = "", "  " }), []string{"sku", "name"}},
		{"sku too long", productA, with(func(n *NewProduct) { n.SKU = strings.Repeat("S", MaxSKU+1) }), []string{"sku"}},
		{"name too long", productA, with(func(n *NewProduct) { n.Name = strings.Repeat("ü", MaxName+1) }), []string{"name"}},
		{"description too long", productA, with(func(n *NewProduct) { n.Description = strings.Repeat("d", MaxDescription+1) }), []string{"description"}},
		{"negative price", productA, with(func(n *NewProduct) { n.PriceCents = -1 }), []string{"price_cents"}},
		{"price too large", productA, with(func(n *NewProduct) { n.PriceCents = domain.MaxPriceCents + 1 }), []string{"price_cents"}},
		{"lower-case currency", productA, with(func(n *NewProduct) { n.Currency = "eur" }), []string{"currency"}},
		{"long currency", productA, with(func(n *NewProduct) { n.Currency = "EURO" }), []string{"currency"}},
		{"empty currency", productA, with(func(n *NewProduct) { n.Currency = "" }), []string{"currency"}},
		{"negative stock", productA, with(func(n *NewProduct) { n.InitialStock = -1 }), []string{"initial_stock"}},
		{"stock too large", productA, with(func(n *NewProduct) { n.InitialStock = MaxStock + 1 }), []string{"initial_stock"}},
		{"everything wrong", "", NewProduct{PriceCents: -5, InitialStock: -5},
			[]string{"product_id", "sku", "name", "price_cents", "currency", "initial_stock"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := RegisterProduct(tt.id, tt.in)
			if p != nil {
				t.Error("RegisterProduct returned a product with an error")
			}
			if got := fieldsOf(t, err); !slices.Equal(got, tt.want) {
				t.Errorf("fields = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestRegisterProductLimits(t *testing.T) {
	n := NewProduct{SKU: strings.Repeat("S", MaxSKU), Name: strings.Repeat("ü", MaxName),
		Description: strings.Repeat("d", MaxDescription), PriceCents: domain.MaxPriceCents, Currency: "JPY", InitialStock: MaxStock}
	if _, err := RegisterProduct(productA, n); err != nil {
		t.Errorf("at the limits: %v", err)
	}
	n.Description, n.PriceCents, n.InitialStock = "", 0, 0
	if _, err := RegisterProduct(productA, n); err != nil {
		t.Errorf("free, no stock, no description: %v", err)
	}
}

func TestAddStock(t *testing.T) {
	t.Run("adds", func(t *testing.T) {
		p := newProduct(t, productA, 100, 3)
		if err := p.AddStock(7); err != nil {
			t.Fatal(err)
		}
		wantChanges(t, p, StockAdded{ProductID: productA, Quantity: 7})
		stock(t, p, 10, 0)
	})
	for _, q := range []int64{0, -1} {
		t.Run("invalid quantity", func(t *testing.T) {
			p := newProduct(t, productA, 100, 3)
			if got := fieldsOf(t, p.AddStock(q)); !slices.Equal(got, []string{"quantity"}) {
				t.Errorf("fields = %v", got)
			}
			wantChanges(t, p)
		})
	}
	t.Run("limit counts reserved units", func(t *testing.T) {
		p := newProduct(t, productA, 100, 10)
		p.reserve(order1, 4)
		p.MarkCommitted()
		err := p.AddStock(MaxStock - 9)
		if !errors.Is(err, ErrStockLimit) || !errors.Is(err, domain.ErrRuleViolation) {
			t.Errorf("err = %v, want ErrStockLimit", err)
		}
		wantChanges(t, p)
		if err := p.AddStock(MaxStock - 10); err != nil {
			t.Errorf("restock to exactly MaxStock: %v", err)
		}
		stock(t, p, MaxStock-4, 4)
	})
}

func TestCanReserve(t *testing.T) {
	p := newProduct(t, productA, 100, 5)
	tests := []struct {
		qty  int64
		want error
	}{{1, nil}, {5, nil}, {6, ErrInsufficientStock}, {0, domain.ErrValidation}, {-2, domain.ErrValidation}}
	for _, tt := range tests {
		err := p.CanReserve(tt.qty)
		if (tt.want == nil) != (err == nil) || (tt.want != nil && !errors.Is(err, tt.want)) {
			t.Errorf("CanReserve(%d) = %v, want %v", tt.qty, err, tt.want)
		}
	}
	wantChanges(t, p)
}

func TestProductReserve(t *testing.T) {
	t.Run("reserves at current price", func(t *testing.T) {
		p := newProduct(t, productA, 250, 5)
		p.reserve(order1, 5)
		wantChanges(t, p, StockReserved{ProductID: productA, OrderID: order1, Quantity: 5, UnitPriceCents: 250})
		stock(t, p, 0, 5)
	})
	t.Run("shortage records a failure, moves nothing", func(t *testing.T) {
		p := newProduct(t, productA, 250, 2)
		p.reserve(order1, 3)
		wantChanges(t, p, StockReservationFailed{ProductID: productA, OrderID: order1, Quantity: 3, Available: 2,
			Reason: ReasonInsufficientStock})
		stock(t, p, 2, 0)
	})
	t.Run("orders reserve independently", func(t *testing.T) {
		p := newProduct(t, productA, 250, 5)
		p.reserve(order1, 3)
		p.reserve(order2, 3) // only 2 left
		stock(t, p, 2, 3)
	})
}

func TestProductRelease(t *testing.T) {
	p := newProduct(t, productA, 250, 5)
	p.reserve(order1, 3)
	p.MarkCommitted()
	p.release(order1, 3)
	wantChanges(t, p, StockReleased{ProductID: productA, OrderID: order1, Quantity: 3})
	stock(t, p, 5, 0)
}

// TestProductStateIsBounded runs a thousand orders through a product (reserved and
// released, or failed) and expects, besides its version, the very state of the product
// fresh from registration: nothing per order. The orders' reservation streams remember them.
func TestProductStateIsBounded(t *testing.T) {
	busy := newProduct(t, productA, 100, 5)
	for i := range 1000 {
		r := newReservationOf(t, fmt.Sprintf("o-%d", i))
		products := map[string]*Product{productA: busy}
		quantity := int64(2)
		if i%3 == 0 {
			quantity = 9 // fails
		}
		if err := r.Reserve(customer, []Line{{productA, quantity}}, products); err != nil {
			t.Fatal(err)
		}
		if err := r.Release(products); err != nil {
			t.Fatal(err)
		}
	}
	busy.MarkCommitted()
	fresh := newProduct(t, productA, 100, 5)
	fresh.root = busy.root
	if !reflect.DeepEqual(busy, fresh) {
		t.Errorf("after 1000 orders the product is %+v,\n   fresh from registration %+v", busy, fresh)
	}
}

// newReservationOf returns the empty reservation of an order.
func newReservationOf(t testing.TB, orderID string) *OrderReservation {
	t.Helper()
	r, err := LoadOrderReservation(orderID, nil)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestLoadProductRebuildsSameState(t *testing.T) {
	p, err := RegisterProduct(productA, validNew())
	if err != nil {
		t.Fatal(err)
	}
	_ = p.AddStock(5)
	p.reserve(order1, 4)
	p.reserve(order2, 100)
	p.reserve("o-3", 2)
	p.release(order1, 4)
	history := p.Changes()
	p.MarkCommitted()
	loaded, err := LoadProduct(history)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(loaded, p) {
		t.Errorf("loaded %+v\n  want %+v", loaded, p)
	}
	if loaded.Version() != 6 || len(loaded.Changes()) != 0 {
		t.Errorf("version %d, changes %v", loaded.Version(), loaded.Changes())
	}
}

// TestLoadProductDoesNotValidate loads history that commands would refuse.
func TestLoadProductDoesNotValidate(t *testing.T) {
	p, err := LoadProduct([]domain.Event{
		ProductRegistered{ProductID: productA, SKU: "", PriceCents: -1, Currency: "euro", InitialStock: 1},
		StockReserved{ProductID: productA, OrderID: order1, Quantity: 3},
		StockAdded{ProductID: productA, Quantity: -1},
	})
	if err != nil {
		t.Fatal(err)
	}
	stock(t, p, -3, 3)
}

func TestLoadProductErrors(t *testing.T) {
	reg := ProductRegistered{ProductID: productA, SKU: "S", Name: "N", Currency: "EUR"}
	tests := []struct {
		name    string
		history []domain.Event
		want    error
	}{
		{"empty", nil, domain.ErrNotFound},
		{"no creation event", []domain.Event{StockAdded{ProductID: productA, Quantity: 1}}, domain.ErrInvalidHistory},
		{"registered twice", []domain.Event{reg, reg}, domain.ErrInvalidHistory},
		{"stock added elsewhere", []domain.Event{reg, StockAdded{ProductID: productB}}, domain.ErrInvalidHistory},
		{"reserved elsewhere", []domain.Event{reg, StockReserved{ProductID: productB}}, domain.ErrInvalidHistory},
		{"failed elsewhere", []domain.Event{reg, StockReservationFailed{ProductID: productB}}, domain.ErrInvalidHistory},
		{"released elsewhere", []domain.Event{reg, StockReleased{ProductID: productB}}, domain.ErrInvalidHistory},
		{"order-level event", []domain.Event{reg, OrderStockReleased{OrderID: order1}}, domain.ErrUnknownEventType},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := LoadProduct(tt.history)
			if p != nil || !errors.Is(err, tt.want) {
				t.Errorf("LoadProduct = %v, %v; want %v", p, err, tt.want)
			}
		})
	}
}

// A product loaded from part of its history and advanced by the rest equals the product
// loaded from all of it; advancing with uncommitted changes is refused.
func TestAdvanceEqualsLoadingTheWholeHistory(t *testing.T) {
	history := []domain.Event{
		ProductRegistered{ProductID: productA, SKU: "S", Name: "N", PriceCents: 100, Currency: "EUR", InitialStock: 5},
		StockReserved{ProductID: productA, OrderID: order1, Quantity: 2, UnitPriceCents: 100},
		StockAdded{ProductID: productA, Quantity: 3},
		StockReleased{ProductID: productA, OrderID: order1, Quantity: 2},
		StockReservationFailed{ProductID: productA, OrderID: order2, Quantity: 99},
	}
	domaintest.CheckAdvance(t, history, LoadProduct, (*Product).Advance, func(p *Product) error { return p.AddStock(1) })
	if err := newProduct(t, productB, 1, 1).Advance(history[:1]); !errors.Is(err, domain.ErrInvalidHistory) {
		t.Errorf("advancing by a second registration: %v, want ErrInvalidHistory", err)
	}
}
