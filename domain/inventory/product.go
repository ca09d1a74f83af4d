package inventory

import (
	"fmt"

	"github.com/shopflow/shopflow/domain"
)

// ProductAggregateType names the Product stream type, for stream ids and topics.
const ProductAggregateType = "product"

// Product is the product aggregate. Create one with [RegisterProduct],
// rehydrate it with [LoadProduct] or restore it from a snapshot with
// [RestoreProduct]; the zero value is not usable. Not safe for concurrent use.
//
// Its state is bounded: catalog data, price and stock, nothing per order. The
// order's [OrderReservation] remembers what was reserved and released for it,
// and it is the only caller of the product's reserve and release.
type Product struct {
	root        domain.Root
	sku         string
	name        string
	description string
	priceCents  int64
	currency    string
	available   int64
	reserved    int64
}

// LoadProduct rehydrates a product from its stream's events, oldest first,
// without running any command validation. It returns an error wrapping
// domain.ErrNotFound for an empty history, and one wrapping
// domain.ErrInvalidHistory or domain.ErrUnknownEventType for a stream that
// is not a valid product history.
func LoadProduct(history []domain.Event) (*Product, error) {
	if len(history) == 0 {
		return nil, fmt.Errorf("product: %w", domain.ErrNotFound)
	}
	p := &Product{}
	if err := p.root.Load(history, p.apply); err != nil {
		return nil, fmt.Errorf("load product: %w", err)
	}
	return p, nil
}

// Advance applies the events recorded in the product's stream after its version, oldest
// first, as LoadProduct does: a product kept from an earlier load catches up with its stream
// instead of being rehydrated from the start. The product must have no uncommitted changes;
// after an error it must be discarded.
func (p *Product) Advance(history []domain.Event) error {
	if len(p.root.Changes()) > 0 {
		return fmt.Errorf("product %s: advance with uncommitted changes", p.root.ID())
	}
	if err := p.root.Load(history, p.apply); err != nil {
		return fmt.Errorf("advance product: %w", err)
	}
	return nil
}

// ID returns the product id.
func (p *Product) ID() string { return p.root.ID() }

// Version returns the stream version including recorded changes (see domain.Root.Version).
func (p *Product) Version() int64 { return p.root.Version() }

// CommittedVersion returns the expected version for appending Changes.
func (p *Product) CommittedVersion() int64 { return p.root.CommittedVersion() }

// Changes returns the events recorded since loading, oldest first.
func (p *Product) Changes() []domain.Event { return p.root.Changes() }

// MarkCommitted forgets the recorded changes after a successful append.
func (p *Product) MarkCommitted() { p.root.MarkCommitted() }

// SKU returns the stock keeping unit.
func (p *Product) SKU() string { return p.sku }

// Name returns the product name.
func (p *Product) Name() string { return p.name }

// Description returns the product description.
func (p *Product) Description() string { return p.description }

// PriceCents returns the unit price in minor units.
func (p *Product) PriceCents() int64 { return p.priceCents }

// Currency returns the price's ISO 4217 code.
func (p *Product) Currency() string { return p.currency }

// Available returns the units free to reserve.
func (p *Product) Available() int64 { return p.available }

// Reserved returns the units held by orders.
func (p *Product) Reserved() int64 { return p.reserved }

// apply is the only code that changes a Product's state.
func (p *Product) apply(e domain.Event) error {
	if r, ok := e.(ProductRegistered); ok {
		if p.root.ID() != "" {
			return fmt.Errorf("%w: product %s registered twice", domain.ErrInvalidHistory, p.root.ID())
		}
		p.root.SetID(r.ProductID)
		p.sku, p.name, p.description = r.SKU, r.Name, r.Description
		p.priceCents, p.currency, p.available = r.PriceCents, r.Currency, r.InitialStock
		return nil
	}
	if p.root.ID() == "" {
		return fmt.Errorf("%w: %s before %s", domain.ErrInvalidHistory, e.EventType(), TypeProductRegistered)
	}
	return p.applyChange(e)
}

// applyChange applies the events that follow ProductRegistered. On error
// the aggregate is discarded, so the order of the state change and the
// ownership check does not matter.
func (p *Product) applyChange(e domain.Event) error {
	switch e := e.(type) {
	case StockAdded:
		p.available += e.Quantity
		return p.owns(e.ProductID)
	case StockReserved:
		p.available -= e.Quantity
		p.reserved += e.Quantity
		return p.owns(e.ProductID)
	case StockReservationFailed: // a fact for the read side; stock is unchanged
		return p.owns(e.ProductID)
	case StockReleased:
		p.available += e.Quantity
		p.reserved -= e.Quantity
		return p.owns(e.ProductID)
	default:
		return fmt.Errorf("product: %w %q", domain.ErrUnknownEventType, e.EventType())
	}
}

// owns checks that an event's product id is this product's.
func (p *Product) owns(productID string) error {
	if productID != p.root.ID() {
		return fmt.Errorf("%w: event for product %s in stream of product %s",
			domain.ErrInvalidHistory, productID, p.root.ID())
	}
	return nil
}
