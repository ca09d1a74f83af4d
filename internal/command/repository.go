package command

import (
	"context"
	"errors"
	"fmt"
	"strings"

	lru "github.com/hashicorp/golang-lru/v2"

	"github.com/shopflow/shopflow/domain"
	"github.com/shopflow/shopflow/eventstore"
)

// EventStore is what handlers need of a service database's event store;
// *eventstore.Store implements it. Load returns a stream's events in version order;
// Write commits atomically (see eventstore.Store.Write for its errors).
type EventStore interface {
	Load(ctx context.Context, streamID string, afterVersion int64) ([]eventstore.RecordedEvent, error)
	Write(ctx context.Context, w eventstore.Write) (map[string]int64, error)
}

// Aggregate is what a Repository needs of an aggregate; every domain aggregate has it.
type Aggregate interface {
	ID() string
	Version() int64
	CommittedVersion() int64
	Changes() []domain.Event
	MarkCommitted()
}

// AggregateType describes how one aggregate type is stored. The descriptors of Shopflow's
// aggregates are [ProductType], [ReservationType], [AccountType] and [OrderType].
type AggregateType[A Aggregate] struct {
	// Name is the stream type and the stream id prefix, e.g. "product".
	Name string
	// Register adds the event types of the aggregate's context to a registry.
	Register func(*domain.Registry)
	// Load rehydrates aggregate id from its stream's events. It returns an error wrapping
	// domain.ErrNotFound when the aggregate does not exist.
	Load func(id string, history []domain.Event) (A, error)
	// Status, optional, returns the aggregate's lifecycle status for Result.Status.
	Status func(A) string
	// Advance, optional, applies the events after a committed aggregate's version to it
	// (they are its stream's next ones). With it, a Repository keeps aggregates between
	// commands and loads only the new part of their streams: see Repository.
	Advance func(A, []domain.Event) error
	// Unique, optional, returns the fields whose values no two aggregates of the type may
	// share (a product's SKU). They are claimed in the transaction that creates the
	// aggregate; creating a second one with any of them fails with a *TakenError and
	// writes nothing.
	Unique func(A) []UniqueField
	// Snapshot, optional, lets a Repository load the type's aggregates from a snapshot of
	// their state plus the events after it, and take such snapshots (see Config.
	// SnapshotEvery). It needs Advance, which applies those events.
	Snapshot *SnapshotCodec[A]
}

// UniqueField is a field of an aggregate whose value is unique among its type.
type UniqueField struct {
	// Field is the field's name in the API's JSON, e.g. "sku".
	Field string
	// Value is the value in a normal form, so that values meant to be equal are equal
	// strings (trimmed, lower-cased, …).
	Value string
}

// TakenError reports that another aggregate of the type holds the value of a unique field.
// errors.Is(err, eventstore.ErrValueTaken) holds.
type TakenError struct {
	UniqueField
	// HeldBy is the id of the aggregate that holds the value; empty if unknown.
	HeldBy string
	err    error
}

func (e *TakenError) Error() string {
	return fmt.Sprintf("%s %q is already registered", e.Field, e.Value)
}

func (e *TakenError) Unwrap() error { return e.err }

// Result is the outcome of a successful command.
type Result struct {
	// ID is the aggregate's id (a UUID).
	ID string
	// StreamID is the aggregate's stream id, see StreamID.
	StreamID string
	// Version is the stream version after the command: the version the read side reaches
	// once it has applied the command's events. A command with nothing to do leaves it.
	Version int64
	// Status is the aggregate's lifecycle status after the command, for aggregates that
	// have one (orders: "pending", "cancelled", …); empty otherwise.
	Status string
}

// IdempotencyFunc builds the idempotency record to store with a command's events, from
// the command's result. It may be called once per attempt; the record of the attempt that
// commits is the one stored.
type IdempotencyFunc func(Result) (*IdempotencyRecord, error)

