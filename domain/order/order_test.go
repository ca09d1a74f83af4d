package order

import (
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/shopflow/shopflow/domain"
)

const (
	orderID    = "6f1c2a84-0000-4000-8000-000000000001"
	customerID = "6f1c2a84-0000-4000-8000-0000000000c1"
	productA   = "6f1c2a84-0000-4000-8000-0000000000a1"
	productB   = "6f1c2a84-0000-4000-8000-0000000000b1"
)

var placedAt = time.Date(2025, 3, 1, 12, 30, 0, 123456789, time.UTC)

func testLines() []Line {
	return []Line{{ProductID: productA, Quantity: 2}, {ProductID: productB, Quantity: 1}}
}

func testPriced() []PricedLine {
	return []PricedLine{
		{ProductID: productB, SKU: "B-1", Name: "Bolt", Quantity: 1, UnitPriceCents: 50},
		{ProductID: productA, SKU: "A-1", Name: "Anvil", Quantity: 2, UnitPriceCents: 1000},
	}
}

// newOrder places a valid order and marks it committed.
func newOrder(t testing.TB) *Order {
	t.Helper()
	o, err := Place(orderID, customerID, testLines(), placedAt)
	if err != nil {
		t.Fatalf("Place: %v", err)
	}
	o.MarkCommitted()
	return o
}

// orderIn returns a committed order in the given status.
func orderIn(t testing.TB, s Status) *Order {
	t.Helper()
	o := newOrder(t)
	var err error
	switch s {
	case StatusConfirmed:
		err = o.Confirm(testPriced(), "EUR")
	case StatusRejected:
		err = o.Reject(ReasonTimeout)
	case StatusCancelled:
		err = o.Cancel("changed my mind")
	}
	if err != nil || o.Status() != s {
		t.Fatalf("order in %s: status %s, err %v", s, o.Status(), err)
	}
	o.MarkCommitted()
	return o
}

