// Package projectionstest helps test and benchmark the projections against the real Kafka
// and Elasticsearch: Shop generates realistic event streams, Env isolates a test (fresh
// topics, index prefix and consumer groups) and waits for workers deterministically.
package projectionstest

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/google/uuid"

	"github.com/shopflow/shopflow/domain"
	"github.com/shopflow/shopflow/domain/inventory"
	"github.com/shopflow/shopflow/domain/order"
	"github.com/shopflow/shopflow/domain/payment"
	"github.com/shopflow/shopflow/eventstore"
)

// Shop records the event streams of a shop as the three contexts would publish them:
// versions per stream, positions and recorded_at increasing. Not safe for concurrent use.
type Shop struct {
	// Events are every envelope recorded, in recording order.
	Events []eventstore.Envelope
	// Products, Customers and Orders are the ids of the aggregates created, in order.
	Products, Customers, Orders []string

	clock    time.Time
	versions map[string]int64
	catalog  map[string]inventory.ProductRegistered
	placed   map[string]order.OrderPlaced
	rng      *rand.Rand
}

// NewShop returns an empty shop whose random choices follow seed.
func NewShop(seed uint64) *Shop {
	return &Shop{
		clock:    time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC),
		versions: map[string]int64{}, catalog: map[string]inventory.ProductRegistered{},
		placed: map[string]order.OrderPlaced{}, rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
	}
}

// Record appends the next event of the stream of an aggregate and returns its envelope.
func (s *Shop) Record(streamType, id string, ev domain.Event) eventstore.Envelope {
	stream := streamType + "-" + id
	s.versions[stream]++
	s.clock = s.clock.Add(time.Millisecond)
	payload, err := json.Marshal(ev)
	if err != nil {
		panic(fmt.Sprintf("projectionstest: encode %s: %v", ev.EventType(), err))
	}
	env := eventstore.Envelope{EventID: uuid.New(), EventType: ev.EventType(), SchemaVersion: domain.SchemaVersionOf(ev), StreamID: stream,
		StreamType: streamType, Version: s.versions[stream], Position: int64(len(s.Events) + 1),
		RecordedAt: s.clock, Payload: payload}
	s.Events = append(s.Events, env)
	return env
}

// Version returns the current version of an aggregate's stream.
func (s *Shop) Version(streamType, id string) int64 { return s.versions[streamType+"-"+id] }

// Product registers a product and returns its id.
func (s *Shop) Product(sku, name string, priceCents, stock int64) string {
	id := uuid.NewString()
	ev := inventory.ProductRegistered{ProductID: id, SKU: sku, Name: name, Description: "The " + name + ".",
		PriceCents: priceCents, Currency: "EUR", InitialStock: stock}
	s.catalog[id] = ev
	s.Products = append(s.Products, id)
	s.Record(inventory.ProductAggregateType, id, ev)
	return id
}

// Restock adds units to a product.
func (s *Shop) Restock(productID string, quantity int64) {
	s.Record(inventory.ProductAggregateType, productID, inventory.StockAdded{ProductID: productID, Quantity: quantity})
}

// Customer opens an account with a first deposit and returns the customer id.
func (s *Shop) Customer(name, email string, depositCents int64) string {
	id := uuid.NewString()
	s.Customers = append(s.Customers, id)
	s.Record(payment.AggregateType, id, payment.AccountOpened{CustomerID: id, Name: name, Email: email})
	s.Record(payment.AggregateType, id, payment.FundsDeposited{CustomerID: id, AmountCents: depositCents})
	return id
}

// Place places an order and returns its id.
func (s *Shop) Place(customerID string, lines ...order.Line) string {
	id := uuid.NewString()
	ev := order.OrderPlaced{OrderID: id, CustomerID: customerID, Lines: lines, PlacedAt: s.clock.Add(time.Millisecond)}
	s.placed[id] = ev
	s.Orders = append(s.Orders, id)
	s.Record(order.AggregateType, id, ev)
	return id
}

