package projections

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/shopflow/shopflow/domain"
	"github.com/shopflow/shopflow/domain/inventory"
	"github.com/shopflow/shopflow/domain/order"
	"github.com/shopflow/shopflow/domain/payment"
	"github.com/shopflow/shopflow/eventstore"
)

// Order is a document of the orders read model: an order's state joined with the names and
// SKUs of its products and the name and e-mail of its customer.
type Order struct {
	ID         string `json:"id"`
	Status     string `json:"status"`
	CustomerID string `json:"customer_id"`
	// Customer is absent until the customer's account is known to the read model.
	Customer *OrderCustomer `json:"customer,omitempty"`
	Lines    []OrderLine    `json:"lines"`
	// TotalCents and Currency are set once the order is confirmed at reserved prices.
	TotalCents   *int64 `json:"total_cents,omitempty"`
	Currency     string `json:"currency,omitempty"`
	RejectReason string `json:"reject_reason,omitempty"`
	CancelReason string `json:"cancel_reason,omitempty"`
	// Version is the version of the order's stream the document reflects.
	Version  int64     `json:"version"`
	PlacedAt time.Time `json:"placed_at"`
	// UpdatedAt is when the last applied event was recorded.
	UpdatedAt time.Time `json:"updated_at"`
	// Revision is the document's Elasticsearch version: it changes with the order and with
	// the joined data, so it serves as the ETag. Not stored.
	Revision int64 `json:"-"`
}

// OrderCustomer is the customer data joined into an order.
type OrderCustomer struct {
	Name  string `json:"name"`
	Email string `json:"email"`
	// Forgotten: the customer was forgotten; Name and Email are empty.
	Forgotten bool `json:"forgotten,omitempty"`
}

// OrderLine is one line of an order. SKU and Name come from the product until the order is
// confirmed, then from the confirmation (the catalog data at reservation time).
type OrderLine struct {
	ProductID      string `json:"product_id"`
	SKU            string `json:"sku,omitempty"`
	Name           string `json:"name,omitempty"`
	Quantity       int64  `json:"quantity"`
	UnitPriceCents *int64 `json:"unit_price_cents,omitempty"`
}

// Kinds of documents in the orders index.
const (
	kindOrder       = "order"
	kindProductRef  = "product_ref"
	kindCustomerRef = "customer_ref"
)

// joinSlots spaces the external versions of successive order versions: an order document
// is written with version*joinSlots + the number of joined references it holds, so a more
// complete join of the same order version replaces a less complete one and never the
// reverse (see the package documentation).
const joinSlots = 1024

// An order joins at most one customer (two slots: joined, then forgotten) and
// domain.MaxOrderLines products.
var _ [joinSlots - domain.MaxOrderLines - 3]struct{}

// ordersModel projects the order streams, and keeps the product and customer data orders
// show as reference documents of its own index, so that the model never depends on the
// progress of another read model.
type ordersModel struct{}

var orderEvents = set(order.TypeOrderPlaced, order.TypeOrderConfirmed, order.TypeOrderRejected, order.TypeOrderCancelled)

func (ordersModel) name() string        { return Orders }
func (ordersModel) mappingVersion() int { return 2 }
func (ordersModel) mapping() string     { return ordersMapping }
func (ordersModel) contexts() []string  { return []string{"orders", "inventory", "payments"} }

func (ordersModel) wants(streamType, eventType string) bool {
	return streamType == order.AggregateType ||
		streamType == inventory.ProductAggregateType && eventType == inventory.TypeProductRegistered ||
		streamType == payment.AggregateType && (eventType == payment.TypeAccountOpened || eventType == payment.TypeCustomerForgotten)
}