// onlyChange returns the single recorded change or fails.
func onlyChange(t testing.TB, o *Order) domain.Event {
	t.Helper()
	ch := o.Changes()
	if len(ch) != 1 {
		t.Fatalf("changes = %d events %v, want 1", len(ch), ch)
	}
	return ch[0]
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

func TestPlaceRecordsOrderPlaced(t *testing.T) {
	local := placedAt.In(time.FixedZone("CET", 3600))
	o, err := Place(orderID, customerID, testLines(), local)
	if err != nil {
		t.Fatal(err)
	}
	want := OrderPlaced{OrderID: orderID, CustomerID: customerID, Lines: testLines(), PlacedAt: placedAt}
	if got := onlyChange(t, o); !reflect.DeepEqual(got, want) {
		t.Errorf("event = %#v, want %#v", got, want)
	}
	if o.ID() != orderID || o.CustomerID() != customerID || o.Status() != StatusPending ||
		!o.PlacedAt().Equal(placedAt) || o.PlacedAt().Location() != time.UTC ||
		!slices.Equal(o.Lines(), testLines()) {
		t.Errorf("state after Place = %+v", o)
	}
	if o.Version() != 1 || o.CommittedVersion() != 0 {
		t.Errorf("versions = %d/%d, want 1/0", o.Version(), o.CommittedVersion())
	}
}

func TestPlaceValidation(t *testing.T) {
	many := make([]Line, MaxLines+1)
	for i := range many {
		many[i] = Line{ProductID: strings.Repeat("p", i+1), Quantity: 1}
	}
	tests := []struct {
		name       string
		orderID    string
		customerID string
		lines      []Line
		at         time.Time
		want       []string
	}{
		{"missing ids and time", "", "", testLines(), time.Time{}, []string{"order_id", "customer_id", "placed_at"}},
		{"no lines", orderID, customerID, nil, placedAt, []string{"lines"}},
		{"too many lines", orderID, customerID, many, placedAt, []string{"lines"}},
		{"zero quantity", orderID, customerID, []Line{{productA, 0}}, placedAt, []string{"lines[0].quantity"}},
		{"negative quantity", orderID, customerID, []Line{{productA, -1}}, placedAt, []string{"lines[0].quantity"}},
		{"quantity too large", orderID, customerID, []Line{{productA, MaxLineQuantity + 1}}, placedAt, []string{"lines[0].quantity"}},
		{"missing product", orderID, customerID, []Line{{"", 1}}, placedAt, []string{"lines[0].product_id"}},
		{"duplicate product", orderID, customerID, []Line{{productA, 1}, {productB, 1}, {productA, 2}}, placedAt, []string{"lines[2].product_id"}},
		{"every bad field reported", "", customerID, []Line{{"", 0}, {productA, 1}, {productA, 1}}, placedAt,
			[]string{"order_id", "lines[0].product_id", "lines[0].quantity", "lines[2].product_id"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, err := Place(tt.orderID, tt.customerID, tt.lines, tt.at)
			if o != nil {
				t.Errorf("Place returned an order with error %v", err)
			}
			if got := fieldsOf(t, err); !slices.Equal(got, tt.want) {
				t.Errorf("fields = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestPlaceAcceptsLimits(t *testing.T) {
	lines := make([]Line, MaxLines)
	for i := range lines {
		lines[i] = Line{ProductID: strings.Repeat("p", i+1), Quantity: MaxLineQuantity}
	}
	if _, err := Place(orderID, customerID, lines, placedAt); err != nil {
		t.Fatalf("Place at the limits: %v", err)
	}
}

func TestPlaceCopiesLines(t *testing.T) {
	lines := testLines()
	o, err := Place(orderID, customerID, lines, placedAt)
	if err != nil {
		t.Fatal(err)
	}
	lines[0].Quantity = 99
	o.Lines()[1].Quantity = 99
	if o.Lines()[0].Quantity != 2 || o.Lines()[1].Quantity != 1 {
		t.Errorf("order lines aliased the caller's slice: %v", o.Lines())
	}
	if onlyChange(t, o).(OrderPlaced).Lines[0].Quantity != 2 {
		t.Error("event lines aliased the caller's slice")
	}
}

func TestConfirmRecordsOrderConfirmed(t *testing.T) {
	o := newOrder(t)
	if err := o.Confirm(testPriced(), "EUR"); err != nil {
		t.Fatal(err)
	}
	p := testPriced()
	want := OrderConfirmed{OrderID: orderID, Lines: []PricedLine{p[1], p[0]}, Total: domain.Money{AmountCents: 2050, Currency: "EUR"}}
	if got := onlyChange(t, o); !reflect.DeepEqual(got, want) {
		t.Errorf("event = %#v, want %#v", got, want)
	}
	if o.Status() != StatusConfirmed || o.TotalCents() != 2050 || o.Currency() != "EUR" ||
		!slices.Equal(o.PricedLines(), want.Lines) {
		t.Errorf("state after Confirm = %+v", o)
	}
}

func TestConfirmValidation(t *testing.T) {
	with := func(change func([]PricedLine) []PricedLine) []PricedLine { return change(testPriced()) }
	tests := []struct {
		name     string
		lines    []PricedLine
		currency string
		want     []string
	}{
		{"bad currency", testPriced(), "eur", []string{"currency"}},
		{"missing line", testPriced()[:1], "EUR", []string{"lines", "lines"}},
		{"extra line", append(testPriced(), PricedLine{ProductID: "x", SKU: "X", Name: "X", Quantity: 1}), "EUR", []string{"lines"}},
		{"wrong quantity", with(func(p []PricedLine) []PricedLine { p[0].Quantity = 3; return p }), "EUR", []string{"lines"}},
		{"duplicate line", with(func(p []PricedLine) []PricedLine { return []PricedLine{p[1], p[1]} }), "EUR",
			[]string{"lines[1].product_id", "lines"}},
		{"missing sku and name", with(func(p []PricedLine) []PricedLine { p[0].SKU, p[0].Name = "", " "; return p }), "EUR",
			[]string{"lines[0].sku", "lines[0].name"}},
		{"negative price", with(func(p []PricedLine) []PricedLine { p[1].UnitPriceCents = -1; return p }), "EUR",
			[]string{"lines[1].unit_price_cents"}},
		{"price too large", with(func(p []PricedLine) []PricedLine { p[1].UnitPriceCents = domain.MaxPriceCents + 1; return p }), "EUR",
			[]string{"lines[1].unit_price_cents"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := newOrder(t)
			if got := fieldsOf(t, o.Confirm(tt.lines, tt.currency)); !slices.Equal(got, tt.want) {
				t.Errorf("fields = %v, want %v", got, tt.want)
			}
			if len(o.Changes()) != 0 || o.Status() != StatusPending {
				t.Errorf("invalid Confirm changed the order: %v", o.Changes())
			}
		})
	}
}

func TestConfirmFreeOrder(t *testing.T) {
	o := newOrder(t)
	p := testPriced()
	p[0].UnitPriceCents, p[1].UnitPriceCents = 0, 0
	if err := o.Confirm(p, "USD"); err != nil || o.TotalCents() != 0 || o.Status() != StatusConfirmed {
		t.Fatalf("Confirm free order: err %v, total %d, status %s", err, o.TotalCents(), o.Status())
	}
}

// TestSagaReactionsOnSettledOrdersAreNoOps covers duplicate and late saga
// messages: they record nothing and succeed, whatever their payload.
func TestSagaReactionsOnSettledOrdersAreNoOps(t *testing.T) {
	reactions := map[string]func(*Order) error{
		"confirm":         func(o *Order) error { return o.Confirm(testPriced(), "EUR") },
		"confirm garbage": func(o *Order) error { return o.Confirm(nil, "") },
		"reject":          func(o *Order) error { return o.Reject(ReasonInsufficientFunds) },
		"reject garbage":  func(o *Order) error { return o.Reject("order_closed") },
	}
	for _, s := range []Status{StatusConfirmed, StatusRejected, StatusCancelled} {
		for name, react := range reactions {
			t.Run(string(s)+"/"+name, func(t *testing.T) {
				o := orderIn(t, s)
				before := *o
				if err := react(o); err != nil {
					t.Fatalf("err = %v, want nil", err)
				}
				if len(o.Changes()) != 0 || !reflect.DeepEqual(*o, before) {
					t.Errorf("no-op changed the order: %v", o.Changes())
				}
			})
		}
	}
}

func TestReject(t *testing.T) {
	reasons := []Reason{ReasonInsufficientStock, ReasonUnknownProduct, ReasonCurrencyMismatch,
		ReasonInsufficientFunds, ReasonUnknownCustomer, ReasonTimeout}
	for _, r := range reasons {
		t.Run(string(r), func(t *testing.T) {
			o := newOrder(t)
			if err := o.Reject(r); err != nil {
				t.Fatal(err)
			}
			want := OrderRejected{OrderID: orderID, CustomerID: customerID, Reason: r}
			if got := onlyChange(t, o); got != want {
				t.Errorf("event = %#v, want %#v", got, want)
			}
			if o.Status() != StatusRejected || o.RejectReason() != r || !o.Status().IsFinal() {
				t.Errorf("state after Reject = %+v", o)
			}
		})
	}
	for _, r := range []Reason{"", "because", "TIMEOUT"} {
		t.Run("invalid "+string(r), func(t *testing.T) {
			o := newOrder(t)
			if got := fieldsOf(t, o.Reject(r)); !slices.Equal(got, []string{"reason"}) {
				t.Errorf("fields = %v", got)
			}
			if len(o.Changes()) != 0 {
				t.Error("invalid Reject recorded an event")
			}
		})
	}
}

func TestCancel(t *testing.T) {
	for _, from := range []Status{StatusPending, StatusConfirmed} {
		t.Run("from "+string(from), func(t *testing.T) {
			o := orderIn(t, from)
			if err := o.Cancel("too slow"); err != nil {
				t.Fatal(err)
			}
			want := OrderCancelled{OrderID: orderID, CustomerID: customerID, PreviousStatus: from, Reason: "too slow"}
			if got := onlyChange(t, o); got != want {
				t.Errorf("event = %#v, want %#v", got, want)
			}
			if o.Status() != StatusCancelled || o.CancelReason() != "too slow" || !o.Status().IsFinal() {
				t.Errorf("state after Cancel = %+v", o)
			}
		})
	}
	t.Run("without reason", func(t *testing.T) {
		o := newOrder(t)
		if err := o.Cancel(""); err != nil || o.Status() != StatusCancelled {
			t.Fatalf("Cancel(\"\"): %v, status %s", err, o.Status())
		}
	})
	t.Run("reason too long", func(t *testing.T) {
		o := newOrder(t)
		err := o.Cancel(strings.Repeat("é", MaxCancelReason+1))
		if got := fieldsOf(t, err); !slices.Equal(got, []string{"reason"}) || len(o.Changes()) != 0 {
			t.Errorf("fields = %v, changes %v", got, o.Changes())
		}
		if err := o.Cancel(strings.Repeat("é", MaxCancelReason)); err != nil {
			t.Errorf("reason of exactly MaxCancelReason runes: %v", err)
		}
	})
	t.Run("already cancelled is a no-op", func(t *testing.T) {
		o := orderIn(t, StatusCancelled)
		if err := o.Cancel("again"); err != nil || len(o.Changes()) != 0 || o.CancelReason() != "changed my mind" {
			t.Errorf("err %v, changes %v, reason %q", err, o.Changes(), o.CancelReason())
		}
	})
	t.Run("rejected is refused", func(t *testing.T) {
		o := orderIn(t, StatusRejected)
		err := o.Cancel("")
		var re *domain.RuleError
		if !errors.Is(err, ErrNotCancellable) || !errors.Is(err, domain.ErrRuleViolation) ||
			!errors.As(err, &re) || re.Code != "order_not_cancellable" {
			t.Errorf("err = %v, want ErrNotCancellable", err)
		}
		if len(o.Changes()) != 0 || o.Status() != StatusRejected {
			t.Error("refused Cancel changed the order")
		}
	})
}
