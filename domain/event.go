package domain

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
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
	// versions holds each type's current schema version; types, its Go type (for the
	// event catalog); upcasters, the migrations of its older versions (see schema.go).
	versions  map[string]int
	types     map[string]reflect.Type
	upcasters map[string][]Upcaster
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry {
	return &Registry{decoders: make(map[string]Decoder), versions: make(map[string]int),
		types: make(map[string]reflect.Type), upcasters: make(map[string][]Upcaster)}
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
	r.versions[name] = 1
}

// RegisterEvent registers the value type E under the name its zero value's
// EventType returns, at its schema version (its [Versioned.SchemaVersion], else
// 1), with the upcasters of its older versions: upcasters[i] migrates a payload
// of version i+1 to i+2, so a type at version N passes exactly N-1 of them.
// Decoding yields values of type E (not pointers), the same representation
// aggregates record. It panics like [Registry.Register], and when the number of
// upcasters does not match the version: a type whose version was raised
// without an upcaster from the old one could not read its stored events.
func RegisterEvent[E Event](r *Registry, upcasters ...Upcaster) {
	var zero E
	name, version := zero.EventType(), SchemaVersionOf(zero)
	if len(upcasters) != version-1 || slices.ContainsFunc(upcasters, func(u Upcaster) bool { return u == nil }) {
		panic(fmt.Sprintf("domain: %s is at schema version %d and needs %d upcasters, has %d",
			name, version, version-1, len(upcasters)))
	}
	r.Register(name, func(payload []byte) (Event, error) {
		var e E
		if err := json.Unmarshal(payload, &e); err != nil {
			return nil, err
		}
		return e, nil
	})
	r.versions[name], r.types[name], r.upcasters[name] = version, reflect.TypeFor[E](), upcasters
}

// Decode decodes a JSON payload of the type name's current schema version (see
// [Registry.DecodeVersion] for stored and published payloads of any version).
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
