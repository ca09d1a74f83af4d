package payment

import "github.com/shopflow/shopflow/domain"

// Stable event type names. They are stored with every event and published to
// Kafka: never rename them.
const (
	TypeAccountOpened   = "AccountOpened"
	TypeFundsDeposited  = "FundsDeposited"
	TypePaymentCaptured = "PaymentCaptured"
	TypePaymentDeclined = "PaymentDeclined"
	TypePaymentRefunded = "PaymentRefunded"
	// TypePaymentRecordsMoved marks, in an account stream, where the account stopped
	// remembering payments per order.
	TypePaymentRecordsMoved = "PaymentRecordsMoved"
	// TypeCustomerForgotten marks, in an account stream, that the customer's personal data
	// was forgotten (its key destroyed).
	TypeCustomerForgotten = "CustomerForgotten"

	// Events of an order's payment stream (OrderPayment).
	TypeOrderPaymentCaptured = "OrderPaymentCaptured"
	TypeOrderPaymentDeclined = "OrderPaymentDeclined"
	TypeOrderPaymentRefunded = "OrderPaymentRefunded"
)

// Reason is why a payment was declined.
type Reason string

// Decline reasons. The orders context rejects with the first two.
const (
	ReasonInsufficientFunds Reason = "insufficient_funds"
	ReasonUnknownCustomer   Reason = "unknown_customer"
	// ReasonOrderClosed: the order was cancelled or timed out before it was
	// charged; a later capture request is ignored.
	ReasonOrderClosed Reason = "order_closed"
)

// AccountOpened records a new customer account; it creates the stream.
//
// Name and Email are personal data: since sealing (see [OpenSealed]) each holds the value
// sealed under the customer's own key, bound to the customer id and the field — text
// starting with "pii1:" that only the payments context's key store can open, and nobody
// once the customer is forgotten ([CustomerForgotten]). Accounts opened before sealing
// hold them in clear.
type AccountOpened struct {
	CustomerID string `json:"customer_id"`
	Name       string `json:"name"`
	Email      string `json:"email"`
}

// CustomerForgotten records that the customer asked to be forgotten: the key their name
// and email were sealed under is destroyed, and every reader shows the customer as
// forgotten from now on. The account itself (balance, payments) carries on.
type CustomerForgotten struct {
	CustomerID string `json:"customer_id"`
}

// FundsDeposited records money added to the balance.
type FundsDeposited struct {
	CustomerID  string `json:"customer_id"`
	AmountCents int64  `json:"amount_cents"`
}

// PaymentCaptured records that an order's amount left the balance.
type PaymentCaptured struct {
	CustomerID  string `json:"customer_id"`
	OrderID     string `json:"order_id"`
	AmountCents int64  `json:"amount_cents"`
}

// PaymentDeclined records that an order will not be charged.
type PaymentDeclined struct {
	CustomerID string `json:"customer_id"`
	OrderID    string `json:"order_id"`
	Reason     Reason `json:"reason"`
}

// PaymentRefunded records that a captured order amount went back to the balance.
type PaymentRefunded struct {
	CustomerID  string `json:"customer_id"`
	OrderID     string `json:"order_id"`
	AmountCents int64  `json:"amount_cents"`
}

// PaymentRecordsMoved records that the account stops remembering what it did for each
// order: the payment events after it are remembered by each order's payment stream
// ([OrderPayment]), written in the same transaction. An account records it once, just
// before its first payment event by a release that keeps payments per order; the payment
// events before it stay the account's own record of their orders.
type PaymentRecordsMoved struct {
	CustomerID string `json:"customer_id"`
}

// OrderPaymentCaptured records, in the order's payment stream, that the order's amount was
// captured from the customer's account (whose stream records PaymentCaptured).
type OrderPaymentCaptured struct {
	OrderID     string `json:"order_id"`
	CustomerID  string `json:"customer_id"`
	AmountCents int64  `json:"amount_cents"`
}

// OrderPaymentDeclined records, in the order's payment stream, that the order will not be
// charged (the account's stream records PaymentDeclined with the same reason).
type OrderPaymentDeclined struct {
	OrderID    string `json:"order_id"`
	CustomerID string `json:"customer_id"`
	Reason     Reason `json:"reason"`
}

// OrderPaymentRefunded records, in the order's payment stream, that the captured amount went
// back to the customer's account (whose stream records PaymentRefunded).
type OrderPaymentRefunded struct {
	OrderID     string `json:"order_id"`
	CustomerID  string `json:"customer_id"`
	AmountCents int64  `json:"amount_cents"`
}

// EventType returns TypePaymentRecordsMoved.
func (PaymentRecordsMoved) EventType() string { return TypePaymentRecordsMoved }

// EventType returns TypeOrderPaymentCaptured.
func (OrderPaymentCaptured) EventType() string { return TypeOrderPaymentCaptured }

// EventType returns TypeOrderPaymentDeclined.
func (OrderPaymentDeclined) EventType() string { return TypeOrderPaymentDeclined }

// EventType returns TypeOrderPaymentRefunded.
func (OrderPaymentRefunded) EventType() string { return TypeOrderPaymentRefunded }

// EventType returns TypeCustomerForgotten.
func (CustomerForgotten) EventType() string { return TypeCustomerForgotten }

// EventType returns TypeAccountOpened.
func (AccountOpened) EventType() string { return TypeAccountOpened }

// EventType returns TypeFundsDeposited.
func (FundsDeposited) EventType() string { return TypeFundsDeposited }

// EventType returns TypePaymentCaptured.
func (PaymentCaptured) EventType() string { return TypePaymentCaptured }

// EventType returns TypePaymentDeclined.
func (PaymentDeclined) EventType() string { return TypePaymentDeclined }

// EventType returns TypePaymentRefunded.
func (PaymentRefunded) EventType() string { return TypePaymentRefunded }

// Register adds the payments context's event types to r. It panics if one is
// already registered (see domain.Registry.Register).
func Register(r *domain.Registry) {
	domain.RegisterEvent[AccountOpened](r)
	domain.RegisterEvent[FundsDeposited](r)
	domain.RegisterEvent[PaymentCaptured](r)
	domain.RegisterEvent[PaymentDeclined](r)
	domain.RegisterEvent[PaymentRefunded](r)
	domain.RegisterEvent[PaymentRecordsMoved](r)
	domain.RegisterEvent[OrderPaymentCaptured](r)
	domain.RegisterEvent[OrderPaymentDeclined](r)
	domain.RegisterEvent[OrderPaymentRefunded](r)
	domain.RegisterEvent[CustomerForgotten](r)
}

// DeclineUnknownCustomer returns the PaymentDeclined (reason
// unknown_customer) the saga publishes when an order's customer has no
// account. [OrderPayment.DeclineUnknownCustomer] records it in the order's
// payment stream, never in the missing customer's account stream, which
// would block a later Open.
func DeclineUnknownCustomer(customerID, orderID string) PaymentDeclined {
	return PaymentDeclined{CustomerID: customerID, OrderID: orderID, Reason: ReasonUnknownCustomer}
}
