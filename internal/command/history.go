package command

import (
	"context"
	"errors"
	"fmt"
	"math"

	"github.com/shopflow/shopflow/domain"
	"github.com/shopflow/shopflow/eventstore"
)

// Time travel: an aggregate as it was at one version of its stream, folded by the domain's
// own Load, Restore and Advance functions, exactly as a command would load it.

// RangeLoader is what LoadAt needs to read a stream a page at a time; *eventstore.Store
// implements it. A store without it is read with Load and cut at the version.
type RangeLoader interface {
	LoadRange(ctx context.Context, streamID string, afterVersion, toVersion int64, limit int) ([]eventstore.RecordedEvent, error)
}

// FoldPage is how many events LoadAt reads and applies at a time, for types that can
// advance (AggregateType.Advance): a stream of any length is folded in bounded memory.
const FoldPage = 1000

// Fold describes how LoadAt rebuilt an aggregate.
type Fold struct {
	// Snapshot is the version of the snapshot the fold started from (0: none, the stream
	// was replayed from its first event).
	Snapshot int64
	// Applied counts the events applied on top of it.
	Applied int64
}

// LoadAt rehydrates aggregate id as it was at stream version version (math.MaxInt64: its
// newest), reading only: it takes nothing from and gives nothing to the kept aggregates and
// takes no snapshot. It starts from the stream's snapshot when that is at or before version
// and usable (see snapshots.go), else from the first event, and applies the events up to
// version FoldPage at a time for types with Advance. Errors: *NotFoundError if the stream
// has no event (or is shorter than version: the aggregate's version then tells), store and
// decode errors.
func (r *Repository[A]) LoadAt(ctx context.Context, id string, version int64) (A, Fold, error) {
	var zero A
	if r.snaps.enabled() {
		a, fold, ok, err := r.fromSnapshotAt(ctx, id, version)
		if err != nil || ok {
			return a, fold, err
		}
	}
	streamID := StreamID(r.typ.Name, id)
	if r.typ.Advance == nil { // short streams (orders, per-order streams): one load
		history, err := r.historyRange(ctx, streamID, 0, version, math.MaxInt32)
		if err != nil {
			return zero, Fold{}, err
		}
		a, err := r.typ.Load(id, history)
		return a, Fold{Applied: int64(len(history))}, r.checkLoaded(a, err, id)
	}
	first, err := r.historyRange(ctx, streamID, 0, version, FoldPage)
	if err != nil {
		return zero, Fold{}, err
	}
	a, err := r.typ.Load(id, first)
	if err = r.checkLoaded(a, err, id); err != nil {
		return zero, Fold{}, err
	}
	fold, err := r.advanceTo(ctx, a, version, Fold{Applied: int64(len(first))})
	return a, fold, err
}

// checkLoaded turns an empty stream into a *NotFoundError.
func (r *Repository[A]) checkLoaded(a A, err error, id string) error {
	if errors.Is(err, domain.ErrNotFound) {
		return &NotFoundError{Type: r.typ.Name, ID: id}
	}
	if err != nil {
		return err
	}
	if a.Version() == 0 {
		return &NotFoundError{Type: r.typ.Name, ID: id}
	}
	return nil
}

// fromSnapshotAt restores aggregate id from its snapshot if it is at or before version and
// usable, then advances it to version. ok is false when there is no such snapshot.
func (r *Repository[A]) fromSnapshotAt(ctx context.Context, id string, version int64) (A, Fold, bool, error) {
	var zero A
	snap, found, err := r.snaps.store.LoadSnapshot(ctx, StreamID(r.typ.Name, id))
	if err != nil || !found || snap.Version > version ||
		snap.SchemaVersion != r.typ.Snapshot.SchemaVersion || snap.StreamType != r.typ.Name {
		return zero, Fold{}, false, err
	}
	a, err := r.typ.Snapshot.Restore(id, snap.Version, snap.State)
	if err != nil || a.ID() != id || a.Version() != snap.Version {
		return zero, Fold{}, false, nil // unusable: replay instead
	}
	fold, err := r.advanceTo(ctx, a, version, Fold{Snapshot: snap.Version})
	return a, fold, err == nil, err
}

// advanceTo applies the events after a's version up to version, a page at a time.
func (r *Repository[A]) advanceTo(ctx context.Context, a A, version int64, fold Fold) (Fold, error) {
	streamID := StreamID(r.typ.Name, a.ID())
	for a.Version() < version {
		page, err := r.historyRange(ctx, streamID, a.Version(), version, FoldPage)
		if err != nil || len(page) == 0 {
			return fold, err
		}
		if err := r.typ.Advance(a, page); err != nil {
			return fold, fmt.Errorf("fold %s at version %d: %w", streamID, a.Version(), err)
		}
		fold.Applied += int64(len(page))
	}
	return fold, nil
}

// historyRange reads and decodes at most limit events of streamID with after < version <=
// to.
func (r *Repository[A]) historyRange(ctx context.Context, streamID string, after, to int64, limit int) ([]domain.Event, error) {
	var records []eventstore.RecordedEvent
	var err error
	if rl, ok := r.store.(RangeLoader); ok {
		records, err = rl.LoadRange(ctx, streamID, after, to, limit)
	} else {
		records, err = r.store.Load(ctx, streamID, after)
		records = cut(records, to, limit)
	}
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", streamID, err)
	}
	return r.decode(streamID, records)
}

// cut keeps the events up to version to, at most limit of them.
func cut(records []eventstore.RecordedEvent, to int64, limit int) []eventstore.RecordedEvent {
	n := 0
	for n < len(records) && n < limit && records[n].Version <= to {
		n++
	}
	return records[:n]
}