// Confirm records the happy path of the saga: stock reserved per line, payment captured,
// order confirmed at catalog prices.
func (s *Shop) Confirm(orderID string) {
	placed := s.placed[orderID]
	var priced []order.PricedLine
	var total int64
	for _, l := range placed.Lines {
		p := s.catalog[l.ProductID]
		s.Record(inventory.ProductAggregateType, l.ProductID, inventory.StockReserved{
			ProductID: l.ProductID, OrderID: orderID, Quantity: l.Quantity, UnitPriceCents: p.PriceCents})
		priced = append(priced, order.PricedLine{ProductID: l.ProductID, SKU: p.SKU, Name: p.Name,
			Quantity: l.Quantity, UnitPriceCents: p.PriceCents})
		total += l.Quantity * p.PriceCents
	}
	s.Record(payment.AggregateType, placed.CustomerID, payment.PaymentCaptured{
		CustomerID: placed.CustomerID, OrderID: orderID, AmountCents: total})
	s.Record(order.AggregateType, orderID, order.OrderConfirmed{OrderID: orderID, Lines: priced, Total: domain.Money{AmountCents: total, Currency: "EUR"}})
}

// Reject records a failed reservation and the order's rejection.
func (s *Shop) Reject(orderID string) {
	placed := s.placed[orderID]
	l := placed.Lines[0]
	s.Record(inventory.ProductAggregateType, l.ProductID, inventory.StockReservationFailed{
		ProductID: l.ProductID, OrderID: orderID, Quantity: l.Quantity, Reason: inventory.ReasonInsufficientStock})
	s.Record(order.AggregateType, orderID, order.OrderRejected{OrderID: orderID, CustomerID: placed.CustomerID,
		Reason: order.ReasonInsufficientStock})
}

// Cancel cancels a confirmed order: refund and stock released.
func (s *Shop) Cancel(orderID string) {
	placed := s.placed[orderID]
	s.Record(order.AggregateType, orderID, order.OrderCancelled{OrderID: orderID, CustomerID: placed.CustomerID,
		PreviousStatus: order.StatusConfirmed, Reason: "changed my mind"})
	var total int64
	for _, l := range placed.Lines {
		p := s.catalog[l.ProductID]
		total += l.Quantity * p.PriceCents
		s.Record(inventory.ProductAggregateType, l.ProductID, inventory.StockReleased{
			ProductID: l.ProductID, OrderID: orderID, Quantity: l.Quantity})
	}
	s.Record(payment.AggregateType, placed.CustomerID, payment.PaymentRefunded{
		CustomerID: placed.CustomerID, OrderID: orderID, AmountCents: total})
}

// Random fills the shop with products, customers and orders: about 60% of the orders are
// confirmed (a sixth of those then cancelled), 20% rejected and 20% left pending.
func (s *Shop) Random(products, customers, orders int) {
	for i := range products {
		s.Product(fmt.Sprintf("SKU-%05d", i), fmt.Sprintf("%s %s", adjectives[i%len(adjectives)], nouns[(i/len(adjectives))%len(nouns)]),
			int64(100+s.rng.IntN(10_000)), int64(1000+s.rng.IntN(1000)))
	}
	for i := range customers {
		s.Customer(fmt.Sprintf("%s %s", firstNames[i%len(firstNames)], lastNames[(i/len(firstNames))%len(lastNames)]),
			fmt.Sprintf("customer%d@example.com", i), 1_000_000)
	}
	for range orders {
		s.randomOrder()
	}
}

func (s *Shop) randomOrder() {
	lines := make([]order.Line, 1+s.rng.IntN(min(3, len(s.Products))))
	seen := map[string]bool{}
	for i := range lines {
		p := s.Products[s.rng.IntN(len(s.Products))]
		for seen[p] {
			p = s.Products[s.rng.IntN(len(s.Products))]
		}
		seen[p] = true
		lines[i] = order.Line{ProductID: p, Quantity: int64(1 + s.rng.IntN(3))}
	}
	id := s.Place(s.Customers[s.rng.IntN(len(s.Customers))], lines...)
	switch n := s.rng.IntN(10); {
	case n < 6:
		s.Confirm(id)
		if n == 0 {
			s.Cancel(id)
		}
	case n < 8:
		s.Reject(id)
	}
}

var (
	adjectives = []string{"Blue", "Red", "Green", "Silent", "Rapid", "Cozy", "Bright", "Sturdy", "Tiny", "Grand"}
	nouns      = []string{"Running Shoe", "Kettle", "Backpack", "Lamp", "Notebook", "Umbrella", "Chair", "Headphones"}
	firstNames = []string{"Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald", "Frances", "Ken", "Radia", "Tim"}
	lastNames  = []string{"Lovelace", "Hopper", "Turing", "Dijkstra", "Liskov", "Knuth", "Allen", "Thompson"}
)
