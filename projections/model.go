package projections

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/shopflow/shopflow/domain"
	"github.com/shopflow/shopflow/domain/inventory"
	"github.com/shopflow/shopflow/domain/order"
	"github.com/shopflow/shopflow/domain/payment"
	"github.com/shopflow/shopflow/eventstore"
)

// model is one read model: the topics it reads, which document each event changes and how.
type model interface {
	name() string
	// mappingVersion numbers mapping(); bump it when the mapping changes.
	mappingVersion() int
	// mapping is the index mapping (JSON, without _meta).
	mapping() string
	// contexts are the bounded contexts whose event topics the model reads.
	contexts() []string
	// wants reports whether the model may route events of this stream and event type: the
	// others are passed over without being decoded.
	wants(streamType, eventType string) bool
	// route returns the id of the document env changes and its decoded payload (nil for an
	// event type the model does not know), or "" when the model ignores the event. An error
	// makes the record a dead letter.
	route(env eventstore.Envelope) (id string, ev domain.Event, err error)
	// load returns the document stored under id; src is nil when there is none yet.
	load(id string, src json.RawMessage) (document, error)
}

// document is the state of one Elasticsearch document while a batch is applied.
type document interface {
	// version is the stream version of the last event applied, 0 for a new document.
	version() int64
	// esVersion is the external version the document is written with. It grows with every
	// applied event, so Elasticsearch refuses (409) to replace a document by an older one.
	esVersion() int64
	// apply changes the document by one event of its stream, the next version; a nil ev
	// (a type the model does not know) only advances the version.
	apply(env eventstore.Envelope, ev domain.Event)
	// source is the document as stored.
	source() ([]byte, error)
}

// joiner is implemented by models whose documents hold data of other streams: they fill it
// in before the batch is written and repair documents that missed it afterwards.
type joiner interface {
	beforeWrite(ctx context.Context, p *processor, b *batch) error
	afterWrite(ctx context.Context, p *processor, b *batch) error
	// references are the contexts whose topics hold the joined data: a rebuild replays them
	// first, so that documents are joined when first written instead of repaired.
	references() []string
}

// ownTopics returns the model's topics other than those of its joined references.
func ownTopics(cfg Config, m model) []string {
	j, ok := m.(joiner)
	if !ok {
		return nil
	}
	refs := map[string]bool{}
	for _, c := range j.references() {
		refs[cfg.topic(c)] = true
	}
	var own []string
	for _, t := range topicsOf(cfg, m) {
		if !refs[t] {
			own = append(own, t)
		}
	}
	return own
}

// topicsOf returns the event topics a model reads.
func topicsOf(cfg Config, m model) []string {
	var topics []string
	for _, c := range m.contexts() {
		topics = append(topics, cfg.topic(c))
	}
	return topics
}

// models returns the read model of each name.
func models() map[string]model {
	return map[string]model{Orders: ordersModel{}, Products: productsModel{}, Customers: customersModel{}}
}

// lookup returns the model named name.
func lookup(name string) (model, error) {
	m, ok := models()[name]
	if !ok {
		return nil, fmt.Errorf("projections: unknown read model %q (known: %v)", name, Names())
	}
	return m, nil
}

// registry decodes the payloads of every context's events, and upcasts them (the upcasters
// the aggregate packages register). Filled once, then only read.
var registry = func() *domain.Registry {
	r := domain.NewRegistry()
	order.Register(r)
	inventory.Register(r)
	payment.Register(r)
	return r
}()

// routeStream routes the events of the streams of one aggregate type to the document named
// after the aggregate: stream "<type>-<id>" → document id. Every event of such a stream
// advances the document's version, even one of a type the model does not know (it is passed
// on with a nil payload), so that version gaps always mean missing events. A payload that
// does not decode or names another aggregate is a dead letter.
func routeStream(env eventstore.Envelope, streamType string, types map[string]bool, idOf func(domain.Event) string) (string, domain.Event, error) {
	if env.StreamType != streamType {
		return "", nil, nil
	}
	id, ok := strings.CutPrefix(env.StreamID, streamType+"-")
	if !ok || id == "" {
		return "", nil, fmt.Errorf("%w: stream id %q is not a %s stream", eventstore.ErrUndecodable, env.StreamID, streamType)
	}
	if !types[env.EventType] {
		return id, nil, nil
	}
	ev, err := decodePayload(env)
	if err == nil && idOf(ev) != id {
		err = fmt.Errorf("%w: %s of stream %s names aggregate %q", eventstore.ErrUndecodable, env.EventType, env.StreamID, idOf(ev))
	}
	return id, ev, err
}

// decodePayload decodes env's payload with the registry of every context's events.
func decodePayload(env eventstore.Envelope) (domain.Event, error) {
	ev, err := registry.Decode(env.EventType, env.Payload)
	if err != nil {
		return nil, fmt.Errorf("%w: payload: %w", eventstore.ErrUndecodable, err)
	}
	return ev, nil
}

// set returns a set of strings.
func set(items ...string) map[string]bool {
	s := make(map[string]bool, len(items))
	for _, it := range items {
		s[it] = true
	}
	return s
}
