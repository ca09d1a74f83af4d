package eventstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgerrcode"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Errors returned by Store. Test with errors.Is.
var (
	// ErrVersionConflict: the stream is not at the expected version (another writer won),
	// or a retry must re-read the stream. Reload, decide again, retry, or answer 409.
	ErrVersionConflict = errors.New("eventstore: version conflict")
	// ErrAlreadyProcessed: the inbox already holds the message; nothing was written.
	ErrAlreadyProcessed = errors.New("eventstore: message already processed")
	// ErrIdempotencyKeyExists: a command with the same Idempotency-Key committed first;
	// nothing was written. Look the key up to answer with the first response.
	ErrIdempotencyKeyExists = errors.New("eventstore: idempotency key already used")
	// ErrNotFound: no such idempotency key.
	ErrNotFound = errors.New("eventstore: not found")
	// ErrInvalidWrite: the write itself is malformed (empty stream id, no event type, …).
	ErrInvalidWrite = errors.New("eventstore: invalid write")
	// ErrEventTooLarge: an event's payload exceeds MaxPayloadBytes; nothing was written.
	ErrEventTooLarge = errors.New("eventstore: event too large")
	// ErrValueTaken: a unique value of the write is held by another stream; nothing was
	// written. The error is a *ValueTakenError naming the value.
	ErrValueTaken = errors.New("eventstore: unique value taken")
)

// ValueTakenError is the ErrValueTaken of a write: which of its unique values another
// stream holds.
type ValueTakenError struct {
	UniqueValue
	// HeldBy is the stream that holds the value. (When the holder cannot be read back,
	// Write returns the database error wrapping ErrValueTaken instead.)
	HeldBy string
}

func (e *ValueTakenError) Error() string {
	holder := e.HeldBy
	if holder == "" {
		holder = "another stream"
	}
	return fmt.Sprintf("eventstore: %s %q is already held by %s", e.Scope, e.Value, holder)
}

// Is makes errors.Is(err, ErrValueTaken) true.
func (e *ValueTakenError) Is(target error) bool { return target == ErrValueTaken }

// MaxPayloadBytes bounds an event's JSON payload. With its envelope and headers an event
// then always fits in one Kafka record under the producer's and the broker's default limits
// (about 1 MB): an event the relay could never publish is refused when appended instead of
// stopping the relay at it for good.
const MaxPayloadBytes = 900 << 10

// NotifyChannel is the LISTEN/NOTIFY channel on which appends wake the relay.
const NotifyChannel = "shopflow_events"

// Store appends and reads the events of one service database. It is safe for concurrent use.
type Store struct {
	pool     *pgxpool.Pool
	database string // its name, for spans
	notify   chan struct{}
	done     chan struct{}
	closed   chan struct{}
}

// New returns a store on pool (whose schema Migrate created). Close stops its notifier; the
// pool stays the caller's.
func New(pool *pgxpool.Pool) *Store {
	s := &Store{pool: pool, database: pool.Config().ConnConfig.Database, notify: make(chan struct{}, 1), done: make(chan struct{}), closed: make(chan struct{})}
	go s.notifier()
	return s
}

// Close stops the background notifier after sending a last pending notification.
func (s *Store) Close() {
	select {
	case <-s.done:
	default:
		close(s.done)
	}
	<-s.closed
}

// Metadata travels with every event: tracing and causality, plus free-form string keys.
type Metadata struct {
	CorrelationID string            `json:"correlation_id,omitempty"`
	CausationID   string            `json:"causation_id,omitempty"`
	TraceParent   string            `json:"traceparent,omitempty"`
	TraceState    string            `json:"tracestate,omitempty"`
	Extra         map[string]string `json:"extra,omitempty"`
	// Principal is who caused the event: the caller of the API request, copied along the
	// saga chain to the events the reactions append.
	Principal *Principal `json:"principal,omitempty"`
}

// Principal identifies who caused an event: a token's subject and, when it names one, the
// OAuth client it was issued to.
type Principal struct {
	Subject  string `json:"subject"`
	ClientID string `json:"client_id,omitempty"`
}

// EventData is an event to append. ID defaults to a new UUIDv7 and SchemaVersion to 1.
type EventData struct {
	ID            uuid.UUID
	Type          string
	SchemaVersion int
	Payload       json.RawMessage
	Metadata      Metadata
}

