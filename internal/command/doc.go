// Package command holds Shopflow's command handlers: the write side of the orders,
// inventory and payments contexts, shared by the HTTP write API and the saga workers.
//
// A command is an imperative struct (PlaceOrder, RestockProduct, …) handled by a handler
// built with its dependencies (NewPlaceOrderHandler(store, cfg)). Handle validates the
// command, loads the aggregate from the context's event store, lets the domain decide,
// and appends the recorded events with optimistic concurrency. It returns a [Result]: the
// aggregate id, its stream id and the stream version after the command, which API
// responses report so that clients can read their own writes.
//
// # One transaction per command
//
// [Repository] does the load–decide–append cycle for one aggregate type. Everything a
// command writes commits in one [Unit], the only write path of the command handlers and
// of the saga reactions alike: the events and, from [Options], the inbox entry of the saga
// message that caused the command and/or the idempotency record of the API request. A saga
// group commit adds the Units of several decisions into one, whose appends to one stream
// are merged. Callers pass the package's own [Metadata], [InboxEntry] and
// [IdempotencyRecord] and match its error values ([ErrVersionConflict], …); the
// repository converts them for the event store, so the API never imports it. A conflict (eventstore.ErrVersionConflict: another writer appended
// to the stream since it was loaded) makes Update reload and decide again, up to
// Config.MaxAttempts times with a small jittered backoff; then the conflict is returned.
// Saga code that must append to several streams atomically composes [Repository.Load],
// [Repository.Append] and [Retry] itself.
//
// # Identifiers
//
// New aggregate ids are UUIDv7 strings ([NewID]); ids from outside are accepted only as
// canonical UUIDs ([ParseID]). A stream id is "<aggregate type>-<id>" ([StreamID]): the
// orders database holds "order-<order id>"; the inventory database "product-<product id>"
// ([ProductType]) and "order_reservation-<order id>" ([ReservationType]); the payments
// database "account-<customer id>" ([AccountType]) and "order_payment-<order id>"
// ([OrderPaymentType]), the per-order streams that remember what was reserved and paid for
// each order, so that products and accounts keep only stock and balance.
//
// # Kept aggregates and snapshots
//
// A [Repository] keeps the aggregates it stored (Config.CacheSize) and next time reads only
// the events after their version. Products and accounts also have a snapshot codec
// ([AggregateType.Snapshot]): one that is not kept is loaded from its stream's snapshot (the
// snapshots table of the service's database) plus the events after it, and a snapshot of
// another schema version, or one that does not restore, is ignored for a full replay. A new
// snapshot is taken, after the command's commit and from a state known to be stored, when
// the stream is Config.SnapshotEvery events (default 50) past the last one; see
// snapshots.go for when exactly and why outside the command's transaction.
//
// # Errors
//
// Handlers return the domain's error kinds unwrapped enough for errors.As/errors.Is:
// *domain.ValidationError (every invalid field, named as in the API's JSON),
// *domain.RuleError, [NotFoundError] (errors.Is domain.ErrNotFound), [*TakenError] and the eventstore
// sentinels (ErrVersionConflict after the last attempt, ErrIdempotencyKeyExists,
// ErrAlreadyProcessed). Handlers are safe for concurrent use.
//
// Uniqueness that spans aggregates (product SKUs, customer emails) is declared by
// [AggregateType.Unique] and claimed in the event store (eventstore.Write.Unique) in the
// transaction that creates the aggregate: a duplicate fails with [*TakenError].
package command
