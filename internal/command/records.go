package command

import (
	"context"
	"encoding/json"
	"errors"

	"github.com/shopflow/shopflow/eventstore"
)

// The application's own types for what a command records besides its events: callers
// (the write API, the saga reactors) build these, and the repository converts them to the
// event store's, so that the ports never depend on how the store lays them out.

// Metadata is recorded with every event a command appends.
type Metadata struct {
	// CorrelationID ties together everything one client request caused, across services.
	CorrelationID string
	// CausationID is the id of what caused the command: the request, or the event a saga
	// reacted to.
	CausationID string
	// TraceParent and TraceState are the W3C trace context of the cause.
	TraceParent, TraceState string
	// Extra holds free-form keys.
	Extra map[string]string
	// Principal is who caused the command: the API's caller, or for a saga reaction the
	// principal of the event it reacts to (zero: none known).
	Principal Principal
}

// Principal is who caused a command: a token's subject and the OAuth client it was issued
// to ("" when it names none).
type Principal struct {
	Subject, ClientID string
}

// ForStore returns m as the event store records it. Only adapters that write the store
// themselves need it (the saga reactions' group commit).
func (m Metadata) ForStore() eventstore.Metadata {
	em := eventstore.Metadata{CorrelationID: m.CorrelationID, CausationID: m.CausationID,
		TraceParent: m.TraceParent, TraceState: m.TraceState, Extra: m.Extra}
	if m.Principal != (Principal{}) {
		em.Principal = &eventstore.Principal{Subject: m.Principal.Subject, ClientID: m.Principal.ClientID}
	}
	return em
}

// PrincipalOf returns the principal an event's metadata records (zero if none), for the
// commands it causes.
func PrincipalOf(m eventstore.Metadata) Principal {
	if m.Principal == nil {
		return Principal{}
	}
	return Principal{Subject: m.Principal.Subject, ClientID: m.Principal.ClientID}
}

// InboxEntry marks the message a saga reaction handles as processed, in the reaction's
// transaction.
type InboxEntry struct {
	Consumer  string
	MessageID string
}

// ForStore returns e as the event store records it (see Metadata.ForStore).
func (e InboxEntry) ForStore() eventstore.InboxEntry {
	return eventstore.InboxEntry{Consumer: e.Consumer, MessageID: e.MessageID}
}

// IdempotencyRecord is the first response to a command sent with an Idempotency-Key: the
// request's hash, so that a different request under the same key is refused, and the
// response, replayed to a retry of the same request.
type IdempotencyRecord struct {
	Key         string
	RequestHash []byte
	Status      int
	Response    json.RawMessage
}

func (r IdempotencyRecord) forStore() *eventstore.IdempotencyRecord {
	return &eventstore.IdempotencyRecord{Key: r.Key, RequestHash: r.RequestHash, Status: r.Status, Response: r.Response}
}

// Errors of a command's write that callers map to answers; they are the event store's, so
// errors.Is matches either name.
var (
	// ErrVersionConflict: a stream moved on after it was read; nothing was written.
	ErrVersionConflict = eventstore.ErrVersionConflict
	// ErrEventTooLarge: an event's payload is above the store's limit.
	ErrEventTooLarge = eventstore.ErrEventTooLarge
	// ErrIdempotencyKeyExists: another request committed under the Idempotency-Key first.
	ErrIdempotencyKeyExists = eventstore.ErrIdempotencyKeyExists
	// ErrUnknownIdempotencyKey: no command committed under the key yet.
	ErrUnknownIdempotencyKey = errors.New("command: unknown Idempotency-Key")
)

// IdempotencyKeys reads the records of Idempotency-Keys in one service database.
type IdempotencyKeys struct {
	store interface {
		Idempotency(ctx context.Context, key string) (eventstore.IdempotencyRecord, error)
	}
}

// NewIdempotencyKeys reads records from store (a service's *eventstore.Store).
func NewIdempotencyKeys(store interface {
	Idempotency(ctx context.Context, key string) (eventstore.IdempotencyRecord, error)
}) IdempotencyKeys {
	return IdempotencyKeys{store: store}
}

// Idempotency returns the record of key, or an error wrapping ErrUnknownIdempotencyKey.
func (k IdempotencyKeys) Idempotency(ctx context.Context, key string) (IdempotencyRecord, error) {
	rec, err := k.store.Idempotency(ctx, key)
	if errors.Is(err, eventstore.ErrNotFound) {
		return IdempotencyRecord{}, errors.Join(ErrUnknownIdempotencyKey, err)
	}
	if err != nil {
		return IdempotencyRecord{}, err
	}
	return IdempotencyRecord{Key: rec.Key, RequestHash: rec.RequestHash, Status: rec.Status, Response: rec.Response}, nil
}
