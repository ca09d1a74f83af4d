package projections

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/shopflow/shopflow/domain"
	"github.com/shopflow/shopflow/domain/inventory"
	"github.com/shopflow/shopflow/eventstore"
)

// Product is a document of the products read model: a catalog entry with its stock.
type Product struct {
	ID          string `json:"id"`
	SKU         string `json:"sku"`
	Name        string `json:"name"`
	Description string `json:"description"`
	PriceCents  int64  `json:"price_cents"`
	Currency    string `json:"currency"`
	// Available units can be reserved; Reserved units are held by orders.
	Available int64 `json:"available"`
	Reserved  int64 `json:"reserved"`
	InStock   bool  `json:"in_stock"`
	// Version is the version of the product's stream the document reflects.
	Version      int64     `json:"version"`
	RegisteredAt time.Time `json:"registered_at"`
	// UpdatedAt is when the last applied event was recorded.
	UpdatedAt time.Time `json:"updated_at"`
	// Revision is the document's Elasticsearch version (its ETag); not stored.
	Revision int64 `json:"-"`
}

// productsModel projects the product streams of the inventory context.
type productsModel struct{}

var productEvents = set(inventory.TypeProductRegistered, inventory.TypeStockAdded, inventory.TypeStockReserved,
	inventory.TypeStockReservationFailed, inventory.TypeStockReleased)

func (productsModel) name() string        { return Products }
func (productsModel) mappingVersion() int { return 1 }
func (productsModel) mapping() string     { return productsMapping }
func (productsModel) contexts() []string  { return []string{"inventory"} }

func (productsModel) wants(streamType, _ string) bool {
	return streamType == inventory.ProductAggregateType
}

func (productsModel) route(env eventstore.Envelope) (string, domain.Event, error) {
	return routeStream(env, inventory.ProductAggregateType, productEvents, productID)
}

func productID(ev domain.Event) string {
	switch e := ev.(type) {
	case inventory.ProductRegistered:
		return e.ProductID
	case inventory.StockAdded:
		return e.ProductID
	case inventory.StockReserved:
		return e.ProductID
	case inventory.StockReservationFailed:
		return e.ProductID
	case inventory.StockReleased:
		return e.ProductID
	}
	return ""
}

func (productsModel) load(id string, src json.RawMessage) (document, error) {
	d := &productDoc{Product: Product{ID: id}}
	if src != nil {
		if err := json.Unmarshal(src, d); err != nil {
			return nil, fmt.Errorf("projections: stored product %s: %w", id, err)
		}
	}
	return d, nil
}

type productDoc struct{ Product }

func (d *productDoc) version() int64          { return d.Version }
func (d *productDoc) esVersion() int64        { return d.Version }
func (d *productDoc) source() ([]byte, error) { return json.Marshal(d.Product) }

func (d *productDoc) apply(env eventstore.Envelope, ev domain.Event) {
	switch e := ev.(type) {
	case inventory.ProductRegistered:
		d.SKU, d.Name, d.Description = e.SKU, e.Name, e.Description
		d.PriceCents, d.Currency, d.Available = e.PriceCents, e.Currency, e.InitialStock
		d.RegisteredAt = env.RecordedAt
	case inventory.StockAdded:
		d.Available += e.Quantity
	case inventory.StockReserved:
		d.Available, d.Reserved = d.Available-e.Quantity, d.Reserved+e.Quantity
	case inventory.StockReleased:
		d.Available, d.Reserved = d.Available+e.Quantity, d.Reserved-e.Quantity
	}
	d.InStock = d.Available > 0
	d.Version, d.UpdatedAt = env.Version, env.RecordedAt
}