// Options are what a caller adds to a command besides its fields. The zero value is
// valid: a new correlation id, no inbox entry, no idempotency record.
type Options struct {
	// Metadata is stored with every appended event. An empty CorrelationID becomes a new
	// UUID; an empty CausationID becomes the CorrelationID.
	Metadata Metadata
	// Inbox, from a saga worker, marks the message that caused the command as processed
	// in the same transaction; a duplicate makes the command fail with
	// eventstore.ErrAlreadyProcessed and write nothing. It is written even when the
	// command records no event.
	Inbox *InboxEntry
	// Idempotency, from the API, builds the Idempotency-Key record written in the same
	// transaction; a key committed first makes the command fail with
	// ErrIdempotencyKeyExists and write nothing. It is written even when the
	// command records no event.
	Idempotency IdempotencyFunc

	// claims are unique values claimed by the handler itself, besides AggregateType.Unique
	// (an account's email digest, which the aggregate cannot compute: it holds the email
	// sealed); release are claims given up (a forgotten customer's email). Both are
	// written only with events.
	claims  []UniqueField
	release []string
}

// withDefaults fills the metadata's correlation and causation ids.
func (o Options) withDefaults() (Options, error) {
	if o.Metadata.CorrelationID == "" {
		id, err := NewID()
		if err != nil {
			return o, err
		}
		o.Metadata.CorrelationID = id
	}
	if o.Metadata.CausationID == "" {
		o.Metadata.CausationID = o.Metadata.CorrelationID
	}
	return o, nil
}

// NotFoundError reports that an aggregate does not exist (its stream has no events).
// errors.Is(err, domain.ErrNotFound) holds.
type NotFoundError struct {
	// Type is the aggregate type, e.g. "product".
	Type string
	// ID is the aggregate id that was looked up.
	ID string
}

// Error returns "<type> <id> not found".
func (e *NotFoundError) Error() string { return e.Type + " " + e.ID + " not found" }

// Unwrap returns domain.ErrNotFound.
func (e *NotFoundError) Unwrap() error { return domain.ErrNotFound }

// Repository loads the aggregates of one type from an event store and appends their
// changes. It is safe for concurrent use; the aggregates it returns are not.
//
// For types with an Advance function it keeps committed aggregates (Config.CacheSize, least
// recently used out): Load takes a kept aggregate out, so that one caller at a time owns it,
// and reads only the events after its version, so it is never staler than a full load;
// Update, Create and Committed put it back once its changes are stored. Streams that grow
// with every order (a product's, an account's) then cost one short read per command
// instead of their whole history.
//
// For types with a Snapshot codec, in a store that implements SnapshotStore, an aggregate
// that is not kept is loaded from its stream's snapshot and the events after it, and
// snapshots are taken as streams grow (see Config.SnapshotEvery and snapshots.go): a cold
// load, after a restart or an eviction, reads a bounded tail however long the stream.
type Repository[A Aggregate] struct {
	store    EventStore
	typ      AggregateType[A]
	registry *domain.Registry
	cfg      Config
	kept     *lru.Cache[string, A] // nil without Advance or with CacheSize < 0
	snaps    snapshots             // zero: no snapshots
}

// NewRepository returns a repository of typ's aggregates in store. It fails if store is
// nil, typ lacks Name, Register or Load, typ has a Snapshot codec but no Advance, or cfg
// is invalid.
func NewRepository[A Aggregate](store EventStore, typ AggregateType[A], cfg Config) (*Repository[A], error) {
	var errs []error
	if store == nil {
		errs = append(errs, errors.New("command: nil event store"))
	}
	if typ.Name == "" || typ.Register == nil || typ.Load == nil {
		errs = append(errs, errors.New("command: aggregate type needs Name, Register and Load"))
	}
	errs = append(errs, typ.Snapshot.validate(typ.Advance != nil), cfg.Validate())
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	registry := domain.NewRegistry()
	typ.Register(registry)
	r := &Repository[A]{store: store, typ: typ, registry: registry, cfg: cfg.withDefaults()}
	if typ.Advance != nil && r.cfg.CacheSize > 0 {
		kept, err := lru.New[string, A](r.cfg.CacheSize)
		if err != nil {
			return nil, err
		}
		r.kept = kept
	}
	var err error
	r.snaps, err = newSnapshots(store, typ.Snapshot != nil, r.cfg)
	return r, err
}

