// Package payment is the payments bounded context's domain: one Account
// aggregate per customer (stream id = customer id) holding the customer's
// profile, balance and the payments of their orders.
//
// # Rules
//
// The balance never goes negative and money is conserved: deposits add to
// it, captures move money out for an order, refunds move exactly the
// captured amount back. Each order is charged at most once and refunded at
// most once:
//
//   - [Account.Capture] (saga reaction to inventory's OrderStockReserved)
//     records [PaymentCaptured], or [PaymentDeclined] with
//     insufficient_funds. Once the account has handled the order (captured,
//     declined or refunded) it records nothing.
//   - [Account.Refund] (saga reaction to every OrderCancelled and to
//     OrderRejected with reason timeout) records [PaymentRefunded] for a
//     captured payment. If the order was never charged it records
//     [PaymentDeclined] with order_closed instead, so that a capture request
//     still in flight (the two messages come from different topics and may be
//     reordered) is ignored when it arrives. Refunded or declined orders: no-op.
//
// Together these guarantee the compensation the order saga needs without any
// cross-context command: a cancelled or timed-out order ends either
// never charged or charged and refunded.
//
// A customer with no account cannot record anything; for that case the saga
// publishes the event made by [DeclineUnknownCustomer] (see its
// documentation). The orders context ignores PaymentDeclined with reason
// order_closed, since its order is already final.
//
// Accounts hold a single currency implicitly: amounts are minor units of the
// shop's currency (inventory rejects orders mixing currencies).
package payment
