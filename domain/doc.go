// Package domain is the shared kernel of Shopflow's bounded contexts (orders,
// inventory, payments): the few types every aggregate package builds on.
//
// It provides:
//
//   - [Event], the interface of every domain event, and [Registry], which maps
//     stable event type names to decoders so infrastructure (event store,
//     outbox relay, Kafka consumers) can turn stored JSON payloads back into
//     typed events;
//   - [Root], the bookkeeping an aggregate embeds as a named field: stream
//     version and uncommitted changes;
//   - the error kinds shared by all contexts: [ValidationError] (every bad
//     field of a command, for problem+json field detail), [RuleError] (a
//     business rule refused the command, identified by a stable code) and
//     [ErrNotFound];
//   - money helpers: amounts are integer minor units (int64 cents) plus an
//     ISO 4217 currency code, see [IsCurrency] and [MaxPriceCents].
//
// # Conventions shared by the aggregate packages
//
// Aggregates keep their state unexported. A command method validates its
// input and checks invariants, then records past-tense events; the only code
// that changes state is the aggregate's apply switch, which is used both for
// newly recorded events and for rehydration from history. Rehydration never
// runs command validation: history is fact.
//
// Events are plain value structs with snake_case JSON tags; their JSON form
// and their type names are a public contract (stored forever, published to
// Kafka) and must never change incompatibly. An event must not be modified
// after it has been recorded.
//
// A command that has nothing to do (a duplicate or late message) records no
// event and returns nil. Callers therefore append [Root.Changes] only when it
// is non-empty.
//
// Identifiers are strings the caller has already validated (UUIDs in the API);
// the domain only requires them to be non-empty.
//
// This package and its subpackages use the Go standard library only.
// Aggregates are not safe for concurrent use; a command handler loads, changes
// and saves one instance per command.
package domain