// Load rehydrates aggregate id — from its snapshot and the events after it if it has one,
// else from its whole stream — or brings a kept aggregate up to date with the events after
// its version. It returns a *NotFoundError if the aggregate does not exist. The caller owns
// the aggregate: give it back with Committed once its changes are stored, or drop it. A
// load that finds the stream Config.SnapshotEvery events past its snapshot takes a new one
// first (see snapshots.go).
func (r *Repository[A]) Load(ctx context.Context, id string) (A, error) {
	if a, ok := r.take(id); ok {
		if err := r.advance(ctx, a); err == nil {
			r.refreshSnapshot(ctx, a)
			return a, nil
		} else if ctx.Err() != nil {
			var zero A
			return zero, err
		}
		// A kept aggregate that cannot advance is dropped and loaded afresh.
	}
	a, from, err := r.loadFresh(ctx, id)
	if err != nil {
		var zero A
		return zero, err
	}
	r.snapshotIfDue(ctx, a, from)
	return a, nil
}

// take removes aggregate id from the kept ones and returns it.
func (r *Repository[A]) take(id string) (A, bool) {
	var zero A
	if r.kept == nil {
		return zero, false
	}
	a, ok := r.kept.Peek(id)
	if !ok || !r.kept.Remove(id) { // another caller took it first
		return zero, false
	}
	return a, true
}

// advance applies the events recorded after a's version.
func (r *Repository[A]) advance(ctx context.Context, a A) error {
	streamID := StreamID(r.typ.Name, a.ID())
	history, err := r.history(ctx, streamID, a.Version())
	if err != nil {
		return err
	}
	if len(history) == 0 {
		return nil
	}
	return r.typ.Advance(a, history)
}

// Committed gives back an aggregate whose changes are stored (Create and Update do it
// themselves; saga code that writes with Append does it after its write, never before):
// it is marked committed and kept for the next Load. The caller must not use it
// afterwards.
func (r *Repository[A]) Committed(a A) {
	a.MarkCommitted()
	if r.kept != nil {
		r.kept.Add(a.ID(), a)
	}
}

// history reads and decodes the events of streamID after version after.
func (r *Repository[A]) history(ctx context.Context, streamID string, after int64) ([]domain.Event, error) {
	records, err := r.store.Load(ctx, streamID, after)
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", streamID, err)
	}
	return r.decode(streamID, records)
}

// decode upcasts (with the upcasters the aggregate's package registers next to its event
// types, as every consumer of the topics does) and decodes stored events of streamID.
func (r *Repository[A]) decode(streamID string, records []eventstore.RecordedEvent) ([]domain.Event, error) {
	history := make([]domain.Event, len(records))
	for i, rec := range records {
		var err error
		if history[i], err = r.registry.DecodeVersion(rec.Type, rec.SchemaVersion, rec.Payload); err != nil {
			return nil, fmt.Errorf("load %s version %d: %w", streamID, rec.Version, err)
		}
	}
	return history, nil
}

// loadAll rehydrates aggregate id from its whole stream.
func (r *Repository[A]) loadAll(ctx context.Context, id string) (A, error) {
	var zero A
	streamID := StreamID(r.typ.Name, id)
	history, err := r.history(ctx, streamID, 0)
	if err != nil {
		return zero, err
	}
	a, err := r.typ.Load(id, history)
	if errors.Is(err, domain.ErrNotFound) {
		return zero, &NotFoundError{Type: r.typ.Name, ID: id}
	}
	if err != nil {
		return zero, fmt.Errorf("load %s: %w", streamID, err)
	}
	if a.ID() != id {
		return zero, fmt.Errorf("load %s: holds aggregate %q: %w", streamID, a.ID(), domain.ErrInvalidHistory)
	}
	return a, nil
}