// RecordedEvent is an event as stored.
type RecordedEvent struct {
	Position      int64
	TransactionID uint64
	StreamID      string
	StreamType    string
	Version       int64
	ID            uuid.UUID
	Type          string
	SchemaVersion int
	Payload       json.RawMessage
	Metadata      Metadata
	RecordedAt    time.Time
}

// StreamAppend appends Events to one stream that must be at ExpectedVersion (0: the stream
// must not exist yet). The events get versions ExpectedVersion+1, +2, ….
type StreamAppend struct {
	StreamID        string
	StreamType      string
	ExpectedVersion int64
	Events          []EventData
}

// InboxEntry marks a consumed message as processed, in the same transaction as its effects.
type InboxEntry struct {
	Consumer  string
	MessageID string
}

// IdempotencyRecord stores the first response to a command sent with an Idempotency-Key.
type IdempotencyRecord struct {
	Key         string
	RequestHash []byte
	Status      int
	Response    json.RawMessage
}

// UniqueValue is a value that at most one stream may hold, such as a product's SKU. Scope
// names the kind of value, "<aggregate>.<field>" (e.g. "product.sku"); Value is compared
// exactly, so the claimant normalises it first (trimmed, lower-cased, …). A claim is
// released only by a Write's Release (a forgotten customer's email).
type UniqueValue struct {
	Scope    string
	Value    string
	StreamID string
}

// Write is one atomic unit: appends to any number of distinct streams, plus optionally
// unique values claimed for them, an inbox entry (saga reactions) and an idempotency
// record (API commands). All of it commits in one transaction or none of it does. A Write
// with no appends may still record an inbox entry: a reaction that decided to do nothing
// must not be re-run either.
type Write struct {
	Appends     []StreamAppend
	Unique      []UniqueValue
	Inbox       *InboxEntry
	Idempotency *IdempotencyRecord
	// Inboxes are further inbox entries, for a group commit of several messages' reactions
	// in one transaction: any one already processed fails the whole write with
	// ErrAlreadyProcessed.
	Inboxes []InboxEntry
	// Release deletes the claims of each value's Scope held by its StreamID (Value is not
	// used); claims that do not exist are not an error.
	Release []UniqueValue
}

// Append appends events to one stream at expectedVersion and returns the stream's new
// version. See Write for the errors.
func (s *Store) Append(ctx context.Context, streamID, streamType string, expectedVersion int64, events ...EventData) (int64, error) {
	res, err := s.Write(ctx, Write{Appends: []StreamAppend{{streamID, streamType, expectedVersion, events}}})
	if err != nil {
		return 0, err
	}
	return res[streamID], nil
}

// Write commits w atomically and returns each stream's new version. Errors:
// ErrVersionConflict (a stream moved; nothing written), ErrAlreadyProcessed (inbox entry
// exists), ErrIdempotencyKeyExists, ErrInvalidWrite, or a wrapped database error.
//
// The whole write is one pipelined batch — one round trip — that Postgres runs as one
// implicit transaction: every check raises an error instead of returning a flag, so a failed
// check aborts everything after it. When the connection drops mid-write the outcome is
// unknown, as with any commit; retrying is safe because the retry meets a version conflict,
// the inbox entry or the idempotency key if the first attempt committed.
func (s *Store) Write(ctx context.Context, w Write) (versions map[string]int64, err error) {
	if err := w.validate(); err != nil {
		return nil, err
	}
	ctx, span, w := s.startWrite(ctx, w)
	defer func() { endSpan(span, err) }()
	return s.write(ctx, w)
}

// write is Write after validation, inside its span.
func (s *Store) write(ctx context.Context, w Write) (map[string]int64, error) {
	b, versions, err := w.batch()
	if err != nil {
		return nil, err
	}
	br := s.pool.SendBatch(ctx, b)
	err = readResults(br, b.Len())
	if cerr := br.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("eventstore: write: %w", classify(cerr))
	}
	if errors.Is(err, ErrValueTaken) {
		return nil, s.valueTaken(ctx, w.Unique, err)
	}
	if err != nil {
		return nil, err
	}
	if len(w.Appends) > 0 {
		s.wake()
	}
	return versions, nil
}

