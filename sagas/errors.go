package sagas

import (
	"errors"
	"fmt"

	"github.com/shopflow/shopflow/domain"
	"github.com/shopflow/shopflow/eventstore"
)

// ErrPermanent marks a message that can never be processed: retrying cannot help, so the
// reactor sends it to its dead-letter topic and moves on. It matches (errors.Is) the
// errors of undecodable records and payloads, of corrupt streams (domain.ErrInvalidHistory,
// domain.ErrUnknownEventType), of domain validation failures on saga input
// (domain.ErrValidation) and of malformed writes (eventstore.ErrInvalidWrite).
var ErrPermanent = errors.New("sagas: message can never be processed")

// permanentError wraps an error classified as permanent.
type permanentError struct{ err error }

func (e *permanentError) Error() string        { return e.err.Error() }
func (e *permanentError) Unwrap() error        { return e.err }
func (e *permanentError) Is(target error) bool { return target == ErrPermanent }

// permanent marks err as permanent (nil stays nil).
func permanent(err error) error {
	if err == nil {
		return nil
	}
	return &permanentError{err: err}
}

// permanentf returns a new permanent error.
func permanentf(format string, args ...any) error {
	return permanent(fmt.Errorf(format, args...))
}

// IsPermanent reports whether err means the message can never be processed (see
// ErrPermanent). Every other error is transient: the reactor retries the message with
// backoff and does not commit its offset.
func IsPermanent(err error) bool {
	for _, kind := range []error{ErrPermanent, eventstore.ErrUndecodable, eventstore.ErrInvalidWrite,
		domain.ErrInvalidHistory, domain.ErrUnknownEventType, domain.ErrValidation} {
		if errors.Is(err, kind) {
			return true
		}
	}
	return false
}
