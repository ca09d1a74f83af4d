package sagas

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/shopflow/shopflow/domain/inventory"
	"github.com/shopflow/shopflow/domain/order"
	"github.com/shopflow/shopflow/domain/payment"
	"github.com/shopflow/shopflow/eventstore"
	"github.com/shopflow/shopflow/internal/command"
)

// NewOrdersReactor returns the orders context's reactor. It consumes the inventory and
// payments topics and appends to store, the orders database's event store; pool is the
// same database's pool (whose schema eventstore.Migrate created), used by the deadline
// scanner:
//
//   - OrderStockReserved → record the priced lines (settlement stream, see
//     order.SettlementAggregateType), and confirm the order if the payment was captured already;
//   - PaymentCaptured → confirm the order with the recorded priced lines, or record the
//     capture until they arrive;
//   - OrderStockReservationFailed and PaymentDeclined → reject the order with the same
//     reason (declines with reason order_closed are ignored: the order is final already);
//   - every Config.ScanInterval, orders pending for longer than Config.Deadline are
//     rejected with reason timeout; the other contexts compensate on that OrderRejected.
//
// Reactions to an order that is no longer pending write only their inbox entry. It returns
// an error if cfg is invalid or store or pool is nil.
func NewOrdersReactor(cfg Config, store *eventstore.Store, pool *pgxpool.Pool) (*Reactor, error) {
	if store == nil || pool == nil {
		return nil, errors.New("sagas: orders reactor: nil store or pool")
	}
	r, err := newOrdersReactor(cfg, store)
	if err != nil {
		return nil, err
	}
	d, err := newDeadlineScanner(r, store, pool)
	if err != nil {
		return nil, err
	}
	r.background = append(r.background, d.run)
	return r, nil
}

func newOrdersReactor(cfg Config, store command.EventStore) (*Reactor, error) {
	r, err := newReactor(cfg, Orders, Inventory, Payments)
	if err != nil {
		return nil, err
	}
	s := &ordersSaga{w: writer{store}, retry: r.commandConfig()}
	if s.orders, err = command.NewRepository(store, command.OrderType(), s.retry); err != nil {
		return nil, err
	}
	if s.settlements, err = command.NewRepository(store, command.SettlementType(), s.retry); err != nil {
		return nil, err
	}
	r.writesTo(store)
	r.on(inventory.TypeOrderStockReserved, s.onStockReserved)
	r.on(payment.TypePaymentCaptured, s.onPaymentCaptured)
	r.on(inventory.TypeOrderStockReservationFailed, func(ctx context.Context, m message) (string, error) {
		e := m.event.(inventory.OrderStockReservationFailed)
		return s.reject(ctx, m, e.OrderID, order.Reason(e.Reason))
	})
	r.on(payment.TypePaymentDeclined, func(ctx context.Context, m message) (string, error) {
		e := m.event.(payment.PaymentDeclined)
		if e.Reason == payment.ReasonOrderClosed {
			return s.w.write(ctx, m)
		}
		return s.reject(ctx, m, e.OrderID, order.Reason(e.Reason))
	})
	return r, nil
}

// ordersSaga holds the orders context's reactions.
type ordersSaga struct {
	w           writer
	retry       command.Config
	orders      *command.Repository[*order.Order]
	settlements *command.Repository[*order.Settlement]
}

// onStockReserved records the priced lines, or confirms the order if it was paid.
func (s *ordersSaga) onStockReserved(ctx context.Context, m message) (string, error) {
	e := m.event.(inventory.OrderStockReserved)
	if err := requireID(m, "order_id", e.OrderID); err != nil {
		return "", err
	}
	lines := make([]order.PricedLine, len(e.Lines))
	for i, l := range e.Lines {
		lines[i] = order.PricedLine(l)
	}
	return s.settle(ctx, m, e.OrderID, func(o *order.Order, st *order.Settlement) error {
		return st.StockReserved(o, lines, e.Total.AmountCents, e.Total.Currency)
	})
}

// onPaymentCaptured confirms the order if its priced lines are known, else records the
// capture.
func (s *ordersSaga) onPaymentCaptured(ctx context.Context, m message) (string, error) {
	e := m.event.(payment.PaymentCaptured)
	if err := requireID(m, "order_id", e.OrderID); err != nil {
		return "", err
	}
	return s.settle(ctx, m, e.OrderID, func(o *order.Order, st *order.Settlement) error {
		return st.PaymentCaptured(o, e.AmountCents)
	})
}

// settle loads a pending order and its settlement, lets decideFn record on either, and
// writes both with the inbox entry. A message for an order that is not pending any more
// writes only its inbox entry. An error of decideFn is permanent (the contexts disagree on
// the amount: no retry can fix it, and the order then times out and is compensated).
func (s *ordersSaga) settle(ctx context.Context, m message, orderID string,
	decideFn func(*order.Order, *order.Settlement) error) (string, error) {
	return decide(ctx, s.retry, func(ctx context.Context) (string, error) {
		o, err := s.orders.Load(ctx, orderID)
		if err != nil {
			return "", mustExist(m, err)
		}
		if o.Status() != order.StatusPending {
			return s.w.write(ctx, m)
		}
		st, err := s.settlements.Load(ctx, orderID)
		if err != nil {
			return "", err
		}
		if err := decideFn(o, st); err != nil {
			return "", permanent(err)
		}
		oa, err := s.orders.Append(o, m.meta)
		if err != nil {
			return "", err
		}
		sa, err := s.settlements.Append(st, m.meta)
		if err != nil {
			return "", err
		}
		return s.w.write(ctx, m, oa, sa)
	})
}

// reject rejects a pending order for reason (a no-op for an order that is not pending).
func (s *ordersSaga) reject(ctx context.Context, m message, orderID string, reason order.Reason) (string, error) {
	if err := requireID(m, "order_id", orderID); err != nil {
		return "", err
	}
	if !reason.Valid() {
		return "", permanentf("%s %s: unknown rejection reason %q", m.env.EventType, m.env.EventID, reason)
	}
	return decide(ctx, s.retry, func(ctx context.Context) (string, error) {
		o, err := s.orders.Load(ctx, orderID)
		if err != nil {
			return "", mustExist(m, err)
		}
		if err := o.Reject(reason); err != nil {
			return "", permanent(err)
		}
		app, err := s.orders.Append(o, m.meta)
		if err != nil {
			return "", err
		}
		return s.w.write(ctx, m, app)
	})
}
