package command

import (
	"context"
	"fmt"
	"time"

	"github.com/shopflow/shopflow/domain"
	"github.com/shopflow/shopflow/domain/order"
)

// OrderType describes how orders are stored: stream "order-<order id>" of the orders
// database. Result.Status is the order's status.
func OrderType() AggregateType[*order.Order] {
	return AggregateType[*order.Order]{
		Name:     order.AggregateType,
		Register: order.Register,
		Load: func(_ string, history []domain.Event) (*order.Order, error) {
			return order.Load(history)
		},
		Status: func(o *order.Order) string { return string(o.Status()) },
	}
}

// PlaceOrder places a pending order under a new id. The orders context does not read
// the other contexts: whether the customer and products exist is settled by the saga.
type PlaceOrder struct {
	CustomerID string
	Lines      []order.Line
}

// PlaceOrderHandler handles PlaceOrder.
type PlaceOrderHandler struct {
	orders *Repository[*order.Order]
	now    func() time.Time
}

// NewPlaceOrderHandler returns a handler appending to the orders database's store.
func NewPlaceOrderHandler(store EventStore, cfg Config) (*PlaceOrderHandler, error) {
	orders, err := NewRepository(store, OrderType(), cfg)
	if err != nil {
		return nil, err
	}
	return &PlaceOrderHandler{orders: orders, now: cfg.withDefaults().Now}, nil
}

// Handle places the order under a new UUIDv7 and returns it with version 1 and status
// pending. Errors: *domain.ValidationError listing every invalid field (customer_id and
// each lines[i].product_id must be UUIDs; see order.Place for the rest); store errors.
func (h *PlaceOrderHandler) Handle(ctx context.Context, cmd PlaceOrder, opts Options) (Result, error) {
	var v domain.ValidationError
	customerID := checkID(&v, "customer_id", cmd.CustomerID)
	lines := make([]order.Line, len(cmd.Lines))
	for i, l := range cmd.Lines {
		lines[i] = order.Line{ProductID: checkID(&v, fmt.Sprintf("lines[%d].product_id", i), l.ProductID), Quantity: l.Quantity}
	}
	id, err := NewID()
	if err != nil {
		return Result{}, err
	}
	o, err := order.Place(id, customerID, lines, h.now())
	if err := withFields(&v, err); err != nil {
		return Result{}, err
	}
	return h.orders.Create(ctx, o, opts)
}

// CancelOrder cancels a pending or confirmed order; Reason is optional free text.
// CustomerID, if set, is the only customer whose order may be cancelled: another
// customer's order is not found (a customer's token acting for itself).
type CancelOrder struct {
	OrderID    string
	Reason     string
	CustomerID string
}

// CancelOrderHandler handles CancelOrder.
type CancelOrderHandler struct {
	orders *Repository[*order.Order]
}

// NewCancelOrderHandler returns a handler appending to the orders database's store.
func NewCancelOrderHandler(store EventStore, cfg Config) (*CancelOrderHandler, error) {
	orders, err := NewRepository(store, OrderType(), cfg)
	if err != nil {
		return nil, err
	}
	return &CancelOrderHandler{orders: orders}, nil
}

// Handle cancels the order, retrying on concurrent changes, and returns its version and
// status (cancelled). Cancelling a cancelled order appends nothing and succeeds.
// Errors: *domain.ValidationError (order_id not a UUID, reason too long),
// *NotFoundError (also for another customer's order when cmd.CustomerID is set), order.ErrNotCancellable (rejected order),
// eventstore.ErrVersionConflict after the last attempt, store errors.
func (h *CancelOrderHandler) Handle(ctx context.Context, cmd CancelOrder, opts Options) (Result, error) {
	var v domain.ValidationError
	id := checkID(&v, "order_id", cmd.OrderID)
	v.Check(id != "", "order_id", "is required")
	if err := v.Err(); err != nil {
		return Result{}, err
	}
	return h.orders.Update(ctx, id, func(o *order.Order) error {
		if cmd.CustomerID != "" && o.CustomerID() != cmd.CustomerID {
			return &NotFoundError{Type: order.AggregateType, ID: id}
		}
		return o.Cancel(cmd.Reason)
	}, opts)
}

// SettlementType describes how an order's settlement (order.Settlement) is stored: the
// orders reactor's record of a reservation or capture that came before the other.
func SettlementType() AggregateType[*order.Settlement] {
	return AggregateType[*order.Settlement]{
		Name: order.SettlementAggregateType, Register: order.RegisterSettlement, Load: order.LoadSettlement,
	}
}