func (ordersModel) route(env eventstore.Envelope) (string, domain.Event, error) {
	switch {
	case env.StreamType == inventory.ProductAggregateType && env.EventType == inventory.TypeProductRegistered,
		env.StreamType == payment.AggregateType && env.EventType == payment.TypeAccountOpened:
		return routeRef(env)
	case env.StreamType == payment.AggregateType && env.EventType == payment.TypeCustomerForgotten:
		return routeForgotten(env)
	}
	return routeStream(env, order.AggregateType, orderEvents, orderID)
}

// routeRef routes the creation of a product or account to its reference document, whose id
// is the stream id ("product-<id>", "account-<id>"): distinct from every order id (a UUID).
// The streams' other events do not concern orders.
func routeRef(env eventstore.Envelope) (string, domain.Event, error) {
	ev, err := decodePayload(env)
	if err != nil {
		return "", nil, err
	}
	var id string
	switch e := ev.(type) {
	case inventory.ProductRegistered:
		id = e.ProductID
	case payment.AccountOpened:
		id = e.CustomerID
	}
	if env.StreamID != env.StreamType+"-"+id {
		return "", nil, fmt.Errorf("%w: %s of stream %s names aggregate %q", eventstore.ErrUndecodable, env.EventType, env.StreamID, id)
	}
	return env.StreamID, ev, nil
}

// routeForgotten decodes a CustomerForgotten for the processor, which forgets the customer
// in every document that holds its data (forgetCustomers); it changes no document itself.
func routeForgotten(env eventstore.Envelope) (string, domain.Event, error) {
	ev, err := decodePayload(env)
	if err != nil {
		return "", nil, err
	}
	if f, _ := ev.(payment.CustomerForgotten); env.StreamID != customerRef(f.CustomerID) {
		return "", nil, fmt.Errorf("%w: %s of stream %s names another customer", eventstore.ErrUndecodable, env.EventType, env.StreamID)
	}
	return "", ev, nil
}

func orderID(ev domain.Event) string {
	switch e := ev.(type) {
	case order.OrderPlaced:
		return e.OrderID
	case order.OrderConfirmed:
		return e.OrderID
	case order.OrderRejected:
		return e.OrderID
	case order.OrderCancelled:
		return e.OrderID
	}
	return ""
}

func productRef(productID string) string   { return inventory.ProductAggregateType + "-" + productID }
func customerRef(customerID string) string { return payment.AggregateType + "-" + customerID }

func isRef(id string) bool {
	return strings.HasPrefix(id, productRef("")) || strings.HasPrefix(id, customerRef(""))
}

func (ordersModel) load(id string, src json.RawMessage) (document, error) {
	var d document = &orderDoc{Order: Order{ID: id}}
	if isRef(id) {
		d = &refDoc{}
	}
	if src != nil {
		if err := json.Unmarshal(src, d); err != nil {
			return nil, fmt.Errorf("projections: stored document %s: %w", id, err)
		}
	}
	return d, nil
}

// orderDoc is an order document as stored.
type orderDoc struct {
	Kind string `json:"kind"`
	Order
	// MissingRefs are the reference documents the order still lacks (a product or customer
	// the read model has not seen yet); the join repairs orders by searching this field.
	MissingRefs []string `json:"missing_refs,omitempty"`
}

func (d *orderDoc) version() int64   { return d.Version }
func (d *orderDoc) esVersion() int64 { return d.Version*joinSlots + d.joined() }

func (d *orderDoc) source() ([]byte, error) {
	d.Kind, d.MissingRefs = kindOrder, d.missing()
	return json.Marshal(d)
}

func (d *orderDoc) apply(env eventstore.Envelope, ev domain.Event) {
	switch e := ev.(type) {
	case order.OrderPlaced:
		d.CustomerID, d.Status, d.PlacedAt = e.CustomerID, string(order.StatusPending), e.PlacedAt
		if d.PlacedAt.IsZero() {
			d.PlacedAt = env.RecordedAt
		}
		d.Lines = make([]OrderLine, len(e.Lines))
		for i, l := range e.Lines {
			d.Lines[i] = OrderLine{ProductID: l.ProductID, Quantity: l.Quantity}
		}
	case order.OrderConfirmed:
		d.confirm(e)
	case order.OrderRejected:
		d.Status, d.RejectReason = string(order.StatusRejected), string(e.Reason)
	case order.OrderCancelled:
		d.Status, d.CancelReason = string(order.StatusCancelled), e.Reason
	}
	d.Version, d.UpdatedAt = env.Version, env.RecordedAt
}

