package projections

import (
	"context"
	"errors"
	"fmt"

	"github.com/shopflow/shopflow/domain/payment"
	"github.com/shopflow/shopflow/eventstore"
	"github.com/shopflow/shopflow/internal/pii"
)

// revealedAccount is an AccountOpened whose personal data the processor opened with the
// customer's key (reveal): Name and Email in clear, or empty and forgotten when the key is
// destroyed. Models apply it instead of the AccountOpened as published.
type revealedAccount struct {
	payment.AccountOpened
	forgotten bool
}

// reveal replaces the AccountOpened events of the batch by their revealedAccount. A key
// store that does not answer fails the batch (it is retried); a value that does not open
// (tampered, or sealed for another customer) dead-letters the document's events of the
// batch, as a document that cannot be loaded is.
func (p *processor) reveal(ctx context.Context, b *batch) error {
	for _, id := range b.ids {
		d := b.docs[id]
		for i, ch := range d.changes {
			if d.refused {
				break
			}
			o, ok := ch.ev.(payment.AccountOpened)
			if !ok {
				continue
			}
			r, err := p.revealAccount(ctx, o)
			switch {
			case errors.Is(err, pii.ErrTampered), errors.Is(err, pii.ErrNoKey):
				p.refuse(b, d, fmt.Errorf("%w: %w", eventstore.ErrUndecodable, err), d.changes)
			case err != nil:
				return err
			default:
				d.changes[i].ev = r
			}
		}
	}
	return nil
}

// revealAccount opens the personal data of one AccountOpened.
func (p *processor) revealAccount(ctx context.Context, o payment.AccountOpened) (revealedAccount, error) {
	if p.cfg.Keys == nil {
		r := revealedAccount{AccountOpened: o}
		if pii.IsSealed(o.Name) || pii.IsSealed(o.Email) {
			r.Name, r.Email = "", ""
		}
		return r, nil
	}
	prof, err := pii.Reveal(ctx, p.cfg.Keys, o.CustomerID, o.Name, o.Email)
	if err != nil {
		return revealedAccount{}, err
	}
	o.Name, o.Email = prof.Name, prof.Email
	return revealedAccount{AccountOpened: o, forgotten: prof.Forgotten}, nil
}
