package chaos

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/shopflow/shopflow/domain"
	"github.com/shopflow/shopflow/domain/inventory"
	"github.com/shopflow/shopflow/domain/order"
	"github.com/shopflow/shopflow/domain/payment"
	"github.com/shopflow/shopflow/internal/command"
	"github.com/shopflow/shopflow/internal/kafka"
)

// DeadLetterTopics are the topics where consumers park what they cannot process.
var DeadLetterTopics = []string{kafka.DeadLetterTopic("orders"), kafka.DeadLetterTopic("inventory"),
	kafka.DeadLetterTopic("payments"), kafka.DeadLetterTopic("projections")}

// Evidence is everything the checks look at, read from the stores after quiescence, plus
// what the load sent and which records the run poisoned on purpose.
type Evidence struct {
	Events map[string][]StoredEvent              // by context, by stream and version
	Topics map[string][]*kgo.Record              // events and dead-letter topics
	Docs   map[string]map[string]json.RawMessage // by read model, by document id
	Sent   []*Sent                               // every command the load sent
	Poison map[string]bool                       // keys of the records poisoned on purpose
	folds  *folds                                // the streams folded by the domain code
}

// Gather reads the evidence from the stores.
func Gather(ctx context.Context, st *Stores, sent []*Sent, poison map[string]bool) (*Evidence, error) {
	ev := &Evidence{Events: map[string][]StoredEvent{}, Topics: map[string][]*kgo.Record{},
		Docs: map[string]map[string]json.RawMessage{}, Sent: sent, Poison: poison}
	for _, c := range Contexts {
		evs, err := st.Events(ctx, c)
		if err != nil {
			return nil, err
		}
		ev.Events[c] = evs
	}
	for _, t := range append(eventTopics(), DeadLetterTopics...) {
		recs, err := st.Topic(ctx, t)
		if err != nil {
			return nil, err
		}
		ev.Topics[t] = recs
	}
	for _, m := range ReadModels {
		var q map[string]any
		if m == "orders" { // the orders index also holds the product and customer references it joins
			q = map[string]any{"term": map[string]any{"kind": "order"}}
		}
		docs, err := st.Docs(ctx, m, q)
		if err != nil {
			return nil, err
		}
		ev.Docs[m] = docs
	}
	return ev, nil
}

func eventTopics() []string {
	var ts []string
	for _, c := range Contexts {
		ts = append(ts, kafka.EventsTopic(c))
	}
	return ts
}

// folds are the aggregates of every stream, rehydrated by the domain code from the stored
// events (never from snapshots: the events are the truth).
type folds struct {
	orders       map[string]*order.Order
	products     map[string]*inventory.Product
	accounts     map[string]*payment.Account
	reservations map[string]*inventory.OrderReservation
	payments     map[string]*payment.OrderPayment
	streams      map[string][]StoredEvent // by context + "/" + stream id
	decoded      map[string][]domain.Event
	errs         []string // streams that do not fold
}

// registry decodes every context's events.
var registry = func() *domain.Registry {
	r := domain.NewRegistry()
	order.Register(r)
	order.RegisterSettlement(r)
	inventory.Register(r)
	payment.Register(r)
	return r
}()

// fold rehydrates every stream once.
func (ev *Evidence) fold() *folds {
	if ev.folds != nil {
		return ev.folds
	}
	f := &folds{orders: map[string]*order.Order{}, products: map[string]*inventory.Product{},
		accounts: map[string]*payment.Account{}, reservations: map[string]*inventory.OrderReservation{},
		payments: map[string]*payment.OrderPayment{}, streams: map[string][]StoredEvent{}, decoded: map[string][]domain.Event{}}
	for _, c := range Contexts {
		for _, e := range ev.Events[c] {
			k := c + "/" + e.StreamID
			f.streams[k] = append(f.streams[k], e)
			d, err := registry.DecodeVersion(e.Type, e.Schema, e.Payload)
			if err != nil {
				f.errs = append(f.errs, fmt.Sprintf("%s version %d: %v", k, e.Version, err))
				continue
			}
			f.decoded[k] = append(f.decoded[k], d)
		}
	}
	for k, history := range f.decoded {
		f.load(k, history)
	}
	ev.folds = f
	return f
}

// load folds one stream with its aggregate's own Load.
func (f *folds) load(key string, history []domain.Event) {
	c, stream, _ := strings.Cut(key, "/")
	typ, id, _ := strings.Cut(stream, "-")
	var err error
	switch {
	case c == "orders" && typ == order.AggregateType:
		f.orders[id], err = command.OrderType().Load(id, history)
	case c == "inventory" && typ == inventory.ProductAggregateType:
		f.products[id], err = command.ProductType().Load(id, history)
	case c == "inventory" && typ == inventory.ReservationAggregateType:
		f.reservations[id], err = command.ReservationType().Load(id, history)
	case c == "payments" && typ == payment.AggregateType:
		f.accounts[id], err = command.AccountType().Load(id, history)
	case c == "payments" && typ == payment.OrderPaymentAggregateType:
		f.payments[id], err = command.OrderPaymentType().Load(id, history)
	}
	if err != nil {
		f.errs = append(f.errs, fmt.Sprintf("%s: %v", key, err))
	}
}

// stream returns the stored events of a stream.
func (f *folds) stream(c, streamID string) []StoredEvent { return f.streams[c+"/"+streamID] }