func (d *orderDoc) confirm(e order.OrderConfirmed) {
	d.Status, d.Currency = string(order.StatusConfirmed), e.Total.Currency
	d.TotalCents = &e.Total.AmountCents
	d.Lines = make([]OrderLine, len(e.Lines))
	for i, l := range e.Lines {
		d.Lines[i] = OrderLine{ProductID: l.ProductID, SKU: l.SKU, Name: l.Name, Quantity: l.Quantity, UnitPriceCents: &l.UnitPriceCents}
	}
}

// missing returns the ids of the reference documents the order lacks, in line order.
func (d *orderDoc) missing() []string {
	var ids []string
	if d.Customer == nil && d.CustomerID != "" {
		ids = append(ids, customerRef(d.CustomerID))
	}
	for _, l := range d.Lines {
		if id := productRef(l.ProductID); l.Name == "" && !slices.Contains(ids, id) {
			ids = append(ids, id)
		}
	}
	return ids
}

// joined counts the references the order holds: its customer and its named lines.
func (d *orderDoc) joined() int64 {
	var n int64
	if d.Customer != nil {
		n++
		if d.Customer.Forgotten {
			n++
		}
	}
	for _, l := range d.Lines {
		if l.Name != "" {
			n++
		}
	}
	return n
}

// join fills in the references found in refs and reports whether anything changed.
func (d *orderDoc) join(refs map[string]refData) bool {
	before := d.joined()
	if r, ok := refs[customerRef(d.CustomerID)]; ok && d.CustomerID != "" && (d.Customer == nil || r.Forgotten && !d.Customer.Forgotten) {
		d.Customer = &OrderCustomer{Name: r.Name, Email: r.Email, Forgotten: r.Forgotten}
	}
	for i, l := range d.Lines {
		if r, ok := refs[productRef(l.ProductID)]; ok && l.Name == "" {
			d.Lines[i].SKU, d.Lines[i].Name = r.SKU, r.Name
		}
	}
	return d.joined() > before
}

// refDoc is a reference document of the orders index: the data of a product or customer
// that orders show. Both never change after their stream's first event, but for a customer
// being forgotten (forgetCustomers).
type refDoc struct {
	Kind    string  `json:"kind"`
	Ref     refData `json:"ref"`
	Version int64   `json:"version"`
}

type refData struct {
	Name  string `json:"name"`
	SKU   string `json:"sku,omitempty"`
	Email string `json:"email,omitempty"`
	// Forgotten: a forgotten customer's reference; Name and Email are empty.
	Forgotten bool `json:"forgotten,omitempty"`
}

func (d *refDoc) version() int64 { return d.Version }

// esVersion is one more for a forgotten customer: it replaces the customer's data.
func (d *refDoc) esVersion() int64 {
	if d.Ref.Forgotten {
		return d.Version + 1
	}
	return d.Version
}
func (d *refDoc) source() ([]byte, error) { return json.Marshal(d) }

func (d *refDoc) apply(env eventstore.Envelope, ev domain.Event) {
	switch e := ev.(type) {
	case inventory.ProductRegistered:
		d.Kind, d.Ref = kindProductRef, refData{Name: e.Name, SKU: e.SKU}
	case revealedAccount:
		d.Kind, d.Ref = kindCustomerRef, refData{Name: e.Name, Email: e.Email, Forgotten: e.forgotten}
	}
	d.Version = env.Version
}
