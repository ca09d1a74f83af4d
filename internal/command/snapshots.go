package command

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	lru "github.com/hashicorp/golang-lru/v2"

	"github.com/shopflow/shopflow/eventstore"
)

// Snapshots.
//
// A snapshot is the state of an aggregate at one version of its stream, encoded by its
// type's SnapshotCodec and stored in the service's database (eventstore.Snapshot, one per
// stream, the newest). A Repository loads an aggregate it does not keep from its snapshot
// and the events after it; a snapshot of another schema version than the codec's, one
// that does not restore, or one whose tail does not apply is ignored, and the whole stream
// is read as before.
//
// When snapshots are taken: whenever the repository holds an aggregate state it knows to
// be stored that is Config.SnapshotEvery events or more past the newest snapshot it knows
// of — after a load from the store (snapshot and tail, or the whole stream), and after
// Create and Update committed — and, for a kept aggregate, when Load finds it that far
// past, by loading it afresh from the store (snapshot and tail) and snapshotting that. So a
// snapshot is only ever encoded from events read back from the store or from the changes of
// a command that has just committed, never from a state a caller may still fail to store,
// and the tail a cold load reads stays about SnapshotEvery events at most.
//
// A snapshot is written after the command's commit, in its own statement, not inside the
// command's transaction: it describes events already committed, which never change, so it
// needs no atomicity with them, and the hottest streams' transactions (the ones a snapshot
// is due on most often) stay as short as they are. A snapshot write that fails costs
// nothing but the snapshot: the command has committed, and the next load past the
// interval tries again. The store refuses a snapshot older than the one it holds, and one
// of a version its stream does not have; one it cannot use (another schema version, a
// state that does not restore) is replaced by the next one taken, which a replay of a
// stream SnapshotEvery events long or more takes at once.

// SnapshotStore is what a Repository needs to keep snapshots; *eventstore.Store implements
// it. A Repository uses snapshots only if its EventStore also implements SnapshotStore.
type SnapshotStore interface {
	// LoadSnapshot returns a stream's snapshot, and false if it has none.
	LoadSnapshot(ctx context.Context, streamID string) (eventstore.Snapshot, bool, error)
	// SaveSnapshot stores a snapshot unless the stored one is as new or newer, and reports
	// whether it did.
	SaveSnapshot(ctx context.Context, snap eventstore.Snapshot) (bool, error)
}

// SnapshotCodec is how an aggregate type's state is snapshotted (AggregateType.Snapshot).
type SnapshotCodec[A Aggregate] struct {
	// SchemaVersion names Encode's format; snapshots of any other version are ignored. Raise
	// it whenever the format or what the state means changes.
	SchemaVersion int
	// Encode encodes a committed aggregate's state.
	Encode func(A) ([]byte, error)
	// Restore rebuilds aggregate id at stream version version from an encoded state.
	Restore func(id string, version int64, state []byte) (A, error)
}

// validate checks a codec (nil: none) of a type that has an Advance function or not.
func (c *SnapshotCodec[A]) validate(advances bool) error {
	if c == nil {
		return nil
	}
	if c.Encode == nil || c.Restore == nil || !advances {
		return errors.New("command: a Snapshot codec needs Encode, Restore and the type's Advance")
	}
	return nil
}

// snapshots is a repository's snapshot bookkeeping. The zero value takes and reads none.
type snapshots struct {
	store SnapshotStore
	every int64
	// at maps an aggregate id to the version of the newest snapshot of its stream the
	// repository knows of (read, taken or found due but not yet storable).
	at *lru.Cache[string, int64]
}

// newSnapshots returns the bookkeeping of a repository whose type has a codec or not.
func newSnapshots(store EventStore, codec bool, cfg Config) (snapshots, error) {
	ss, ok := store.(SnapshotStore)
	if !codec || !ok || cfg.SnapshotEvery < 0 {
		return snapshots{}, nil
	}
	size := cfg.CacheSize
	if size <= 0 {
		size = DefaultCacheSize
	}
	at, err := lru.New[string, int64](size)
	if err != nil {
		return snapshots{}, err
	}
	return snapshots{store: ss, every: int64(cfg.SnapshotEvery), at: at}, nil
}

// enabled reports whether the repository reads and takes snapshots.
func (s snapshots) enabled() bool { return s.store != nil }

