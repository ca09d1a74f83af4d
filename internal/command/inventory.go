package command

import (
	"context"

	"github.com/google/uuid"

	"github.com/shopflow/shopflow/domain"
	"github.com/shopflow/shopflow/domain/inventory"
)

// ProductType describes how products are stored: stream "product-<product id>" of the
// inventory database, kept between commands and snapshotted (schema
// inventory.ProductSnapshotVersion).
func ProductType() AggregateType[*inventory.Product] {
	return AggregateType[*inventory.Product]{
		Name:     inventory.ProductAggregateType,
		Register: inventory.Register,
		Load: func(_ string, history []domain.Event) (*inventory.Product, error) {
			return inventory.LoadProduct(history)
		},
		Advance: (*inventory.Product).Advance,
		Unique: func(p *inventory.Product) []UniqueField {
			return []UniqueField{{Field: "sku", Value: normalForm(p.SKU())}}
		},
		Snapshot: &SnapshotCodec[*inventory.Product]{
			SchemaVersion: inventory.ProductSnapshotVersion,
			Encode:        (*inventory.Product).Snapshot,
			Restore:       inventory.RestoreProduct,
		},
	}
}

// ReservationType describes how order reservations are stored: stream
// "order_reservation-<order id>" of the inventory database. A missing stream loads as a
// new reservation, never as not found.
func ReservationType() AggregateType[*inventory.OrderReservation] {
	return AggregateType[*inventory.OrderReservation]{
		Name:     inventory.ReservationAggregateType,
		Register: inventory.Register,
		Load:     inventory.LoadOrderReservation,
		Status: func(r *inventory.OrderReservation) string {
			return string(r.Status())
		},
	}
}

// RegisterProduct adds a product to the catalog under a new id. SKUs are unique, ignoring
// case and surrounding white space.
type RegisterProduct struct {
	SKU          string
	Name         string
	Description  string
	PriceCents   int64
	Currency     string
	InitialStock int64
}

// newProduct converts the command to the domain's input.
func (c RegisterProduct) newProduct() inventory.NewProduct {
	return inventory.NewProduct{
		SKU: c.SKU, Name: c.Name, Description: c.Description,
		PriceCents: c.PriceCents, Currency: c.Currency, InitialStock: c.InitialStock,
	}
}

// Validate returns the *domain.ValidationError listing every invalid field of the
// command (see inventory.RegisterProduct), or nil. Handle validates too; Validate lets a
// caller merge the command's problems with its own before handling it.
func (c RegisterProduct) Validate() error {
	_, err := inventory.RegisterProduct(uuid.Nil.String(), c.newProduct())
	return err
}

// RegisterProductHandler handles RegisterProduct.
type RegisterProductHandler struct {
	products *Repository[*inventory.Product]
}

// NewRegisterProductHandler returns a handler appending to the inventory database's store.
func NewRegisterProductHandler(store EventStore, cfg Config) (*RegisterProductHandler, error) {
	products, err := NewRepository(store, ProductType(), cfg)
	if err != nil {
		return nil, err
	}
	return &RegisterProductHandler{products: products}, nil
}

// Handle registers the product under a new UUIDv7 and returns its id and version 1.
// Errors: *domain.ValidationError listing every invalid field; *TakenError when another
// product has the SKU; store errors.
func (h *RegisterProductHandler) Handle(ctx context.Context, cmd RegisterProduct, opts Options) (Result, error) {
	id, err := NewID()
	if err != nil {
		return Result{}, err
	}
	p, err := inventory.RegisterProduct(id, cmd.newProduct())
	if err != nil {
		return Result{}, err
	}
	return h.products.Create(ctx, p, opts)
}

// RestockProduct adds Quantity units to a product's available stock.
type RestockProduct struct {
	ProductID string
	Quantity  int64
}

// RestockProductHandler handles RestockProduct.
type RestockProductHandler struct {
	products *Repository[*inventory.Product]
}

// NewRestockProductHandler returns a handler appending to the inventory database's store.
func NewRestockProductHandler(store EventStore, cfg Config) (*RestockProductHandler, error) {
	products, err := NewRepository(store, ProductType(), cfg)
	if err != nil {
		return nil, err
	}
	return &RestockProductHandler{products: products}, nil
}

// Handle restocks the product, retrying on concurrent changes, and returns its new
// version. Errors: *domain.ValidationError (product_id not a UUID, quantity not > 0),
// *NotFoundError, inventory.ErrStockLimit, eventstore.ErrVersionConflict after the last
// attempt, store errors.
func (h *RestockProductHandler) Handle(ctx context.Context, cmd RestockProduct, opts Options) (Result, error) {
	var v domain.ValidationError
	id := checkID(&v, "product_id", cmd.ProductID)
	v.Check(id != "", "product_id", "is required")
	if err := v.Err(); err != nil {
		return Result{}, err
	}
	return h.products.Update(ctx, id, func(p *inventory.Product) error {
		return p.AddStock(cmd.Quantity)
	}, opts)
}
