package sagas

import (
	"context"
	"errors"
	"fmt"

	"github.com/shopflow/shopflow/eventstore"
	"github.com/shopflow/shopflow/internal/command"
)

// writer commits a reaction: its appends and its inbox entry in one transaction.
type writer struct {
	store command.EventStore
}

// write appends the non-empty appends and the message's inbox entry atomically (one
// command.Unit) and returns the outcome: OutcomeApplied, OutcomeNoop (nothing to append:
// only the inbox entry is written, so the message is not decided again) or
// OutcomeDuplicate (the inbox already held the message: nothing was written). A version
// conflict is returned for command.Retry to decide again.
//
// In a group commit (m.batch set) nothing is written yet: the unit joins the batch's,
// written once the lane's every message is decided (see lanes.go).
func (w writer) write(ctx context.Context, m message, appends ...eventstore.StreamAppend) (string, error) {
	var u command.Unit
	u.Append(appends...)
	if m.inbox != nil {
		u.Inbox(*m.inbox)
	}
	outcome := OutcomeNoop
	if u.HasEvents() {
		outcome = OutcomeApplied
	}
	if m.batch != nil {
		m.batch.unit.Include(&u)
		return outcome, nil
	}
	_, err := u.Write(ctx, w.store)
	switch {
	case errors.Is(err, eventstore.ErrAlreadyProcessed):
		return OutcomeDuplicate, nil
	case err != nil:
		return "", err
	}
	return outcome, nil
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
