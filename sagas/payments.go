package sagas

import (
	"context"
	"errors"

	"github.com/shopflow/shopflow/domain/inventory"
	"github.com/shopflow/shopflow/domain/order"
	"github.com/shopflow/shopflow/domain/payment"
	"github.com/shopflow/shopflow/eventstore"
	"github.com/shopflow/shopflow/internal/command"
)

// DeclineStreamType is the stream type where earlier releases recorded the
// PaymentDeclined{unknown_customer} of an order whose customer has no account: one stream
// per order, "payment_decline-<order id>", in the payments database. Such declines now go
// to the order's payment stream (payment.OrderPayment.DeclineUnknownCustomer); these
// streams are only read, so that an order declined before is not declined again.
const DeclineStreamType = "payment_decline"

// NewPaymentsReactor returns the payments context's reactor. It consumes the inventory and
// orders topics and appends to store, the payments database's event store:
//
//   - OrderStockReserved → capture the total on the customer's account
//     (PaymentCaptured, or PaymentDeclined{insufficient_funds}); a customer without an
//     account gets PaymentDeclined{unknown_customer} in stream
//     "payment_decline-<order id>" (see DeclineStreamType);
//   - OrderCancelled and OrderRejected{timeout} → refund (PaymentRefunded; or
//     PaymentDeclined{order_closed} when nothing was captured yet, so a late capture
//     request is ignored). Other rejections need no compensation: nothing was captured.
//
// The order's payment stream "order_payment-<order id>" (payment.OrderPayment) records
// each capture, decline and refund in the same transaction as the account's event: it is
// what refuses a second charge or refund, so the account keeps only its balance.
//
// It returns an error if cfg is invalid or store is nil.
func NewPaymentsReactor(cfg Config, store *eventstore.Store) (*Reactor, error) {
	if store == nil {
		return nil, errors.New("sagas: payments reactor: nil store")
	}
	return newPaymentsReactor(cfg, store)
}

func newPaymentsReactor(cfg Config, store command.EventStore) (*Reactor, error) {
	r, err := newReactor(cfg, Payments, Inventory, Orders)
	if err != nil {
		return nil, err
	}
	s := &paymentsSaga{w: writer{store}, store: store, retry: r.commandConfig()}
	if s.accounts, err = command.NewRepository(store, command.AccountType(), s.retry); err != nil {
		return nil, err
	}
	if s.payments, err = command.NewRepository(store, command.OrderPaymentType(), s.retry); err != nil {
		return nil, err
	}
	r.writesTo(store)
	r.onRouted(inventory.TypeOrderStockReserved, s.onStockReserved, routeCustomer)
	r.onRouted(order.TypeOrderCancelled, func(ctx context.Context, m message) (string, error) {
		e := m.event.(order.OrderCancelled)
		return s.refund(ctx, m, e.CustomerID, e.OrderID)
	}, routeCustomer)
	r.onRouted(order.TypeOrderRejected, func(ctx context.Context, m message) (string, error) {
		e := m.event.(order.OrderRejected)
		if e.Reason != order.ReasonTimeout {
			return s.w.write(ctx, m)
		}
		return s.refund(ctx, m, e.CustomerID, e.OrderID)
	}, routeCustomer)
	return r, nil
}

// routeCustomer routes a reaction to the account of the event's customer.
func routeCustomer(_ context.Context, m message) ([]string, error) {
	var customer string
	switch e := m.event.(type) {
	case inventory.OrderStockReserved:
		customer = e.CustomerID
	case order.OrderCancelled:
		customer = e.CustomerID
	case order.OrderRejected:
		customer = e.CustomerID
	}
	if customer == "" {
		return nil, nil
	}
	return []string{command.StreamID(payment.AggregateType, customer)}, nil
}

// paymentsSaga holds the payments context's reactions.
type paymentsSaga struct {
	w        writer
	store    command.EventStore
	retry    command.Config
	accounts *command.Repository[*payment.Account]
	payments *command.Repository[*payment.OrderPayment]
}

