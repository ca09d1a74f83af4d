package eventstore

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// Read-only queries for operators (the console and the admin API): pages of a stream, the
// streams of a type, the relay's position and the saga state. Every one is an index scan
// bounded by its limit, so a stream of any length is read a page at a time.

// LoadRange returns at most limit events of a stream with afterVersion < version <=
// toVersion, in version order. A stream that does not exist yields no events and no error.
func (s *Store) LoadRange(ctx context.Context, streamID string, afterVersion, toVersion int64, limit int) ([]RecordedEvent, error) {
	rows, err := s.pool.Query(ctx, selectEvents+` WHERE stream_id = $1 AND version > $2 AND version <= $3
		ORDER BY version LIMIT $4`, streamID, afterVersion, toVersion, limit)
	if err != nil {
		return nil, fmt.Errorf("eventstore: load %s: %w", streamID, err)
	}
	evs, err := collect(rows)
	if err != nil {
		return nil, fmt.Errorf("eventstore: load %s: %w", streamID, err)
	}
	return evs, nil
}

// StreamHead describes a stream: its type, its last version and the times of its first and
// last events.
type StreamHead struct {
	StreamID   string
	StreamType string
	Version    int64
	First      time.Time
	Last       time.Time
	// LastType is the type of the newest event.
	LastType string
}

// Head returns a stream's head, or ErrNotFound for a stream without events.
func (s *Store) Head(ctx context.Context, streamID string) (StreamHead, error) {
	h := StreamHead{StreamID: streamID}
	err := s.pool.QueryRow(ctx, `SELECT l.stream_type, l.version, f.recorded_at, l.recorded_at, l.event_type
		FROM (SELECT stream_type, version, recorded_at, event_type FROM events WHERE stream_id = $1 ORDER BY version DESC LIMIT 1) l,
		     (SELECT recorded_at FROM events WHERE stream_id = $1 AND version = 1) f`, streamID).
		Scan(&h.StreamType, &h.Version, &h.First, &h.Last, &h.LastType)
	if errors.Is(err, pgx.ErrNoRows) {
		return h, ErrNotFound
	}
	if err != nil {
		return h, fmt.Errorf("eventstore: head of %s: %w", streamID, err)
	}
	return h, nil
}

// VersionAt returns the version a stream had at time at: that of its last event recorded
// at or before it (0: the stream did not exist yet).
func (s *Store) VersionAt(ctx context.Context, streamID string, at time.Time) (int64, error) {
	var v int64
	err := s.pool.QueryRow(ctx, `SELECT coalesce(max(version), 0) FROM events WHERE stream_id = $1 AND recorded_at <= $2`,
		streamID, at).Scan(&v)
	if err != nil {
		return 0, fmt.Errorf("eventstore: version of %s at %s: %w", streamID, at, err)
	}
	return v, nil
}

// Streams returns at most limit streams of a stream type, newest id first (ids are
// UUIDv7, so that is creation order), starting after the stream id before ("": from the
// newest). Stream ids are "<type>-<id>"; the query walks the (stream_id, version) index
// over that prefix.
func (s *Store) Streams(ctx context.Context, streamType, before string, limit int) ([]StreamHead, error) {
	prefix := streamType + "-"
	if before == "" {
		before = streamType + "."
	}
	rows, err := s.pool.Query(ctx, `SELECT f.stream_id, f.stream_type, h.version, f.recorded_at, h.recorded_at, h.event_type
		FROM (SELECT stream_id, stream_type, recorded_at FROM events
		      WHERE stream_id >= $1 AND stream_id < $2 AND version = 1 AND starts_with(stream_id, $1) AND stream_type = $3
		      ORDER BY stream_id DESC LIMIT $4) f,
		LATERAL (SELECT version, recorded_at, event_type FROM events e WHERE e.stream_id = f.stream_id ORDER BY version DESC LIMIT 1) h
		ORDER BY f.stream_id DESC`, prefix, before, streamType, limit)
	if err != nil {
		return nil, fmt.Errorf("eventstore: streams of %s: %w", streamType, err)
	}
	heads, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (StreamHead, error) {
		var h StreamHead
		return h, r.Scan(&h.StreamID, &h.StreamType, &h.Version, &h.First, &h.Last, &h.LastType)
	})
	if err != nil {
		return nil, fmt.Errorf("eventstore: streams of %s: %w", streamType, err)
	}
	return heads, nil
}

