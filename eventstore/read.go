package eventstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/jackc/pgx/v5"
)

const selectEvents = `SELECT position, transaction_id::text::bigint AS txid, stream_id, stream_type, version, event_id,
	event_type, schema_version, payload, metadata, recorded_at FROM events`

// Load returns the events of a stream after version afterVersion (0: from the start), in
// version order. A stream that does not exist yields no events and no error.
func (s *Store) Load(ctx context.Context, streamID string, afterVersion int64) ([]RecordedEvent, error) {
	rows, err := s.pool.Query(ctx, selectEvents+` WHERE stream_id = $1 AND version > $2 ORDER BY version`,
		streamID, afterVersion)
	if err != nil {
		return nil, fmt.Errorf("eventstore: load %s: %w", streamID, err)
	}
	evs, err := collect(rows)
	if err != nil {
		return nil, fmt.Errorf("eventstore: load %s: %w", streamID, err)
	}
	return evs, nil
}

// Cursor is a position in the log order (transaction_id, position). The zero Cursor is the
// start of the log.
type Cursor struct {
	TransactionID uint64
	Position      int64
}

// xid renders the transaction id for a `::text::xid8` parameter (pgx has no uint64 → xid8).
func (c Cursor) xid() string { return strconv.FormatUint(c.TransactionID, 10) }

// After reports whether e comes after c in the log order.
func (c Cursor) After(e RecordedEvent) bool {
	return e.TransactionID > c.TransactionID || (e.TransactionID == c.TransactionID && e.Position > c.Position)
}

// CursorOf is the cursor just at e: reading from it continues after e.
func CursorOf(e RecordedEvent) Cursor { return Cursor{e.TransactionID, e.Position} }

// readAllSQL reads the log after a cursor, only as far as is final: events of transactions
// older than the oldest transaction still running (pg_snapshot_xmin) can no longer be joined
// by an earlier, still uncommitted event, so nothing read past is ever skipped. Positions
// alone would skip: a transaction that took position 10 may commit after one that took 11.
const readAllSQL = selectEvents + `
WHERE (transaction_id, position) > ($1::text::xid8, $2)
  AND transaction_id < pg_snapshot_xmin(pg_current_snapshot())
ORDER BY transaction_id, position
LIMIT $3`

// ReadAll returns up to limit events after the cursor in log order, and the cursor to
// continue from. Every event of the database is returned exactly once across successive
// calls, whatever order the writing transactions committed in. An empty result means
// nothing is final yet after the cursor.
func (s *Store) ReadAll(ctx context.Context, after Cursor, limit int) ([]RecordedEvent, Cursor, error) {
	return readAll(ctx, s.pool, after, limit)
}

type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

func readAll(ctx context.Context, q querier, after Cursor, limit int) ([]RecordedEvent, Cursor, error) {
	rows, err := q.Query(ctx, readAllSQL, after.xid(), after.Position, limit)
	if err != nil {
		return nil, after, fmt.Errorf("eventstore: read all: %w", err)
	}
	evs, err := collect(rows)
	if err != nil {
		return nil, after, fmt.Errorf("eventstore: read all: %w", err)
	}
	if len(evs) > 0 {
		after = CursorOf(evs[len(evs)-1])
	}
	return evs, after, nil
}

func collect(rows pgx.Rows) ([]RecordedEvent, error) {
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (RecordedEvent, error) {
		var e RecordedEvent
		var meta []byte
		err := r.Scan(&e.Position, &e.TransactionID, &e.StreamID, &e.StreamType, &e.Version, &e.ID,
			&e.Type, &e.SchemaVersion, &e.Payload, &meta, &e.RecordedAt)
		if err == nil {
			err = json.Unmarshal(meta, &e.Metadata)
		}
		return e, err
	})
}

// Idempotency returns the record stored for an Idempotency-Key, or ErrNotFound.
func (s *Store) Idempotency(ctx context.Context, key string) (IdempotencyRecord, error) {
	rec := IdempotencyRecord{Key: key}
	err := s.pool.QueryRow(ctx, `SELECT request_hash, status, response FROM idempotency_keys WHERE key = $1`, key).
		Scan(&rec.RequestHash, &rec.Status, &rec.Response)
	if errors.Is(err, pgx.ErrNoRows) {
		return rec, ErrNotFound
	}
	if err != nil {
		return rec, fmt.Errorf("eventstore: idempotency key: %w", err)
	}
	return rec, nil
}
