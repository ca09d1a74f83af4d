package sagas

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/shopflow/shopflow/eventstore"
	"github.com/shopflow/shopflow/internal/command"
)

// writer commits a reaction: its appends and its inbox entry in one transaction.
type writer struct {
	store command.EventStore
}

// write appends the non-empty appends and the message's inbox entry atomically and
// returns the outcome: OutcomeApplied, OutcomeNoop (nothing to append: only the inbox
// entry is written, so the message is not decided again) or OutcomeDuplicate (the inbox
// already held the message: nothing was written). Appends are written in stream id order,
// so that two reactions touching the same streams queue behind each other instead of
// deadlocking. A version conflict is returned for command.Retry to decide again.
//
// In a group commit (m.batch set) nothing is written yet: the appends and the inbox entry
// join the batch, written once the lane's every message is decided (see lanes.go).
func (w writer) write(ctx context.Context, m message, appends ...eventstore.StreamAppend) (string, error) {
	var nonEmpty []eventstore.StreamAppend
	for _, a := range appends {
		if len(a.Events) > 0 {
			nonEmpty = append(nonEmpty, a)
		}
	}
	if m.batch != nil {
		return m.batch.add(m, nonEmpty), nil
	}
	sortAppends(nonEmpty)
	var inbox *eventstore.InboxEntry
	if m.inbox != nil {
		in := m.inbox.ForStore()
		inbox = &in
	}
	_, err := w.store.Write(ctx, eventstore.Write{Appends: nonEmpty, Inbox: inbox})
	switch {
	case errors.Is(err, eventstore.ErrAlreadyProcessed):
		return OutcomeDuplicate, nil
	case err != nil:
		return "", err
	case len(nonEmpty) == 0:
		return OutcomeNoop, nil
	}
	return OutcomeApplied, nil
}

// sortAppends orders appends by stream id.
func sortAppends(appends []eventstore.StreamAppend) {
	slices.SortFunc(appends, func(a, b eventstore.StreamAppend) int { return cmp.Compare(a.StreamID, b.StreamID) })
}

// requireID returns a permanent error if a message's id field is empty.
func requireID(m message, field, value string) error {
	if value == "" {
		return permanentf("%s %s: %s is empty", m.env.EventType, m.env.EventID, field)
	}
	return nil
}

// decide runs one load–decide–write attempt under command.Retry and returns the outcome
// of the attempt that was not a version conflict.
func decide(ctx context.Context, cfg command.Config, attempt func(context.Context) (string, error)) (string, error) {
	var outcome string
	err := command.Retry(ctx, cfg, func(ctx context.Context) error {
		var err error
		outcome, err = attempt(ctx)
		return err
	})
	if err != nil {
		return "", err
	}
	return outcome, nil
}

// notFound reports whether err says an aggregate does not exist.
func notFound(err error) bool {
	var nf *command.NotFoundError
	return errors.As(err, &nf)
}

// mustExist turns "not found" into a permanent error: the message refers to an aggregate
// of this context that does not exist, which no retry can fix.
func mustExist(m message, err error) error {
	if notFound(err) {
		return permanent(fmt.Errorf("%s %s: %w", m.env.EventType, m.env.EventID, err))
	}
	return err
}
