package domain

import (
	"errors"
	"fmt"
)

// ErrInvalidHistory is returned (wrapped) when a stream's history cannot
// describe an aggregate: it does not start with the creation event, repeats
// it, or belongs to another aggregate. It indicates corrupt storage or a
// wiring bug, never a user mistake.
var ErrInvalidHistory = errors.New("invalid event history")

// Root is the bookkeeping every aggregate needs: its identity, the version of
// its stream and the events recorded since it was loaded.
//
// Aggregates hold a Root in a named, unexported field (not embedded), so that
// [Root.Record] and [Root.SetID] are not promoted to their public API, and
// forward ID, Version, Changes and MarkCommitted explicitly.
//
// Versions count events in the stream: 0 is a stream with no events, the
// first event has version 1. The zero value is a new, empty root.
type Root struct {
	id      string
	version int64
	changes []Event
}

// ID returns the aggregate's identifier ("" until its creation event is applied).
func (r *Root) ID() string { return r.id }

// SetID sets the identifier; aggregates call it when applying their creation event.
func (r *Root) SetID(id string) { r.id = id }

// Version returns the version of the last applied event, recorded changes
// included: 0 for a new stream. After a successful append this is the
// stream's version, the one command responses report.
func (r *Root) Version() int64 { return r.version }

// CommittedVersion returns the version the aggregate was loaded at (Version
// minus the uncommitted changes): the expected version for an optimistic
// concurrency append of [Root.Changes].
func (r *Root) CommittedVersion() int64 { return r.version - int64(len(r.changes)) }

// Changes returns the events recorded since loading or the last
// [Root.MarkCommitted], oldest first. The slice is a copy; the events must
// not be modified.
func (r *Root) Changes() []Event {
	out := make([]Event, len(r.changes))
	copy(out, r.changes)
	return out
}

// MarkCommitted forgets the recorded changes once they have been appended;
// Version is unchanged.
func (r *Root) MarkCommitted() { r.changes = nil }

// Load applies history in order through apply and counts each event, for
// rehydrating an aggregate. It stops at the first error apply returns,
// wrapped with the event's version and type.
func (r *Root) Load(history []Event, apply func(Event) error) error {
	for _, e := range history {
		if err := apply(e); err != nil {
			return fmt.Errorf("apply event %d (%s): %w", r.version+1, e.EventType(), err)
		}
		r.version++
	}
	return nil
}

// Restore sets the identifier and the version of an aggregate rebuilt from a snapshot of
// its state at that version instead of from its events: the aggregate's own Restore
// function sets its state, then calls it. The root must be new (no id, version or changes),
// and version must be at least 1; it panics otherwise, as a wiring mistake.
func (r *Root) Restore(id string, version int64) {
	if r.id != "" || r.version != 0 || len(r.changes) > 0 || id == "" || version < 1 {
		panic(fmt.Sprintf("domain: restore %q at version %d onto a used root", id, version))
	}
	r.id, r.version = id, version
}

// Record applies a new event through apply and keeps it as an uncommitted
// change. Command methods call it after their checks have passed. It panics
// if apply fails: an aggregate recording an event it cannot apply is a
// programming error, caught by the package's tests.
func (r *Root) Record(e Event, apply func(Event) error) {
	if err := apply(e); err != nil {
		panic(fmt.Sprintf("domain: record %s: %v", e.EventType(), err))
	}
	r.version++
	r.changes = append(r.changes, e)
}
