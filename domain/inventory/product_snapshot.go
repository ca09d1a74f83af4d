package inventory

import (
	"encoding/json"
	"fmt"

	"github.com/shopflow/shopflow/domain"
)

// ProductSnapshotVersion is the schema version of the state [Product.Snapshot] encodes.
// Raise it whenever that encoding or its meaning changes (a field added, renamed or
// derived differently, an event that now changes state): a snapshot of another version is
// ignored and the product is rebuilt from its events, which are the truth.
const ProductSnapshotVersion = 1

// productState is the snapshot form of a product's state: all of it, since the state is
// bounded (nothing per order).
type productState struct {
	SKU         string `json:"sku"`
	Name        string `json:"name"`
	Description string `json:"description"`
	PriceCents  int64  `json:"price_cents"`
	Currency    string `json:"currency"`
	Available   int64  `json:"available"`
	Reserved    int64  `json:"reserved"`
}

// Snapshot encodes the product's state (schema [ProductSnapshotVersion]) for
// [RestoreProduct]. The product must have no uncommitted changes: a snapshot describes a
// stored version of the stream.
func (p *Product) Snapshot() ([]byte, error) {
	if len(p.root.Changes()) > 0 {
		return nil, fmt.Errorf("product %s: snapshot with uncommitted changes", p.ID())
	}
	return json.Marshal(productState{
		SKU: p.sku, Name: p.name, Description: p.description, PriceCents: p.priceCents,
		Currency: p.currency, Available: p.available, Reserved: p.reserved,
	})
}

// RestoreProduct rebuilds product id at stream version version from a state that
// [Product.Snapshot] encoded (schema [ProductSnapshotVersion]); [Product.Advance] then
// applies the events after it. It returns an error wrapping domain.ErrInvalidHistory if
// the state does not decode or version is not positive.
func RestoreProduct(id string, version int64, state []byte) (*Product, error) {
	var s productState
	if err := json.Unmarshal(state, &s); err != nil || id == "" || version < 1 {
		return nil, fmt.Errorf("restore product %q at version %d: %w (%v)", id, version, domain.ErrInvalidHistory, err)
	}
	p := &Product{
		sku: s.SKU, name: s.Name, description: s.Description, priceCents: s.PriceCents,
		currency: s.Currency, available: s.Available, reserved: s.Reserved,
	}
	p.root.Restore(id, version)
	return p, nil
}
