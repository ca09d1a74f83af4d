package pii

import (
	"context"
	"errors"
	"fmt"
)

// KeyGetter is the part of Keys that readers of personal data need.
type KeyGetter interface {
	Get(ctx context.Context, customerID string) ([]byte, error)
}

// Profile is a customer's personal data as a reader may show it.
type Profile struct {
	Name, Email string
	// Forgotten: the customer's key was destroyed; Name and Email are empty.
	Forgotten bool
}

// Reveal returns the profile of customerID from the name and email an AccountOpened event
// holds: opened with the customer's key from keys when sealed, as they are when clear
// (events from before sealing), and Forgotten without either once the key is destroyed —
// for clear values too, so that a forgotten customer is forgotten by every reader. An
// error other than these (the key store unreachable, a value that does not open) is
// worth retrying or reporting; it never means forgotten.
func Reveal(ctx context.Context, keys KeyGetter, customerID, name, email string) (Profile, error) {
	key, err := keys.Get(ctx, customerID)
	switch {
	case errors.Is(err, ErrForgotten):
		return Profile{Forgotten: true}, nil
	case errors.Is(err, ErrNoKey):
		if IsSealed(name) || IsSealed(email) {
			return Profile{}, fmt.Errorf("reveal customer %s: sealed data without a key: %w", customerID, err)
		}
		return Profile{Name: name, Email: email}, nil
	case err != nil:
		return Profile{}, fmt.Errorf("reveal customer %s: %w", customerID, err)
	}
	p := Profile{Name: name, Email: email}
	if IsSealed(name) {
		if p.Name, err = Open(key, customerID, FieldName, name); err != nil {
			return Profile{}, err
		}
	}
	if IsSealed(email) {
		if p.Email, err = Open(key, customerID, FieldEmail, email); err != nil {
			return Profile{}, err
		}
	}
	return p, nil
}
