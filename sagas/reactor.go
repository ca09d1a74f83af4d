package sagas

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/shopflow/shopflow/domain"
	"github.com/shopflow/shopflow/domain/inventory"
	"github.com/shopflow/shopflow/domain/order"
	"github.com/shopflow/shopflow/domain/payment"
	"github.com/shopflow/shopflow/eventstore"
	"github.com/shopflow/shopflow/internal/command"
	"github.com/shopflow/shopflow/internal/kafka"
)

// ErrRunning is returned by Run when the reactor is already running.
var ErrRunning = errors.New("sagas: reactor is already running")

// InboxConsumer returns the consumer name under which a context's reactor records the
// messages it processed in its database's inbox, e.g. "sagas.inventory". It does not
// depend on the consumer group, so a message consumed again under another group (a new
// deployment, a redrive, a reset) is still recognised.
func InboxConsumer(context string) string { return "sagas." + context }

// reaction handles one decoded message of an event type the reactor subscribes to. It
// returns the outcome (OutcomeApplied, OutcomeNoop, OutcomeDuplicate) or an error:
// permanent (IsPermanent) or transient.
type reaction func(ctx context.Context, m message) (outcome string, err error)

// message is a decoded saga input.
type message struct {
	env   eventstore.Envelope
	event domain.Event
	// inbox is the entry to write in the same transaction as the reaction's events.
	inbox *command.InboxEntry
	// meta is the metadata of the events the reaction appends: the input's correlation
	// id and trace context, caused by the input event.
	meta command.Metadata
	// batch, set in a group commit, collects the reaction's write (see lanes.go).
	batch *batch
}

// Reactor is one bounded context's side of the order saga: it consumes the other contexts'
// event topics with a Kafka consumer group and reacts by appending to its own context's
// event store only. Build one with NewInventoryReactor, NewPaymentsReactor or
// NewOrdersReactor and call Run. A Reactor runs once at a time; it may be run again after
// Run returns. Several processes may run the reactor of the same context: they share the
// consumer group and split the partitions.
type Reactor struct {
	context    string
	cfg        Config
	group      string
	topics     []string
	deadLetter string
	inbox      string
	registry   *domain.Registry
	reactions  map[string]reaction
	routes     map[string]route
	// store is the context's event store, written by group commits; forget drops a
	// stream's aggregate from the repositories that keep aggregates (see lanes.go).
	store      command.EventStore
	forget     []func(streamID string)
	background []func(context.Context)
	metrics    *reactorMetrics
	log        *slog.Logger
	running    atomic.Bool

	// What Health reports: the consumer's membership, a failing poll, reactions being
	// retried (and the last error of one), a failing deadline scan.
	status      kafka.GroupStatus
	pollFailure atomic.Pointer[error]
	failing     atomic.Int32
	lastFailure atomic.Pointer[error]
	scanFailure atomic.Pointer[error]
}

// errNotRunning is Health's answer while Run is not running.
var errNotRunning = errors.New("not running")

// Health reports nil while Run runs, the consumer holds its partitions (its assignment
// after joining the group) and nothing is failing; otherwise why not. A reaction that
// keeps failing (Postgres down) or a failing poll (Kafka down) or deadline scan makes it
// unhealthy until it succeeds. Safe for concurrent use; readiness probes call it.
func (r *Reactor) Health() error {
	if !r.running.Load() {
		return fmt.Errorf("reactor %s: %w", r.context, errNotRunning)
	}
	if err := r.status.Health(); err != nil {
		return fmt.Errorf("reactor %s: %w", r.context, err)
	}
	if p := r.pollFailure.Load(); p != nil {
		return fmt.Errorf("reactor %s: %w", r.context, *p)
	}
	if n := r.failing.Load(); n > 0 {
		return fmt.Errorf("reactor %s: %d reactions failing, retried with backoff: %w", r.context, n, *r.lastFailure.Load())
	}
	if p := r.scanFailure.Load(); p != nil {
		return fmt.Errorf("reactor %s: deadline scan: %w", r.context, *p)
	}
	return nil
}

// newReactor validates cfg and returns the reactor of context consuming the events topics
// of sources. Reactions are added by the caller.
func newReactor(cfg Config, context string, sources ...string) (*Reactor, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	own := cfg.context(context)
	r := &Reactor{
		context: context, cfg: cfg, group: own.Group, deadLetter: own.DeadLetterTopic,
		inbox: InboxConsumer(context), registry: domain.NewRegistry(), reactions: map[string]reaction{}, routes: map[string]route{},
		metrics: cfg.Metrics.forReactor(context), log: cfg.Log.With("reactor", context),
	}
	for _, s := range sources {
		r.topics = append(r.topics, cfg.context(s).EventsTopic)
	}
	order.Register(r.registry)
	inventory.Register(r.registry)
	payment.Register(r.registry)
	return r, nil
}

// Context returns the bounded context the reactor writes to: "orders", "inventory" or
// "payments".
func (r *Reactor) Context() string { return r.context }

// Topics returns the topics the reactor consumes.
func (r *Reactor) Topics() []string { return append([]string(nil), r.topics...) }

