package domain

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
)

// Event is a domain event: an immutable, past-tense fact recorded by an aggregate.
//
// EventType returns the event's stable type name, the same for every value of
// the type (it must not depend on the receiver's fields), e.g. "OrderPlaced".
type Event interface{ EventType() string }

// ErrUnknownEventType is returned (wrapped) when an event type name is not
// registered, or when an aggregate is given an event it does not handle.
var ErrUnknownEventType = errors.New("unknown event type")

// Decoder decodes one JSON payload into an event value.
type Decoder func(payload []byte) (Event, error)

// Registry maps stable event type names to decoders, so infrastructure can
// decode stored JSON payloads into typed events.
//
// Fill a Registry at start-up (each aggregate package has a Register function)
// and only read it afterwards: it is safe for concurrent reads, not for
// registration concurrent with use. The zero value is not usable; call
// [NewRegistry].
type Registry struct {
	decoders map[string]Decoder
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry {
	return &Registry{decoders: make(map[string]Decoder)}
}

// Register adds a decoder for the event type name. It panics if name is empty,
// decode is nil or name is already registered: these are wiring mistakes that
// would otherwise corrupt decoding silently. Most callers use [RegisterEvent].
func (r *Registry) Register(name string, decode Decoder) {
	if name == "" || decode == nil {
		panic("domain: Registry.Register with empty name or nil decoder")
	}
	if _, dup := r.decoders[name]; dup {
		panic("domain: event type registered twice: " + name)
	}
	r.decoders[name] = decode
}

// RegisterEvent registers the value type E under the name its zero value's
// EventType returns. Decoding yields values of type E (not pointers), the same
// representation aggregates record. It panics like [Registry.Register].
func RegisterEvent[E Event](r *Registry) {
	var zero E
	r.Register(zero.EventType(), func(payload []byte) (Event, error) {
		var e E
		if err := json.Unmarshal(payload, &e); err != nil {
			return nil, err
		}
		return e, nil
	})
}

// Decode decodes a JSON payload stored or published under the type name.
// It returns an error wrapping [ErrUnknownEventType] for an unregistered name,
// or the JSON error. Unknown JSON fields are ignored, so newer producers may
// add fields without breaking older consumers.
func (r *Registry) Decode(name string, payload []byte) (Event, error) {
	decode, ok := r.decoders[name]
	if !ok {
		return nil, fmt.Errorf("decode %q: %w", name, ErrUnknownEventType)
	}
	e, err := decode(payload)
	if err != nil {
		return nil, fmt.Errorf("decode %q: %w", name, err)
	}
	return e, nil
}

// Encode returns the stable type name and the JSON payload of e, the pair
// infrastructure stores and publishes. It fails only if JSON encoding fails.
func Encode(e Event) (name string, payload []byte, err error) {
	payload, err = json.Marshal(e)
	if err != nil {
		return "", nil, fmt.Errorf("encode %q: %w", e.EventType(), err)
	}
	return e.EventType(), payload, nil
}

// Has reports whether name is registered.
func (r *Registry) Has(name string) bool {
	_, ok := r.decoders[name]
	return ok
}

// Types returns the registered type names in sorted order.
func (r *Registry) Types() []string {
	names := make([]string, 0, len(r.decoders))
	for name := range r.decoders {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}
