package payment

import (
	"reflect"
	"slices"
	"testing"

	"github.com/shopflow/shopflow/domain"
)

// TestEventsJSONContract round-trips every event through the registry and
// pins its JSON form: these payloads are stored forever and published.
func TestEventsJSONContract(t *testing.T) {
	r := domain.NewRegistry()
	Register(r)
	tests := []struct {
		event domain.Event
		json  string
	}{
		{AccountOpened{CustomerID: "c1", Name: "Ada", Email: "ada@example.com"},
			`{"customer_id":"c1","name":"Ada","email":"ada@example.com"}`},
		{FundsDeposited{CustomerID: "c1", AmountCents: 500},
			`{"customer_id":"c1","amount_cents":500}`},
		{PaymentCaptured{CustomerID: "c1", OrderID: "o1", AmountCents: 300},
			`{"customer_id":"c1","order_id":"o1","amount_cents":300}`},
		{PaymentDeclined{CustomerID: "c1", OrderID: "o1", Reason: ReasonInsufficientFunds},
			`{"customer_id":"c1","order_id":"o1","reason":"insufficient_funds"}`},
		{DeclineUnknownCustomer("c1", "o1"),
			`{"customer_id":"c1","order_id":"o1","reason":"unknown_customer"}`},
		{PaymentRefunded{CustomerID: "c1", OrderID: "o1", AmountCents: 300},
			`{"customer_id":"c1","order_id":"o1","amount_cents":300}`},
	}
	for _, tt := range tests {
		t.Run(tt.event.EventType(), func(t *testing.T) {
			name, payload, err := domain.Encode(tt.event)
			if err != nil {
				t.Fatal(err)
			}
			if name != tt.event.EventType() || string(payload) != tt.json {
				t.Errorf("Encode = %s %s\n want %s", name, payload, tt.json)
			}
			back, err := r.Decode(name, payload)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(back, tt.event) {
				t.Errorf("Decode = %#v, want %#v", back, tt.event)
			}
		})
	}
}

func TestRegisterNames(t *testing.T) {
	r := domain.NewRegistry()
	Register(r)
	want := []string{"AccountOpened", "FundsDeposited", "PaymentCaptured", "PaymentDeclined", "PaymentRefunded"}
	if got := r.Types(); !slices.Equal(got, want) {
		t.Errorf("Types = %v, want %v", got, want)
	}
}