// onStockReserved charges the order's total.
func (s *paymentsSaga) onStockReserved(ctx context.Context, m message) (string, error) {
	e := m.event.(inventory.OrderStockReserved)
	if err := requireID(m, "order_id", e.OrderID); err != nil {
		return "", err
	}
	first := true
	return decide(ctx, s.retry, func(ctx context.Context) (string, error) {
		acct, err := loadIn(ctx, m, s.accounts, e.CustomerID)
		if notFound(err) {
			return s.declineUnknownCustomer(ctx, m, e.CustomerID, e.OrderID)
		}
		if err != nil {
			return "", err
		}
		pay, err := s.paymentToCapture(ctx, m, e.OrderID, first)
		first = false
		if err != nil {
			return "", err
		}
		if err := pay.Capture(acct, e.Total.AmountCents); err != nil {
			return "", permanent(err)
		}
		return s.save(ctx, m, acct, pay)
	})
}

// paymentToCapture returns the order's payment for a capture. The first attempt assumes,
// without reading, that the order has none yet: a capture request is nearly always the
// order's first payment fact, and the read was a round trip per order. When it is not (a
// redelivery after the inbox row was pruned, a cancellation that came first), appending
// the new stream at version 0 conflicts with the stream that exists, and the next attempt
// (decide retries conflicts) reads it.
func (s *paymentsSaga) paymentToCapture(ctx context.Context, m message, orderID string, first bool) (*payment.OrderPayment, error) {
	if _, inBatch := pendingCopy(m, s.payments, orderID); first && !inBatch {
		return payment.LoadOrderPayment(orderID, nil)
	}
	return loadIn(ctx, m, s.payments, orderID)
}

// refund compensates a cancelled or timed-out order. A customer without an account was
// never charged: only the inbox entry is written.
func (s *paymentsSaga) refund(ctx context.Context, m message, customerID, orderID string) (string, error) {
	if err := requireID(m, "order_id", orderID); err != nil {
		return "", err
	}
	return decide(ctx, s.retry, func(ctx context.Context) (string, error) {
		acct, err := loadIn(ctx, m, s.accounts, customerID)
		if notFound(err) {
			return s.w.write(ctx, m)
		}
		if err != nil {
			return "", err
		}
		pay, err := loadIn(ctx, m, s.payments, orderID)
		if err != nil {
			return "", err
		}
		if err := pay.Refund(acct); err != nil {
			return "", permanent(err)
		}
		return s.save(ctx, m, acct, pay)
	})
}

// declineUnknownCustomer declines an order whose customer has no account, in the order's
// payment stream (payment.OrderPayment.DeclineUnknownCustomer), unless it was handled
// already there or, for orders declined before payment streams held declines, in the
// order's decline stream (DeclineStreamType), which is only read now.
func (s *paymentsSaga) declineUnknownCustomer(ctx context.Context, m message, customerID, orderID string) (string, error) {
	legacy, err := s.store.Load(ctx, command.StreamID(DeclineStreamType, orderID), 0)
	if err != nil {
		return "", err
	}
	if len(legacy) > 0 {
		return s.w.write(ctx, m)
	}
	pay, err := loadIn(ctx, m, s.payments, orderID)
	if err != nil {
		return "", err
	}
	if err := pay.DeclineUnknownCustomer(customerID); err != nil {
		return "", permanent(err)
	}
	app, err := s.payments.Append(pay, m.meta)
	if err != nil {
		return "", err
	}
	outcome, err := s.w.write(ctx, m, app)
	if err == nil && outcome != OutcomeDuplicate {
		keep(m, s.payments, pay)
	}
	return outcome, err
}

// save writes the changes of the account and of the order's payment with the inbox entry,
// then gives both back to their repositories (see command.Repository.Committed) unless
// nothing was written.
func (s *paymentsSaga) save(ctx context.Context, m message, acct *payment.Account, pay *payment.OrderPayment) (string, error) {
	app, err := s.accounts.Append(acct, m.meta)
	if err != nil {
		return "", err
	}
	payApp, err := s.payments.Append(pay, m.meta)
	if err != nil {
		return "", err
	}
	outcome, err := s.w.write(ctx, m, app, payApp)
	if err == nil && outcome != OutcomeDuplicate {
		keep(m, s.accounts, acct)
		keep(m, s.payments, pay)
	}
	return outcome, err
}
