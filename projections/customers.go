package projections

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/shopflow/shopflow/domain"
	"github.com/shopflow/shopflow/domain/payment"
	"github.com/shopflow/shopflow/eventstore"
)

// Customer is a document of the customers read model: a customer's profile and account.
type Customer struct {
	ID    string `json:"id"`
	Name  string `json:"name"`
	Email string `json:"email"`
	// Forgotten: the customer was forgotten (POST /v1/customers/{id}/forget); Name and
	// Email are empty.
	Forgotten    bool  `json:"forgotten,omitempty"`
	BalanceCents int64 `json:"balance_cents"`
	// Payments counts the orders charged, declined and refunded.
	PaymentsCaptured int64 `json:"payments_captured"`
	PaymentsDeclined int64 `json:"payments_declined"`
	PaymentsRefunded int64 `json:"payments_refunded"`
	// Version is the version of the account's stream the document reflects.
	Version  int64     `json:"version"`
	OpenedAt time.Time `json:"opened_at"`
	// UpdatedAt is when the last applied event was recorded.
	UpdatedAt time.Time `json:"updated_at"`
	// Revision is the document's Elasticsearch version (its ETag); not stored.
	Revision int64 `json:"-"`
}

// customersModel projects the account streams of the payments context.
type customersModel struct{}

var accountEvents = set(payment.TypeAccountOpened, payment.TypeFundsDeposited, payment.TypePaymentCaptured,
	payment.TypePaymentDeclined, payment.TypePaymentRefunded, payment.TypeCustomerForgotten)

func (customersModel) name() string        { return Customers }
func (customersModel) mappingVersion() int { return 2 }
func (customersModel) mapping() string     { return customersMapping }
func (customersModel) contexts() []string  { return []string{"payments"} }

func (customersModel) wants(streamType, _ string) bool {
	return streamType == payment.AggregateType
}

func (customersModel) route(env eventstore.Envelope) (string, domain.Event, error) {
	return routeStream(env, payment.AggregateType, accountEvents, customerID)
}

func customerID(ev domain.Event) string {
	switch e := ev.(type) {
	case payment.AccountOpened:
		return e.CustomerID
	case payment.FundsDeposited:
		return e.CustomerID
	case payment.PaymentCaptured:
		return e.CustomerID
	case payment.PaymentDeclined:
		return e.CustomerID
	case payment.PaymentRefunded:
		return e.CustomerID
	case payment.CustomerForgotten:
		return e.CustomerID
	}
	return ""
}

func (customersModel) load(id string, src json.RawMessage) (document, error) {
	d := &customerDoc{Customer: Customer{ID: id}}
	if src != nil {
		if err := json.Unmarshal(src, d); err != nil {
			return nil, fmt.Errorf("projections: stored customer %s: %w", id, err)
		}
	}
	return d, nil
}

type customerDoc struct{ Customer }

func (d *customerDoc) version() int64 { return d.Version }

// esVersion leaves a slot after every version for the same version forgotten (see
// forgetCustomers): a forgotten document replaces the one of its version, never the reverse.
func (d *customerDoc) esVersion() int64 {
	if d.Forgotten {
		return 2*d.Version + 1
	}
	return 2 * d.Version
}

func (d *customerDoc) source() ([]byte, error) { return json.Marshal(d.Customer) }

// forget replaces the customer's personal data.
func (d *customerDoc) forget() { d.Name, d.Email, d.Forgotten = "", "", true }

func (d *customerDoc) apply(env eventstore.Envelope, ev domain.Event) {
	switch e := ev.(type) {
	case revealedAccount:
		d.Name, d.Email, d.OpenedAt = e.Name, e.Email, env.RecordedAt
		if e.forgotten {
			d.forget()
		}
	case payment.CustomerForgotten:
		d.forget()
	case payment.FundsDeposited:
		d.BalanceCents += e.AmountCents
	case payment.PaymentCaptured:
		d.BalanceCents -= e.AmountCents
		d.PaymentsCaptured++
	case payment.PaymentDeclined:
		d.PaymentsDeclined++
	case payment.PaymentRefunded:
		d.BalanceCents += e.AmountCents
		d.PaymentsRefunded++
	}
	d.Version, d.UpdatedAt = env.Version, env.RecordedAt
}