// Group returns the reactor's consumer group.
func (r *Reactor) Group() string { return r.group }

// DeadLetterTopic returns the topic where the reactor parks messages it can never process.
func (r *Reactor) DeadLetterTopic() string { return r.deadLetter }

// on subscribes fn to an event type.
func (r *Reactor) on(eventType string, fn reaction) { r.reactions[eventType] = fn }

// onRouted subscribes fn to an event type, with the route to the aggregates it writes to.
func (r *Reactor) onRouted(eventType string, fn reaction, rt route) {
	r.reactions[eventType] = fn
	r.routes[eventType] = rt
}

// writesTo sets the store the reactions write to, for group commits (see lanes.go).
func (r *Reactor) writesTo(store command.EventStore) { r.store = store }

// Run consumes and reacts until ctx ends, then commits what it processed, leaves the group
// and returns nil. It returns an error only if it cannot start (a Kafka client cannot be
// built) or ErrRunning. Failures of Postgres or Kafka while running are logged and retried
// with exponential backoff without committing the offsets of unprocessed messages;
// messages that can never be processed go to the dead-letter topic. Background work of
// the reactor (the orders context's deadline scanner) runs for as long as Run does.
func (r *Reactor) Run(ctx context.Context) error {
	if !r.running.CompareAndSwap(false, true) {
		return ErrRunning
	}
	defer r.running.Store(false)
	r.status.Reset()
	r.pollFailure.Store(nil)
	r.scanFailure.Store(nil)
	s, err := r.newSession()
	if err != nil {
		return err
	}
	defer s.close()
	var wg sync.WaitGroup
	for _, bg := range r.background {
		wg.Go(func() { bg(ctx) })
	}
	s.loop(ctx)
	wg.Wait()
	return nil
}

// react decodes a record and runs the reaction of its event type. Records of event types
// the reactor does not react to are ignored after their envelope was checked.
//
// ctx must be the span of the attempt (startReaction): the events carry its context on.
func (r *Reactor) react(ctx context.Context, rec *kgo.Record) (string, error) {
	m, fn, err := r.prepare(rec)
	if err != nil {
		return "", err
	}
	if fn == nil {
		return OutcomeIgnored, nil
	}
	traceMessage(ctx, &m)
	return fn(ctx, m)
}

// prepare decodes a record into the input of its reaction. The reaction is nil for event
// types the reactor does not react to.
func (r *Reactor) prepare(rec *kgo.Record) (message, reaction, error) {
	env, err := eventstore.Decode(rec, nil)
	if err != nil {
		return message{}, nil, err
	}
	fn, ok := r.reactions[env.EventType]
	if !ok {
		return message{}, nil, nil // not upcast: an event the reactor ignores is never its dead letter
	}
	err = eventstore.Apply(&env, r.registry) // the domain's upcasters: the newest version
	var event domain.Event
	if err == nil {
		event, err = r.registry.Decode(env.EventType, env.Payload)
	}
	if err != nil {
		return message{}, nil, permanent(fmt.Errorf("%w: %w", eventstore.ErrUndecodable, err))
	}
	return r.message(env, event), fn, nil
}

// message builds the reaction input of a decoded event.
func (r *Reactor) message(env eventstore.Envelope, event domain.Event) message {
	meta := command.Metadata{
		CorrelationID: env.Metadata.CorrelationID, CausationID: env.EventID.String(),
		TraceParent: env.Metadata.TraceParent, TraceState: env.Metadata.TraceState,
		Principal: command.PrincipalOf(env.Metadata), // the audit trail follows the saga chain
	}
	if meta.CorrelationID == "" {
		meta.CorrelationID = env.EventID.String()
	}
	return message{
		env: env, event: event, meta: meta,
		inbox: &command.InboxEntry{Consumer: r.inbox, MessageID: messageID(env.EventID)},
	}
}

// messageID is the inbox message id of an event: its event id, so that the same event
// consumed again — redelivered, re-published by the relay after a crash, redriven from a
// dead-letter topic — is recognised whatever its topic, partition and offset.
func messageID(id uuid.UUID) string { return id.String() }

// commandConfig returns the retry settings of the reactions' writes.
func (r *Reactor) commandConfig() command.Config { return r.cfg.Command }

// NewReactor returns the reactor of the named context (Orders, Inventory or Payments), for
// wiring code that loops over the configured contexts: see NewOrdersReactor,
// NewInventoryReactor and NewPaymentsReactor. store is the context's own event store; pool
// is the same database's pool, used by the orders reactor only (nil is fine for the
// others). An unknown name gives an error wrapping ErrUnknownContext.
func NewReactor(context string, cfg Config, store *eventstore.Store, pool *pgxpool.Pool) (*Reactor, error) {
	switch context {
	case Orders:
		return NewOrdersReactor(cfg, store, pool)
	case Inventory:
		return NewInventoryReactor(cfg, store)
	case Payments:
		return NewPaymentsReactor(cfg, store)
	}
	return nil, fmt.Errorf("sagas: %q: %w", context, ErrUnknownContext)
}

// ErrUnknownContext is returned (wrapped) by NewReactor for a name that is not a context.
var ErrUnknownContext = errors.New("unknown bounded context")
