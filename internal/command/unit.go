package command

import (
	"cmp"
	"context"
	"fmt"
	"slices"

	"github.com/shopflow/shopflow/eventstore"
)

// Unit is one atomic write, the only way this package and the saga reactions write: the
// appends of a command or of several decisions (several appends to one stream are merged
// into one, which requires each to start where the one before ended), the inbox entries
// of the messages that caused them, an idempotency record and unique claims. A command
// handler writes a Unit per command; a saga group commit adds the Units of a lane's
// decisions into one (Include) and writes that. The zero value is an empty unit. Not safe
// for concurrent use.
type Unit struct {
	appends     []eventstore.StreamAppend
	inboxes     []InboxEntry
	unique      []eventstore.UniqueValue
	release     []eventstore.UniqueValue
	idempotency *IdempotencyRecord
}

// Append adds appends; those without events are left out.
func (u *Unit) Append(appends ...eventstore.StreamAppend) {
	for _, a := range appends {
		if len(a.Events) > 0 {
			u.appends = append(u.appends, a)
		}
	}
}

// Inbox adds the inbox entry of a message the unit processes.
func (u *Unit) Inbox(e InboxEntry) { u.inboxes = append(u.inboxes, e) }

// Include adds everything of o to u.
func (u *Unit) Include(o *Unit) {
	u.appends = append(u.appends, o.appends...)
	u.inboxes = append(u.inboxes, o.inboxes...)
	u.unique = append(u.unique, o.unique...)
	u.release = append(u.release, o.release...)
	if o.idempotency != nil {
		u.idempotency = o.idempotency
	}
}

// HasEvents reports whether the unit appends any event.
func (u *Unit) HasEvents() bool { return len(u.appends) > 0 }

// empty reports whether writing the unit would store nothing.
func (u *Unit) empty() bool {
	return len(u.appends) == 0 && len(u.inboxes) == 0 && u.idempotency == nil
}

// Write commits the unit in one transaction (see eventstore.Store.Write for its errors),
// appends in stream id order, so that writers touching the same streams queue behind each
// other instead of deadlocking. Appends to one stream that do not follow each other give
// an error wrapping ErrVersionConflict and write nothing.
func (u *Unit) Write(ctx context.Context, store EventStore) (map[string]int64, error) {
	appends, err := mergeAppends(u.appends)
	if err != nil {
		return nil, err
	}
	w := eventstore.Write{Appends: appends, Unique: u.unique, Release: u.release}
	for i, in := range u.inboxes {
		if i == 0 {
			first := in.ForStore()
			w.Inbox = &first
			continue
		}
		w.Inboxes = append(w.Inboxes, in.ForStore())
	}
	if u.idempotency != nil {
		w.Idempotency = u.idempotency.forStore()
	}
	return store.Write(ctx, w)
}

// mergeAppends merges the appends to each stream into one, in stream id order.
func mergeAppends(appends []eventstore.StreamAppend) ([]eventstore.StreamAppend, error) {
	byStream := map[string]int{}
	var out []eventstore.StreamAppend
	for _, a := range appends {
		i, ok := byStream[a.StreamID]
		if !ok {
			byStream[a.StreamID] = len(out)
			out = append(out, eventstore.StreamAppend{StreamID: a.StreamID, StreamType: a.StreamType,
				ExpectedVersion: a.ExpectedVersion, Events: slices.Clone(a.Events)})
			continue
		}
		m := &out[i]
		if next := m.ExpectedVersion + int64(len(m.Events)); a.ExpectedVersion != next {
			return nil, fmt.Errorf("%w: %s: an append at version %d follows one ending at %d",
				ErrVersionConflict, a.StreamID, a.ExpectedVersion, next)
		}
		m.Events = append(m.Events, a.Events...)
	}
	slices.SortFunc(out, func(a, b eventstore.StreamAppend) int { return cmp.Compare(a.StreamID, b.StreamID) })
	return out, nil
}
