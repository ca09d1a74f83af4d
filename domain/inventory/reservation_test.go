package inventory

import (
	"errors"
	"reflect"
	"slices"
	"testing"

	"github.com/shopflow/shopflow/domain"
)

// catalog returns committed products A (price 100, stock 5), B (price 30,
// stock 2) and C (price 7, stock 0).
func catalog(t testing.TB) map[string]*Product {
	t.Helper()
	return map[string]*Product{
		productA: newProduct(t, productA, 100, 5),
		productB: newProduct(t, productB, 30, 2),
		productC: newProduct(t, productC, 7, 0),
	}
}

// newReservation returns the empty reservation of order1.
func newReservation(t testing.TB) *OrderReservation {
	t.Helper()
	r, err := LoadOrderReservation(order1, nil)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// reserved returns order1's committed reservation of 2 A and 1 B.
func reserved(t testing.TB, products map[string]*Product) *OrderReservation {
	t.Helper()
	r := newReservation(t)
	if err := r.Reserve(customer, []Line{{productA, 2}, {productB, 1}}, products); err != nil ||
		r.Status() != ReservationReserved {
		t.Fatalf("Reserve: %v, status %s", err, r.Status())
	}
	r.MarkCommitted()
	for _, p := range products {
		p.MarkCommitted()
	}
	return r
}

func TestNewReservation(t *testing.T) {
	r := newReservation(t)
	if r.ID() != order1 || r.Status() != ReservationNone || r.Version() != 0 || r.CommittedVersion() != 0 || len(r.Changes()) != 0 ||
		len(r.ProductIDs()) != 0 {
		t.Errorf("new reservation = %+v", r)
	}
}

func TestReserveAllLines(t *testing.T) {
	products := catalog(t)
	r := newReservation(t)
	if err := r.Reserve(customer, []Line{{productA, 2}, {productB, 2}}, products); err != nil {
		t.Fatal(err)
	}
	lines := []ReservedLine{
		{ProductID: productA, SKU: "SKU-" + productA, Name: "Name " + productA, Quantity: 2, UnitPriceCents: 100},
		{ProductID: productB, SKU: "SKU-" + productB, Name: "Name " + productB, Quantity: 2, UnitPriceCents: 30},
	}
	wantChanges(t, r, OrderStockReserved{OrderID: order1, CustomerID: customer, Lines: lines, Total: domain.Money{AmountCents: 260, Currency: "EUR"}})
	wantChanges(t, products[productA], StockReserved{ProductID: productA, OrderID: order1, Quantity: 2, UnitPriceCents: 100})
	wantChanges(t, products[productB], StockReserved{ProductID: productB, OrderID: order1, Quantity: 2, UnitPriceCents: 30})
	wantChanges(t, products[productC])
	stock(t, products[productA], 3, 2)
	stock(t, products[productB], 0, 2)
	if r.Status() != ReservationReserved || r.CustomerID() != customer || r.TotalCents() != 260 ||
		r.Currency() != "EUR" || !slices.Equal(r.Lines(), lines) || !slices.Equal(r.ProductIDs(), []string{productA, productB}) {
		t.Errorf("state = %+v", r)
	}
}

// TestReserveAllOrNothing checks each failure reason: the order-level
// failure is recorded and no stock moves on any product.
func TestReserveAllOrNothing(t *testing.T) {
	usd := func(t testing.TB, products map[string]*Product) {
		n := validNew()
		n.Currency = "USD"
		p, _ := RegisterProduct("p-usd", n)
		p.MarkCommitted()
		products["p-usd"] = p
	}
	tests := []struct {
		name    string
		setup   func(testing.TB, map[string]*Product)
		lines   []Line
		reason  Reason
		faulty  []string
		failing map[string]StockReservationFailed // product-level failure events
	}{
		{"unknown product", nil, []Line{{productA, 1}, {"p-x", 1}, {productB, 1}, {"p-y", 1}},
			ReasonUnknownProduct, []string{"p-x", "p-y"}, nil},
		{"nil product", func(_ testing.TB, m map[string]*Product) { m[productB] = nil }, []Line{{productA, 1}, {productB, 1}},
			ReasonUnknownProduct, []string{productB}, nil},
		{"currency mismatch", usd, []Line{{productA, 1}, {"p-usd", 1}, {productB, 1}},
			ReasonCurrencyMismatch, []string{"p-usd"}, nil},
		{"one line short", nil, []Line{{productA, 5}, {productB, 3}},
			ReasonInsufficientStock, []string{productB},
			map[string]StockReservationFailed{productB: {ProductID: productB, OrderID: order1, Quantity: 3, Available: 2, Reason: ReasonInsufficientStock}}},
		{"several short", nil, []Line{{productC, 1}, {productA, 1}, {productB, 3}},
			ReasonInsufficientStock, []string{productC, productB},
			map[string]StockReservationFailed{
				productC: {ProductID: productC, OrderID: order1, Quantity: 1, Available: 0, Reason: ReasonInsufficientStock},
				productB: {ProductID: productB, OrderID: order1, Quantity: 3, Available: 2, Reason: ReasonInsufficientStock},
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			products := catalog(t)
			if tt.setup != nil {
				tt.setup(t, products)
			}
			r := newReservation(t)
			if err := r.Reserve(customer, tt.lines, products); err != nil {
				t.Fatal(err)
			}
			wantChanges(t, r, OrderStockReservationFailed{OrderID: order1, CustomerID: customer, Reason: tt.reason, ProductIDs: tt.faulty})
			for id, p := range products {
				if p == nil {
					continue
				}
				if f, ok := tt.failing[id]; ok {
					wantChanges(t, p, f)
				} else {
					wantChanges(t, p)
				}
				if p.Reserved() != 0 {
					t.Errorf("product %s reserved %d units", id, p.Reserved())
				}
			}
			if r.Status() != ReservationFailed || r.FailureReason() != tt.reason || r.CustomerID() != customer {
				t.Errorf("state = %+v", r)
			}
		})
	}
}

func TestReserveValidation(t *testing.T) {
	many := make([]Line, domain.MaxOrderLines+1)
	for i := range many {
		many[i] = Line{ProductID: string(rune('a' + i)), Quantity: 1}
	}
	tests := []struct {
		name     string
		customer string
		lines    []Line
		want     []string
	}{
		{"missing customer", "", []Line{{productA, 1}}, []string{"customer_id"}},
		{"no lines", customer, nil, []string{"lines"}},
		{"too many lines", customer, many, []string{"lines"}},
		{"bad lines", customer, []Line{{"", 1}, {productA, 0}, {productA, domain.MaxLineQuantity + 1}},
			[]string{"lines[0].product_id", "lines[1].quantity", "lines[2].product_id", "lines[2].quantity"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			products := catalog(t)
			r := newReservation(t)
			if got := fieldsOf(t, r.Reserve(tt.customer, tt.lines, products)); !slices.Equal(got, tt.want) {
				t.Errorf("fields = %v, want %v", got, tt.want)
			}
			wantChanges(t, r)
			wantChanges(t, products[productA])
		})
	}
}

// TestReserveOnceThenNoOp covers duplicate OrderPlaced deliveries: once the
// order has any outcome, Reserve records nothing anywhere.
func TestReserveOnceThenNoOp(t *testing.T) {
	outcomes := map[string]func(*OrderReservation, map[string]*Product){
		"reserved": func(r *OrderReservation, m map[string]*Product) { _ = r.Reserve(customer, []Line{{productA, 1}}, m) },
		"failed":   func(r *OrderReservation, m map[string]*Product) { _ = r.Reserve(customer, []Line{{productC, 1}}, m) },
		"released": func(r *OrderReservation, m map[string]*Product) { _ = r.Release(m) },
	}
	for name, outcome := range outcomes {
		t.Run(name, func(t *testing.T) {
			products := catalog(t)
			r := newReservation(t)
			outcome(r, products)
			r.MarkCommitted()
			for _, p := range products {
				p.MarkCommitted()
			}
			availableA := products[productA].Available()
			if err := r.Reserve(customer, []Line{{productA, 1}, {productB, 1}}, products); err != nil {
				t.Fatal(err)
			}
			if err := r.Reserve("", nil, nil); err != nil { // payload of a late message is irrelevant
				t.Fatal(err)
			}
			wantChanges(t, r)
			for _, p := range products {
				wantChanges(t, p)
			}
			if products[productA].Available() != availableA {
				t.Error("stock moved")
			}
		})
	}
}

// TestReleaseDetectsNonAtomicAppends releases a reservation whose product does not hold the
// reserved units (their streams were not appended together): nothing is recorded.
func TestReleaseDetectsNonAtomicAppends(t *testing.T) {
	products := catalog(t)
	r := reserved(t, products)
	products[productB] = newProduct(t, productB, 30, 2) // lost its StockReserved
	err := r.Release(products)
	if !errors.Is(err, domain.ErrInvalidHistory) {
		t.Errorf("err = %v, want ErrInvalidHistory", err)
	}
	wantChanges(t, r)
	wantChanges(t, products[productA])
	wantChanges(t, products[productB])
}

func TestRelease(t *testing.T) {
	products := catalog(t)
	r := reserved(t, products)
	if err := r.Release(products); err != nil {
		t.Fatal(err)
	}
	wantChanges(t, r, OrderStockReleased{OrderID: order1, Lines: []Line{{productA, 2}, {productB, 1}}})
	wantChanges(t, products[productA], StockReleased{ProductID: productA, OrderID: order1, Quantity: 2})
	wantChanges(t, products[productB], StockReleased{ProductID: productB, OrderID: order1, Quantity: 1})
	stock(t, products[productA], 5, 0)
	stock(t, products[productB], 2, 0)
	if r.Status() != ReservationReleased || len(r.Lines()) != 2 {
		t.Errorf("state = %+v", r)
	}
}

// TestReleaseIsIdempotent covers duplicate and late release triggers
// (OrderCancelled, OrderRejected, PaymentDeclined for the same order).
func TestReleaseIsIdempotent(t *testing.T) {
	t.Run("released twice", func(t *testing.T) {
		products := catalog(t)
		r := reserved(t, products)
		_ = r.Release(products)
		r.MarkCommitted()
		for _, p := range products {
			p.MarkCommitted()
		}
		if err := r.Release(products); err != nil {
			t.Fatal(err)
		}
		wantChanges(t, r)
		for _, p := range products {
			wantChanges(t, p)
		}
		stock(t, products[productA], 5, 0)
	})
	t.Run("failed reservation", func(t *testing.T) {
		products := catalog(t)
		r := newReservation(t)
		_ = r.Reserve(customer, []Line{{productC, 1}}, products)
		r.MarkCommitted()
		if err := r.Release(nil); err != nil {
			t.Fatal(err)
		}
		wantChanges(t, r)
	})
	t.Run("before any reservation closes it", func(t *testing.T) {
		r := newReservation(t)
		if err := r.Release(nil); err != nil {
			t.Fatal(err)
		}
		wantChanges(t, r, OrderStockReleased{OrderID: order1, Lines: []Line{}})
		if r.Status() != ReservationReleased {
			t.Errorf("status = %s", r.Status())
		}
	})
}

func TestReleaseNeedsEveryProduct(t *testing.T) {
	products := catalog(t)
	r := reserved(t, products)
	delete(products, productB)
	err := r.Release(products)
	if !errors.Is(err, ErrMissingProduct) {
		t.Errorf("err = %v, want ErrMissingProduct", err)
	}
	wantChanges(t, r)
	wantChanges(t, products[productA])
	stock(t, products[productA], 3, 2)
}

func TestLoadOrderReservationRebuildsSameState(t *testing.T) {
	paths := map[string]func(*OrderReservation, map[string]*Product){
		"reserved": func(r *OrderReservation, m map[string]*Product) { _ = r.Reserve(customer, []Line{{productA, 2}}, m) },
		"failed":   func(r *OrderReservation, m map[string]*Product) { _ = r.Reserve(customer, []Line{{"p-x", 2}}, m) },
		"released": func(r *OrderReservation, m map[string]*Product) {
			_ = r.Reserve(customer, []Line{{productA, 2}}, m)
			_ = r.Release(m)
		},
		"closed": func(r *OrderReservation, m map[string]*Product) { _ = r.Release(m) },
	}
	for name, run := range paths {
		t.Run(name, func(t *testing.T) {
			r := newReservation(t)
			run(r, catalog(t))
			history := r.Changes()
			r.MarkCommitted()
			loaded, err := LoadOrderReservation(order1, history)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(loaded, r) {
				t.Errorf("loaded %+v\n  want %+v", loaded, r)
			}
		})
	}
}

func TestLoadOrderReservationDoesNotValidate(t *testing.T) {
	r, err := LoadOrderReservation(order1, []domain.Event{
		OrderStockReserved{OrderID: order1, Lines: nil, Total: domain.Money{AmountCents: -10, Currency: "??"}},
		OrderStockReservationFailed{OrderID: order1, Reason: "retired_reason"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if r.Status() != ReservationFailed || r.FailureReason() != "retired_reason" || r.TotalCents() != -10 {
		t.Errorf("state = %+v", r)
	}
}

func TestLoadOrderReservationErrors(t *testing.T) {
	tests := []struct {
		name  string
		event domain.Event
		want  error
	}{
		{"reserved for another order", OrderStockReserved{OrderID: order2}, domain.ErrInvalidHistory},
		{"failed for another order", OrderStockReservationFailed{OrderID: order2}, domain.ErrInvalidHistory},
		{"released for another order", OrderStockReleased{OrderID: order2}, domain.ErrInvalidHistory},
		{"product event", StockAdded{ProductID: productA}, domain.ErrUnknownEventType},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := LoadOrderReservation(order1, []domain.Event{tt.event})
			if r != nil || !errors.Is(err, tt.want) {
				t.Errorf("LoadOrderReservation = %v, %v; want %v", r, err, tt.want)
			}
		})
	}
}
