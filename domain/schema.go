package domain

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
)

// Versioned is implemented by an event type whose JSON form changed since its first
// release: SchemaVersion returns the version its Go type encodes, the same for every value
// (it must not depend on the receiver's fields). An event type without it is at version 1.
//
// Raising the version of a type is how its JSON form changes incompatibly (a field removed,
// renamed or retyped): the aggregate package then passes an [Upcaster] from the old version
// to [RegisterEvent], and the event catalog (docs/events, `make catalog`) keeps the old
// version's schema. Every reader of stored or published events migrates them through the
// registry, so the domain only ever sees the newest version.
type Versioned interface{ SchemaVersion() int }

// SchemaVersionOf returns e's schema version: its [Versioned.SchemaVersion], else 1.
func SchemaVersionOf(e Event) int {
	if v, ok := e.(Versioned); ok {
		return v.SchemaVersion()
	}
	return 1
}

// Upcaster rewrites a JSON payload of one event type from schema version N to N+1. It
// must accept every payload version N ever wrote, and must not modify its argument.
type Upcaster func(payload json.RawMessage) (json.RawMessage, error)

// ErrSchemaVersion is returned (wrapped) for a payload whose schema version is newer than
// the registered type's: it was written by a newer release and this one cannot read it
// safely (consumers dead-letter it; redrive it once upgraded).
var ErrSchemaVersion = errors.New("unknown schema version")

// SchemaVersion returns the current schema version of the event type name, 0 if it is not
// registered. Writers stamp every event they append with it.
func (r *Registry) SchemaVersion(name string) int { return r.versions[name] }

// GoType returns the Go type registered for name with [RegisterEvent] (nil for a type
// registered with a bare decoder, or not at all): what the event catalog describes.
func (r *Registry) GoType(name string) reflect.Type { return r.types[name] }

// Upcast migrates a payload of eventType written at schema version to the type's current
// version, step by step, and returns it with that version. Versions below 1 count as 1
// (events stored before versions were recorded). An unregistered type is returned as it
// is (decoding it then fails with ErrUnknownEventType). Errors: ErrSchemaVersion for a
// version newer than the current one; an upcaster's error, wrapped. It has the signature of
// eventstore.PayloadUpcaster, so the registry is what consumers upcast records with.
func (r *Registry) Upcast(eventType string, version int, payload json.RawMessage) (json.RawMessage, int, error) {
	current, ok := r.versions[eventType]
	if !ok {
		return payload, version, nil
	}
	version = max(version, 1)
	if version > current {
		return nil, version, fmt.Errorf("upcast %s v%d (this release knows v%d): %w", eventType, version, current, ErrSchemaVersion)
	}
	for ; version < current; version++ {
		p, err := r.upcasters[eventType][version-1](payload)
		if err != nil {
			return nil, version, fmt.Errorf("upcast %s v%d: %w", eventType, version, err)
		}
		payload = p
	}
	return payload, version, nil
}

// DecodeVersion decodes a stored or published payload of the type name written at schema
// version: it upcasts it to the current version, then decodes it. Errors as [Registry.Upcast]
// and [Registry.Decode].
func (r *Registry) DecodeVersion(name string, version int, payload []byte) (Event, error) {
	p, _, err := r.Upcast(name, version, payload)
	if err != nil {
		return nil, fmt.Errorf("decode %q: %w", name, err)
	}
	return r.Decode(name, p)
}

// NestMoney returns the upcaster that moves the two fields amountField (integer minor
// units) and currencyField of a payload into one [Money] object named moneyField, keeping
// every other field as it is: the migration of an event that carried "total_cents" and
// "currency" side by side to one that carries "total": {"amount_cents", "currency"}. A
// payload without amountField is refused: the old version always wrote it.
func NestMoney(amountField, currencyField, moneyField string) Upcaster {
	return func(payload json.RawMessage) (json.RawMessage, error) {
		var fields map[string]json.RawMessage
		if err := json.Unmarshal(payload, &fields); err != nil {
			return nil, err
		}
		var m Money
		amount, ok := fields[amountField]
		if !ok {
			return nil, fmt.Errorf("no %q", amountField)
		}
		if err := json.Unmarshal(amount, &m.AmountCents); err != nil {
			return nil, fmt.Errorf("%s: %w", amountField, err)
		}
		if c, ok := fields[currencyField]; ok {
			if err := json.Unmarshal(c, &m.Currency); err != nil {
				return nil, fmt.Errorf("%s: %w", currencyField, err)
			}
		}
		delete(fields, amountField)
		delete(fields, currencyField)
		nested, err := json.Marshal(m)
		if err != nil {
			return nil, err
		}
		fields[moneyField] = nested
		return json.Marshal(fields)
	}
}