// valueTaken finds which of the unique values of a failed write another stream holds.
func (s *Store) valueTaken(ctx context.Context, values []UniqueValue, err error) error {
	for _, v := range values {
		var holder string
		switch qerr := s.pool.QueryRow(ctx, `SELECT stream_id FROM unique_values WHERE scope = $1 AND value = $2`,
			v.Scope, v.Value).Scan(&holder); {
		case errors.Is(qerr, pgx.ErrNoRows):
			continue
		case qerr != nil:
			return fmt.Errorf("%w (and reading which one failed: %w)", err, qerr)
		case holder == v.StreamID: // an earlier attempt of this very write committed
			return fmt.Errorf("%w: %s already holds %s %q", ErrVersionConflict, holder, v.Scope, v.Value)
		default:
			return &ValueTakenError{UniqueValue: v, HeldBy: holder}
		}
	}
	return &ValueTakenError{UniqueValue: values[0]} // not reached: claims are never released
}

func (w Write) validate() error {
	seen := map[string]bool{}
	var errs []error
	claimed := map[[2]string]bool{}
	for i, u := range w.Unique {
		key := [2]string{u.Scope, u.Value}
		switch {
		case u.Scope == "" || u.Value == "" || u.StreamID == "":
			errs = append(errs, fmt.Errorf("unique[%d]: scope, value and stream id are required", i))
		case claimed[key]:
			errs = append(errs, fmt.Errorf("unique[%d]: %s %q appears twice", i, u.Scope, u.Value))
		}
		claimed[key] = true
	}
	for i, r := range w.Release {
		if r.Scope == "" || r.StreamID == "" {
			errs = append(errs, fmt.Errorf("release[%d]: scope and stream id are required", i))
		}
	}
	for i, a := range w.Appends {
		switch {
		case a.StreamID == "" || a.StreamType == "":
			errs = append(errs, fmt.Errorf("appends[%d]: stream id and type are required", i))
		case seen[a.StreamID]:
			errs = append(errs, fmt.Errorf("appends[%d]: stream %s appears twice", i, a.StreamID))
		case a.ExpectedVersion < 0:
			errs = append(errs, fmt.Errorf("appends[%d]: negative expected version", i))
		case len(a.Events) == 0:
			errs = append(errs, fmt.Errorf("appends[%d]: no events", i))
		}
		seen[a.StreamID] = true
		for j, e := range a.Events {
			if e.Type == "" || !json.Valid(e.Payload) {
				errs = append(errs, fmt.Errorf("appends[%d].events[%d]: type and a JSON payload are required", i, j))
			}
			if len(e.Payload) > MaxPayloadBytes {
				return fmt.Errorf("%w: appends[%d].events[%d] (%s): payload of %d bytes, at most %d",
					ErrEventTooLarge, i, j, e.Type, len(e.Payload), MaxPayloadBytes)
			}
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w: %w", ErrInvalidWrite, errors.Join(errs...))
	}
	return nil
}

// batch queues every statement of w: the inbox, idempotency and unique value inserts (a
// duplicate raises a unique violation), then per stream the head check and the insert.
func (w Write) batch() (*pgx.Batch, map[string]int64, error) {
	b := &pgx.Batch{}
	if in := w.Inbox; in != nil {
		b.Queue(`INSERT INTO inbox (consumer, message_id) VALUES ($1, $2)`, in.Consumer, in.MessageID)
	}
	if len(w.Inboxes) > 0 {
		consumers, ids := make([]string, len(w.Inboxes)), make([]string, len(w.Inboxes))
		for i, in := range w.Inboxes {
			consumers[i], ids[i] = in.Consumer, in.MessageID
		}
		b.Queue(`INSERT INTO inbox (consumer, message_id) SELECT * FROM unnest($1::text[], $2::text[])`, consumers, ids)
	}
	if k := w.Idempotency; k != nil {
		b.Queue(`INSERT INTO idempotency_keys (key, request_hash, status, response) VALUES ($1, $2, $3, $4)`,
			k.Key, k.RequestHash, k.Status, string(k.Response))
	}
	for _, u := range w.Unique {
		b.Queue(`INSERT INTO unique_values (scope, value, stream_id) VALUES ($1, $2, $3)`, u.Scope, u.Value, u.StreamID)
	}
	for _, r := range w.Release {
		b.Queue(`DELETE FROM unique_values WHERE scope = $1 AND stream_id = $2`, r.Scope, r.StreamID)
	}
	versions := make(map[string]int64, len(w.Appends))
	for _, a := range w.Appends {
		if a.ExpectedVersion > 0 {
			b.Queue(checkHeadSQL, a.StreamID, a.ExpectedVersion)
		}
		if err := queueInsert(b, a); err != nil {
			return nil, nil, err
		}
		versions[a.StreamID] = a.ExpectedVersion + int64(len(a.Events))
	}
	return b, versions, nil
}

// checkHeadSQL verifies the stream's head before appending after it (shopflow_check_head,
// in the migration, raises SF409 otherwise). The head row must exist — else the caller
// expects a version the stream has not reached — and must have been written by an older
// transaction than this one. The second condition keeps transaction ids increasing along
// every stream, which is what lets the relay publish in (transaction_id, position) order
// without ever reordering a stream. It can only fail when this transaction took its id
// before the head committed (it wrote something before the stream was read); a retry in a
// new transaction passes.
const checkHeadSQL = `SELECT shopflow_check_head($1, $2)`

const insertSQL = `INSERT INTO events (stream_id, stream_type, version, event_id, event_type, schema_version, payload, metadata)
SELECT $1, $2, $3 + e.n, e.id, e.type, e.schema, e.payload, e.meta
FROM unnest($4::uuid[], $5::text[], $6::int[], $7::json[], $8::json[]) WITH ORDINALITY
     AS e(id, type, schema, payload, meta, n)
ORDER BY e.n`

func queueInsert(b *pgx.Batch, a StreamAppend) error {
	n := len(a.Events)
	ids, types, schemas := make([]string, n), make([]string, n), make([]int32, n)
	payloads, metas := make([]string, n), make([]string, n)
	for i, e := range a.Events {
		id := e.ID
		if id == uuid.Nil {
			var err error
			if id, err = uuid.NewV7(); err != nil {
				return fmt.Errorf("eventstore: event id: %w", err)
			}
		}
		meta, err := json.Marshal(e.Metadata)
		if err != nil {
			return fmt.Errorf("eventstore: metadata: %w", err)
		}
		ids[i], types[i], schemas[i] = id.String(), e.Type, int32(max(e.SchemaVersion, 1))
		payloads[i], metas[i] = string(e.Payload), string(meta)
	}
	b.Queue(insertSQL, a.StreamID, a.StreamType, a.ExpectedVersion, ids, types, schemas, payloads, metas)
	return nil
}

func readResults(br pgx.BatchResults, n int) error {
	for range n {
		if _, err := br.Exec(); err != nil {
			return classify(err)
		}
	}
	return nil
}

// classify turns the database errors that have a meaning for callers into sentinels.
func classify(err error) error {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		return fmt.Errorf("eventstore: write: %w", err)
	}
	switch {
	case pgErr.Code == "SF409":
		return fmt.Errorf("%w: %s", ErrVersionConflict, pgErr.Message)
	case pgErr.Code == pgerrcode.UniqueViolation && pgErr.ConstraintName == "events_stream_version":
		return fmt.Errorf("%w: %s", ErrVersionConflict, pgErr.Detail)
	case pgErr.Code == pgerrcode.UniqueViolation && pgErr.ConstraintName == "inbox_pkey":
		return ErrAlreadyProcessed
	case pgErr.Code == pgerrcode.UniqueViolation && pgErr.ConstraintName == "idempotency_keys_pkey":
		return ErrIdempotencyKeyExists
	case pgErr.Code == pgerrcode.UniqueViolation && pgErr.ConstraintName == "unique_values_pkey":
		return fmt.Errorf("%w: %s", ErrValueTaken, pgErr.Detail)
	}
	return fmt.Errorf("eventstore: write: %w", err)
}

// wake asks the notifier to NOTIFY the relay. Appends never wait for it.
func (s *Store) wake() {
	select {
	case s.notify <- struct{}{}:
	default: // a notification is already pending; it covers this append too
	}
}

// notifier sends NOTIFY outside the appending transactions. A NOTIFY inside a transaction
// takes a cluster-wide lock held through the commit's WAL flush, which serialises all
// notifying commits and defeats group commit; sent after the commit, it costs one cheap
// round trip, coalesced across concurrent appends. A lost notification (crash between
// commit and NOTIFY) only delays the relay until its fallback poll.
func (s *Store) notifier() {
	defer close(s.closed)
	for {
		select {
		case <-s.notify:
		case <-s.done:
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_, _ = s.pool.Exec(ctx, `SELECT pg_notify($1, '')`, NotifyChannel)
		cancel()
	}
}
