package sagas

import (
	"context"
	"errors"

	"github.com/shopflow/shopflow/domain"
	"github.com/shopflow/shopflow/domain/inventory"
	"github.com/shopflow/shopflow/domain/order"
	"github.com/shopflow/shopflow/domain/payment"
	"github.com/shopflow/shopflow/eventstore"
	"github.com/shopflow/shopflow/internal/command"
)

// NewInventoryReactor returns the inventory context's reactor. It consumes the orders and
// payments topics and appends to store, the inventory database's event store:
//
//   - OrderPlaced → reserve the order's lines, all or nothing (OrderReservation and the
//     Product of every line in one atomic write, decided again on version conflicts):
//     OrderStockReserved or OrderStockReservationFailed;
//   - OrderCancelled, OrderRejected, PaymentDeclined → release the reservation
//     (OrderStockReleased and StockReleased; idempotent, a release before the
//     reservation closes it).
//
// It returns an error if cfg is invalid or store is nil.
func NewInventoryReactor(cfg Config, store *eventstore.Store) (*Reactor, error) {
	if store == nil {
		return nil, errors.New("sagas: inventory reactor: nil store")
	}
	return newInventoryReactor(cfg, store)
}

func newInventoryReactor(cfg Config, store command.EventStore) (*Reactor, error) {
	r, err := newReactor(cfg, Inventory, Orders, Payments)
	if err != nil {
		return nil, err
	}
	s := &inventorySaga{w: writer{store}, retry: r.commandConfig()}
	if s.reservations, err = command.NewRepository(store, command.ReservationType(), s.retry); err != nil {
		return nil, err
	}
	if s.products, err = command.NewRepository(store, command.ProductType(), s.retry); err != nil {
		return nil, err
	}
	r.writesTo(store)
	r.onRouted(order.TypeOrderPlaced, s.onOrderPlaced, routeLines)
	releases := map[string]func(domain.Event) string{
		order.TypeOrderCancelled:    func(e domain.Event) string { return e.(order.OrderCancelled).OrderID },
		order.TypeOrderRejected:     func(e domain.Event) string { return e.(order.OrderRejected).OrderID },
		payment.TypePaymentDeclined: func(e domain.Event) string { return e.(payment.PaymentDeclined).OrderID },
	}
	for eventType, orderID := range releases {
		r.onRouted(eventType, func(ctx context.Context, m message) (string, error) {
			return s.release(ctx, m, orderID(m.event))
		}, func(ctx context.Context, m message) ([]string, error) {
			return s.reservedProducts(ctx, orderID(m.event))
		})
	}
	return r, nil
}

// routeLines routes an OrderPlaced to the products of its lines.
func routeLines(_ context.Context, m message) ([]string, error) {
	placed := m.event.(order.OrderPlaced)
	streams := make([]string, len(placed.Lines))
	for i, l := range placed.Lines {
		streams[i] = command.StreamID(inventory.ProductAggregateType, l.ProductID)
	}
	return streams, nil
}

// reservedProducts routes a release to the products the order's reservation holds (none
// when it holds nothing: the release then writes only the reservation).
func (s *inventorySaga) reservedProducts(ctx context.Context, orderID string) ([]string, error) {
	res, err := s.reservations.Load(ctx, orderID)
	if err != nil {
		return nil, err
	}
	var streams []string
	if res.Status() == inventory.ReservationReserved {
		for _, id := range res.ProductIDs() {
			streams = append(streams, command.StreamID(inventory.ProductAggregateType, id))
		}
	}
	return streams, nil
}

// inventorySaga holds the inventory context's reactions.
type inventorySaga struct {
	w            writer
	retry        command.Config
	reservations *command.Repository[*inventory.OrderReservation]
	products     *command.Repository[*inventory.Product]
}

// onOrderPlaced reserves the order's lines, unless the order's reservation already has an
// outcome (then only the inbox entry is written).
func (s *inventorySaga) onOrderPlaced(ctx context.Context, m message) (string, error) {
	placed := m.event.(order.OrderPlaced)
	if err := requireID(m, "order_id", placed.OrderID); err != nil {
		return "", err
	}
	lines := make([]inventory.Line, len(placed.Lines))
	for i, l := range placed.Lines {
		lines[i] = inventory.Line{ProductID: l.ProductID, Quantity: l.Quantity}
	}
	return decide(ctx, s.retry, func(ctx context.Context) (string, error) {
		res, err := loadIn(ctx, m, s.reservations, placed.OrderID)
		if err != nil {
			return "", err
		}
		var products map[string]*inventory.Product
		if res.Status() == inventory.ReservationNone {
			ids := make([]string, len(lines))
			for i, l := range lines {
				ids[i] = l.ProductID
			}
			if products, err = s.loadProducts(ctx, m, ids, false); err != nil {
				return "", err
			}
			if err := res.Reserve(placed.CustomerID, lines, products); err != nil {
				return "", permanent(err)
			}
		}
		return s.save(ctx, m, res, products)
	})
}

// release ends the order's reservation (see inventory.OrderReservation.Release).
func (s *inventorySaga) release(ctx context.Context, m message, orderID string) (string, error) {
	if err := requireID(m, "order_id", orderID); err != nil {
		return "", err
	}
	return decide(ctx, s.retry, func(ctx context.Context) (string, error) {
		res, err := loadIn(ctx, m, s.reservations, orderID)
		if err != nil {
			return "", err
		}
		var products map[string]*inventory.Product
		if res.Status() == inventory.ReservationReserved {
			if products, err = s.loadProducts(ctx, m, res.ProductIDs(), true); err != nil {
				return "", err
			}
		}
		if err := res.Release(products); err != nil {
			return "", permanent(err)
		}
		return s.save(ctx, m, res, products)
	})
}

// loadProducts loads the products with the given ids. An unknown product is left out of
// the map, or is a permanent error when required (a reserved product must exist).
func (s *inventorySaga) loadProducts(ctx context.Context, m message, ids []string, required bool) (map[string]*inventory.Product, error) {
	products := make(map[string]*inventory.Product, len(ids))
	for _, id := range ids {
		p, err := loadIn(ctx, m, s.products, id)
		switch {
		case notFound(err) && !required:
			continue
		case notFound(err):
			return nil, permanent(err)
		case err != nil:
			return nil, err
		}
		products[id] = p
	}
	return products, nil
}

// save writes the changes of the reservation and of the products with the inbox entry, then
// gives the products back to their repository unless nothing was written.
func (s *inventorySaga) save(ctx context.Context, m message, res *inventory.OrderReservation,
	products map[string]*inventory.Product) (string, error) {
	app, err := s.reservations.Append(res, m.meta)
	if err != nil {
		return "", err
	}
	appends := []eventstore.StreamAppend{app}
	for _, p := range products {
		app, err := s.products.Append(p, m.meta)
		if err != nil {
			return "", err
		}
		appends = append(appends, app)
	}
	outcome, err := s.w.write(ctx, m, appends...)
	if err == nil && outcome != OutcomeDuplicate {
		keep(m, s.reservations, res)
		for _, p := range products { // stored: give them back (see command.Repository)
			keep(m, s.products, p)
		}
	}
	return outcome, err
}