// loadFresh rehydrates aggregate id from the store: from its snapshot and the events after
// it when it has a usable one, else from its whole stream. It returns the version of the
// snapshot it started from (0: none).
func (r *Repository[A]) loadFresh(ctx context.Context, id string) (A, int64, error) {
	if r.snaps.enabled() {
		streamID := StreamID(r.typ.Name, id)
		snap, ok, err := r.snaps.store.LoadSnapshot(ctx, streamID)
		if err != nil {
			var zero A
			return zero, 0, fmt.Errorf("load %s: %w", streamID, err)
		}
		if ok {
			a, usable, err := r.fromSnapshot(ctx, id, snap)
			if err != nil || usable {
				return a, snap.Version, err
			}
		}
	}
	a, err := r.loadAll(ctx, id)
	return a, 0, err
}

// fromSnapshot restores aggregate id from snap and applies the events after it. It reports
// false, with no error, for a snapshot it cannot use: of another schema version or stream
// type, or one that does not restore to id at its version or on which the tail does not
// apply. Errors are the store's.
func (r *Repository[A]) fromSnapshot(ctx context.Context, id string, snap eventstore.Snapshot) (A, bool, error) {
	var zero A
	if snap.SchemaVersion != r.typ.Snapshot.SchemaVersion || snap.StreamType != r.typ.Name {
		return zero, false, nil
	}
	a, err := r.typ.Snapshot.Restore(id, snap.Version, snap.State)
	if err != nil || a.ID() != id || a.Version() != snap.Version {
		return zero, false, nil
	}
	tail, err := r.history(ctx, snap.StreamID, snap.Version)
	if err != nil {
		return zero, false, err
	}
	if len(tail) > 0 && r.typ.Advance(a, tail) != nil {
		return zero, false, nil
	}
	return a, true, nil
}

// snapshotIfDue snapshots a, just loaded from the store on top of the snapshot at version
// from (0: none), if it is SnapshotEvery events or more past it.
func (r *Repository[A]) snapshotIfDue(ctx context.Context, a A, from int64) {
	if !r.snaps.enabled() {
		return
	}
	if a.Version()-from >= r.snaps.every {
		r.takeSnapshot(ctx, a)
		from = a.Version()
	}
	r.snaps.at.Add(a.ID(), from)
}

// snapshotStored snapshots a, whose changes a command has just committed, if it is
// SnapshotEvery events or more past the newest snapshot known.
func (r *Repository[A]) snapshotStored(ctx context.Context, a A) {
	if !r.snaps.enabled() {
		return
	}
	if from, _ := r.snaps.at.Get(a.ID()); a.Version()-from >= r.snaps.every {
		r.takeSnapshot(ctx, a)
		r.snaps.at.Add(a.ID(), a.Version())
	}
}

// refreshSnapshot takes a snapshot for the kept aggregate a if it is SnapshotEvery events or
// more past the newest snapshot known: from the aggregate loaded afresh from the store, not
// from a, whose state the repository did not read back.
func (r *Repository[A]) refreshSnapshot(ctx context.Context, a A) {
	if !r.snaps.enabled() {
		return
	}
	if from, _ := r.snaps.at.Get(a.ID()); a.Version()-from < r.snaps.every {
		return
	}
	fresh, from, err := r.loadFresh(ctx, a.ID())
	if err != nil {
		return // the next load past the interval tries again
	}
	r.snapshotIfDue(ctx, fresh, from)
	if from, _ := r.snaps.at.Get(a.ID()); a.Version()-from >= r.snaps.every {
		// The store is behind the kept copy (its changes are not stored yet): try again
		// an interval later rather than at every load.
		r.snaps.at.Add(a.ID(), a.Version())
	}
}

// takeSnapshot encodes and stores a snapshot of a. A failure costs only the snapshot (the
// next load past the interval tries again), so it fails nothing, but it is logged: loads
// that keep replaying long streams must be explicable.
func (r *Repository[A]) takeSnapshot(ctx context.Context, a A) {
	streamID := StreamID(r.typ.Name, a.ID())
	state, err := r.typ.Snapshot.Encode(a)
	if err == nil {
		_, err = r.snaps.store.SaveSnapshot(ctx, eventstore.Snapshot{
			StreamID: streamID, StreamType: r.typ.Name, Version: a.Version(),
			SchemaVersion: r.typ.Snapshot.SchemaVersion, State: state,
		})
	}
	if err != nil && ctx.Err() == nil {
		slog.Warn("snapshot not taken", "stream", streamID, "version", a.Version(), "err", err)
	}
}