// Append encodes a's uncommitted changes as an append to its stream at its committed
// version, each event carrying meta. It has no events if a recorded none.
func (r *Repository[A]) Append(a A, meta Metadata) (eventstore.StreamAppend, error) {
	stored := meta.ForStore()
	app := eventstore.StreamAppend{
		StreamID: StreamID(r.typ.Name, a.ID()), StreamType: r.typ.Name, ExpectedVersion: a.CommittedVersion(),
	}
	for _, e := range a.Changes() {
		name, payload, err := domain.Encode(e)
		if err != nil {
			return app, err
		}
		app.Events = append(app.Events, eventstore.EventData{Type: name, SchemaVersion: domain.SchemaVersionOf(e),
			Payload: payload, Metadata: stored})
	}
	return app, nil
}

// Result describes a as a command result.
func (r *Repository[A]) Result(a A) Result {
	res := Result{ID: a.ID(), StreamID: StreamID(r.typ.Name, a.ID()), Version: a.Version()}
	if r.typ.Status != nil {
		res.Status = r.typ.Status(a)
	}
	return res
}

// Create appends the changes of a new aggregate (its stream must not exist yet) in one
// transaction with opts' inbox entry and idempotency record. An existing stream gives
// eventstore.ErrVersionConflict; there is no retry, since a new id cannot be decided again.
func (r *Repository[A]) Create(ctx context.Context, a A, opts Options) (Result, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return Result{}, err
	}
	return r.save(ctx, a, opts)
}

// Update loads aggregate id, runs decide on it and appends the changes decide recorded in
// one transaction with opts' inbox entry and idempotency record. On
// eventstore.ErrVersionConflict it reloads and decides again (see Retry and
// Config.MaxAttempts). An error from decide is returned as is and nothing is written.
func (r *Repository[A]) Update(ctx context.Context, id string, decide func(A) error, opts Options) (Result, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return Result{}, err
	}
	var res Result
	err = Retry(ctx, r.cfg, func(ctx context.Context) error {
		a, err := r.Load(ctx, id)
		if err != nil {
			return err
		}
		if err := decide(a); err != nil {
			return err
		}
		res, err = r.save(ctx, a, opts)
		return err
	})
	return res, err
}

// save writes a's changes with opts' extras in one transaction. It writes nothing when
// there is nothing to write.
func (r *Repository[A]) save(ctx context.Context, a A, opts Options) (Result, error) {
	res := r.Result(a)
	app, err := r.Append(a, opts.Metadata)
	if err != nil {
		return Result{}, err
	}
	var u Unit
	if opts.Inbox != nil {
		u.Inbox(*opts.Inbox)
	}
	u.Append(app)
	if len(app.Events) > 0 && a.CommittedVersion() == 0 {
		claims := opts.claims
		if r.typ.Unique != nil {
			claims = append(r.typ.Unique(a), claims...)
		}
		for _, f := range claims {
			u.unique = append(u.unique, eventstore.UniqueValue{Scope: r.typ.Name + "." + f.Field, Value: f.Value, StreamID: app.StreamID})
		}
	}
	if len(app.Events) > 0 {
		for _, field := range opts.release {
			u.release = append(u.release, eventstore.UniqueValue{Scope: r.typ.Name + "." + field, StreamID: app.StreamID})
		}
	}
	if opts.Idempotency != nil {
		if u.idempotency, err = opts.Idempotency(res); err != nil {
			return Result{}, fmt.Errorf("idempotency record: %w", err)
		}
	}
	if u.empty() {
		return res, nil
	}
	if _, err := u.Write(ctx, r.store); err != nil {
		if taken := (*eventstore.ValueTakenError)(nil); errors.As(err, &taken) {
			return Result{}, &TakenError{err: err, HeldBy: strings.TrimPrefix(taken.HeldBy, r.typ.Name+"-"),
				UniqueField: UniqueField{Field: strings.TrimPrefix(taken.Scope, r.typ.Name+"."), Value: taken.Value}}
		}
		return Result{}, fmt.Errorf("save %s: %w", res.StreamID, err)
	}
	a.MarkCommitted()
	r.snapshotStored(ctx, a)
	r.Committed(a)
	return res, nil
}
