package eventstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Snapshot is the state of a stream's aggregate at one version of the stream, stored so
// that a load reads it and the events after it instead of the whole stream. The store
// keeps the newest one per stream and never interprets State: the aggregate type encodes
// it, under a schema version of its choosing, and ignores a snapshot of another schema
// version. Snapshots are derived data; deleting them is always safe.
type Snapshot struct {
	StreamID      string
	StreamType    string
	Version       int64
	SchemaVersion int
	State         []byte
	// TakenAt is set by the store.
	TakenAt time.Time
}

// LoadSnapshot returns the stored snapshot of a stream, and false (no error) if it has none.
func (s *Store) LoadSnapshot(ctx context.Context, streamID string) (Snapshot, bool, error) {
	snap := Snapshot{StreamID: streamID}
	err := s.pool.QueryRow(ctx,
		`SELECT stream_type, version, schema_version, state, taken_at FROM snapshots WHERE stream_id = $1`, streamID).
		Scan(&snap.StreamType, &snap.Version, &snap.SchemaVersion, &snap.State, &snap.TakenAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return Snapshot{}, false, nil
	}
	if err != nil {
		return Snapshot{}, false, fmt.Errorf("eventstore: load snapshot of %s: %w", streamID, err)
	}
	return snap, true, nil
}

// saveSnapshotSQL stores a snapshot over the stream's previous one unless that one is newer
// and of the same schema version (the writer's schema wins: readers ignore the others; a
// snapshot of the same version is rewritten, so a reader that could not use the stored one
// replaces it), and only if the stream has the event of that version: a snapshot is never
// ahead of its stream.
const saveSnapshotSQL = `INSERT INTO snapshots (stream_id, stream_type, version, schema_version, state)
SELECT $1, $2, $3, $4, $5
WHERE EXISTS (SELECT 1 FROM events WHERE stream_id = $1 AND version = $3)
ON CONFLICT (stream_id) DO UPDATE SET
    stream_type = EXCLUDED.stream_type, version = EXCLUDED.version,
    schema_version = EXCLUDED.schema_version, state = EXCLUDED.state, taken_at = EXCLUDED.taken_at
WHERE snapshots.version <= EXCLUDED.version OR snapshots.schema_version <> EXCLUDED.schema_version`

// SaveSnapshot stores snap as its stream's snapshot and reports whether it did: not when the
// stored one is newer (and of the same schema version), nor when the stream has no event at
// snap.Version. It is its own short transaction, outside any append: a snapshot
// describes events already committed, which never change. Errors: ErrInvalidWrite for an
// empty stream id or type, a version below 1 or no state; database errors, wrapped.
func (s *Store) SaveSnapshot(ctx context.Context, snap Snapshot) (bool, error) {
	if snap.StreamID == "" || snap.StreamType == "" || snap.Version < 1 || len(snap.State) == 0 {
		return false, fmt.Errorf("%w: snapshot of %q at version %d", ErrInvalidWrite, snap.StreamID, snap.Version)
	}
	tag, err := s.pool.Exec(ctx, saveSnapshotSQL, snap.StreamID, snap.StreamType, snap.Version, snap.SchemaVersion, snap.State)
	if err != nil {
		return false, fmt.Errorf("eventstore: save snapshot of %s at version %d: %w", snap.StreamID, snap.Version, err)
	}
	return tag.RowsAffected() == 1, nil
}