// TransactionEvents returns the events written in the same transactions as the given
// streams' events, in log order, those streams' own events included: what a command or a
// saga reaction wrote alongside them (a product's StockReserved next to an order's
// reservation). A group commit writes several orders' reactions in one transaction, so
// callers filter by payload.
func (s *Store) TransactionEvents(ctx context.Context, streamIDs []string) ([]RecordedEvent, error) {
	rows, err := s.pool.Query(ctx, selectEvents+` WHERE transaction_id IN
		(SELECT transaction_id FROM events WHERE stream_id = ANY($1)) ORDER BY transaction_id, position`, streamIDs)
	if err != nil {
		return nil, fmt.Errorf("eventstore: transactions of %s: %w", strings.Join(streamIDs, ", "), err)
	}
	evs, err := collect(rows)
	if err != nil {
		return nil, fmt.Errorf("eventstore: transactions of %s: %w", strings.Join(streamIDs, ", "), err)
	}
	return evs, nil
}

// RelayPosition is where a relay stands in its database's log.
type RelayPosition struct {
	// Cursor is the last event Kafka acknowledged; UpdatedAt when the cursor last moved.
	Cursor    Cursor
	UpdatedAt time.Time
	// Head is the newest event's position (0: no events); Behind counts the events after
	// the cursor, at most what the query counts (see RelayStatus).
	Head   int64
	Behind int64
	// Oldest is the time of the oldest event not yet published (zero: none).
	Oldest time.Time
	// Active reports that some instance holds the relay's lock (LockHeld).
	Active bool
}

// maxBehindCount bounds the events RelayStatus counts behind a cursor.
const maxBehindCount = 100_000

// RelayStatus returns the position of the relay named name (RelayConfig.Name) and whether
// an instance holds its lock. Behind is counted up to 100,000.
func (s *Store) RelayStatus(ctx context.Context, name string) (RelayPosition, error) {
	var p RelayPosition
	err := s.pool.QueryRow(ctx, `SELECT transaction_id::text::bigint, position, updated_at FROM relay_cursors WHERE name = $1`, name).
		Scan(&p.Cursor.TransactionID, &p.Cursor.Position, &p.UpdatedAt)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return p, fmt.Errorf("eventstore: relay cursor %s: %w", name, err)
	}
	var oldest *time.Time
	err = s.pool.QueryRow(ctx, `SELECT coalesce((SELECT max(position) FROM events), 0),
		(SELECT count(*) FROM (SELECT 1 FROM events WHERE (transaction_id, position) > ($1::text::xid8, $2) LIMIT $3) b),
		(SELECT recorded_at FROM events WHERE (transaction_id, position) > ($1::text::xid8, $2) ORDER BY transaction_id, position LIMIT 1),
		EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
		        AND classid = (($4::bigint >> 32) & 4294967295)::oid AND objid = ($4::bigint & 4294967295)::oid AND objsubid = 1)`,
		p.Cursor.xid(), p.Cursor.Position, maxBehindCount, RelayLockKey(name)).Scan(&p.Head, &p.Behind, &oldest, &p.Active)
	if err != nil {
		return p, fmt.Errorf("eventstore: relay position %s: %w", name, err)
	}
	if oldest != nil {
		p.Oldest = *oldest
	}
	return p, nil
}

// PendingOrders counts the orders waiting to be settled (the deadline scanner's table) and
// returns when the oldest of them was placed (zero: none).
func (s *Store) PendingOrders(ctx context.Context) (int64, time.Time, error) {
	var n int64
	var oldest *time.Time
	if err := s.pool.QueryRow(ctx, `SELECT count(*), min(placed_at) FROM pending_orders`).Scan(&n, &oldest); err != nil {
		return 0, time.Time{}, fmt.Errorf("eventstore: pending orders: %w", err)
	}
	if oldest == nil {
		return n, time.Time{}, nil
	}
	return n, *oldest, nil
}

// Processed reports whether the inbox records message id as processed by consumer.
func (s *Store) Processed(ctx context.Context, consumer string, ids ...string) (map[string]bool, error) {
	rows, err := s.pool.Query(ctx, `SELECT message_id FROM inbox WHERE consumer = $1 AND message_id = ANY($2)`, consumer, ids)
	if err != nil {
		return nil, fmt.Errorf("eventstore: inbox of %s: %w", consumer, err)
	}
	found, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("eventstore: inbox of %s: %w", consumer, err)
	}
	out := make(map[string]bool, len(found))
	for _, id := range found {
		out[id] = true
	}
	return out, nil
}
