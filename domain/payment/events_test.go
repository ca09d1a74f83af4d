package payment

import (
	"testing"

	"github.com/shopflow/shopflow/domain/domaintest"
)

// TestEventsJSONContract round-trips every event through the registry and
// pins its JSON form: these payloads are stored forever and published.
func TestEventsJSONContract(t *testing.T) {
	domaintest.CheckContracts(t, Register, []domaintest.Contract{
		{Event: AccountOpened{CustomerID: "c1", Name: "Ada", Email: "ada@example.com"},
			JSON: `{"customer_id":"c1","name":"Ada","email":"ada@example.com"}`},
		{Event: FundsDeposited{CustomerID: "c1", AmountCents: 500},
			JSON: `{"customer_id":"c1","amount_cents":500}`},
		{Event: PaymentCaptured{CustomerID: "c1", OrderID: "o1", AmountCents: 300},
			JSON: `{"customer_id":"c1","order_id":"o1","amount_cents":300}`},
		{Event: PaymentDeclined{CustomerID: "c1", OrderID: "o1", Reason: ReasonInsufficientFunds},
			JSON: `{"customer_id":"c1","order_id":"o1","reason":"insufficient_funds"}`},
		{Event: DeclineUnknownCustomer("c1", "o1"),
			JSON: `{"customer_id":"c1","order_id":"o1","reason":"unknown_customer"}`},
		{Event: PaymentRefunded{CustomerID: "c1", OrderID: "o1", AmountCents: 300},
			JSON: `{"customer_id":"c1","order_id":"o1","amount_cents":300}`},
		{Event: PaymentRecordsMoved{CustomerID: "c1"},
			JSON: `{"customer_id":"c1"}`},
		{Event: OrderPaymentCaptured{OrderID: "o1", CustomerID: "c1", AmountCents: 300},
			JSON: `{"order_id":"o1","customer_id":"c1","amount_cents":300}`},
		{Event: OrderPaymentDeclined{OrderID: "o1", CustomerID: "c1", Reason: ReasonOrderClosed},
			JSON: `{"order_id":"o1","customer_id":"c1","reason":"order_closed"}`},
		{Event: OrderPaymentRefunded{OrderID: "o1", CustomerID: "c1", AmountCents: 300},
			JSON: `{"order_id":"o1","customer_id":"c1","amount_cents":300}`},
		{Event: CustomerForgotten{CustomerID: "c1"},
			JSON: `{"customer_id":"c1"}`},
	})
}

func TestRegisterNames(t *testing.T) {
	domaintest.CheckTypes(t, Register, []string{"AccountOpened", "CustomerForgotten", "FundsDeposited", "OrderPaymentCaptured", "OrderPaymentDeclined",
		"OrderPaymentRefunded", "PaymentCaptured", "PaymentDeclined", "PaymentRecordsMoved", "PaymentRefunded"})
}
